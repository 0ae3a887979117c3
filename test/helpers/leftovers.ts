// What a run could leave behind on this machine, looked for directly (not through the toolkit's own sweep).
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'

import {STRESSOR_PROCESS} from '../../src/stressors/kinds.js'

export function leftovers(runId?: string): string[] {
  const found: string[] = []
  const mine = (name: string) => name.startsWith('chaos-') && !name.startsWith('chaos-test') && (runId === undefined || name.includes(runId))
  // every hierarchy, not only the toolkit's controllers: runc creates a Docker CgroupParent in devices, freezer,
  // name=systemd and the hybrid unified tree too
  for (const hierarchy of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const dir = `/sys/fs/cgroup/${hierarchy}`
    if (!existsSync(`${dir}/cgroup.procs`)) continue
    for (const entry of readdirSync(dir)) if (mine(entry)) found.push(`cgroup ${dir}/${entry}`)
  }
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [source, target] = line.split(' ')
    if (source && mine(source)) found.push(`mount ${target}`)
  }
  const netns = execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})
  for (const line of netns.split('\n')) if (mine(line.split(' ')[0] ?? '')) found.push(`netns ${line}`)
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
    } catch {
      continue
    }
    if (STRESSOR_PROCESS.test(cmdline) && (runId === undefined || cmdline.includes(runId))) found.push(`process ${pid} ${cmdline.slice(0, 80)}`)
  }
  return found
}

export async function waitForNoLeftovers(runId: string | undefined, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  let left = leftovers(runId)
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    left = leftovers(runId)
  }
  return left
}
