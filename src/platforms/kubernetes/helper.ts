// What runs inside the cluster: `chaos k8s helper`, the command of the ephemeral container or of the helper pod.
// It starts one stressor as its own child (so the stressor's dead-man's switch watches the helper, and the helper
// dies at the deadline too), relays the stressor's JSON lines to stdout (the container log the toolkit follows),
// and exits with the stressor's fate (137 when it was SIGKILLed, e.g. by the OOM killer).
//
// In a helper pod it first finds the target container's cgroup on the node: the directory, in every hierarchy
// under the host's cgroup mount, whose name holds the container id (cgroupfs: .../pod<uid>/<id>; systemd:
// .../cri-containerd-<id>.scope). The stressor joins it before it allocates or burns anything, so the dose is
// charged to the target container's own limits; for a flood it also enters the network namespace of a process in
// that cgroup (nsenter, which needs hostPID), and a disk fill writes into the target container's own filesystem
// through /proc/PID/root of one of its processes.
//
// In an ephemeral container it needs no cgroup search: the pod's network namespace is its own already, and a fill's
// path is in a volume of the target's that the ephemeral container mounts at the same place. Without a container id,
// --target-root goes through PID 1 (in a container of its own, the helper itself).
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {detectCgroupLayout} from '../../host/cgroupfs.js'
import type {StressorKind, StressorParams} from '../../stressors/protocol.js'
import {spawnStressor} from '../../stressors/spawn.js'

export interface HelperOptions {
  runId: string
  kind: StressorKind
  params: StressorParams
  deadline: number
  /** containerd://ID, docker://ID or the bare id: join that container's cgroup (helper pod) */
  containerId?: string
  /** where the node's cgroup hierarchy is mounted in the helper */
  cgroupRoot?: string
  /** flood from inside the target's network namespace */
  joinNetns?: boolean
  /** a disk fill's params.dir is a path in the target container's filesystem, reached through /proc/PID/root */
  inTargetRoot?: boolean
}

/** The helper's view of the node's cgroups: the host's mount when given (/host/sys/fs/cgroup), else its own. */
export function defaultCgroupRoot(): string {
  return process.env.CHAOS_HOST_CGROUP ?? (existsSync('/host/sys/fs/cgroup') ? '/host/sys/fs/cgroup' : '/sys/fs/cgroup')
}

/** The directories of the container's cgroup, one per hierarchy (v1) or the one (v2). */
export function findContainerCgroup(containerId: string, root = defaultCgroupRoot()): string[] {
  const id = containerId.replace(/^[a-z-]+:\/\//, '')
  if (!/^[0-9a-f]{12,64}$/.test(id)) throw new Error(`not a container id: ${containerId}`)
  const layout = detectCgroupLayout(root)
  const hierarchies = layout.version === 2 ? [layout.root] : [...new Set(Object.values(layout.mounts))]
  const found: string[] = []
  for (const top of hierarchies) {
    const dir = search(top, id, 0)
    if (dir) found.push(dir)
  }
  if (found.length === 0) throw new Error(`no cgroup of container ${id} under ${root} (is the node's /sys/fs/cgroup mounted at ${root}?)`)
  return found
}

function search(dir: string, id: string, depth: number): string | undefined {
  if (depth > 7) return undefined
  let entries: string[]
  try {
    entries = readdirSync(dir, {withFileTypes: true}).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return undefined
  }
  for (const name of entries) if (name.includes(id)) return join(dir, name)
  for (const name of entries) {
    // containers live under kubepods (cgroupfs) or kubepods.slice (systemd); the rest of the tree is not searched
    if (depth === 0 && !name.startsWith('kubepods')) continue
    const hit = search(join(dir, name), id, depth + 1)
    if (hit) return hit
  }
  return undefined
}

/** A process of the container (for its network namespace). */
function processIn(dirs: string[]): number | undefined {
  for (const dir of dirs) {
    try {
      const pid = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').find(Boolean)
      if (pid) return Number(pid)
    } catch { /* next */ }
  }
  return undefined
}

const print = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`)

/** The directory a fill writes into, seen through the root of a process of the target container. */
export function targetRootPath(pid: number, dir: string, proc = '/proc'): string {
  if (!dir.startsWith('/') || dir.split('/').includes('..')) throw new Error(`not an absolute path without "..": ${dir}`)
  const path = join(proc, String(pid), 'root', dir)
  if (!existsSync(path)) throw new Error(`${dir} does not exist in the target container`)
  return path
}

export async function runHelper(options: HelperOptions): Promise<number> {
  let cgroups: string[] = []
  let command: string[] | undefined
  let params = options.params
  let targetPid = 1
  if (options.containerId) {
    cgroups = findContainerCgroup(options.containerId, options.cgroupRoot)
    print({type: 'helper', joined: cgroups})
    if (options.joinNetns || options.inTargetRoot) {
      const pid = processIn(cgroups)
      if (pid === undefined) throw new Error('the target container has no process (for its network namespace or filesystem)')
      targetPid = pid
    }
    if (options.joinNetns) command = ['nsenter', '-t', String(targetPid), '-n', '--']
  }
  if (options.inTargetRoot && 'dir' in params) {
    params = {...params, dir: targetRootPath(targetPid, params.dir)}
    print({type: 'helper', fills: params.dir})
  }
  const handle = spawnStressor(
    {kind: options.kind, runId: options.runId, deadline: options.deadline, parent: process.pid, cgroups, params},
    // inside the pod's network namespace (joined here, or an ephemeral container's own): private destinations the
    // toolkit allowed (safety.allowHosts) may be flooded
    {command, env: command || process.env.CHAOS_IN_POD_NETNS === '1' ? {CHAOS_FLOOD_ALLOW_NETNS: '1'} : undefined},
  )
  handle.onMessage((message) => print(message))
  const stop = () => void handle.stop()
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  const exit = await handle.exited
  print({type: 'helper', exit})
  if (exit.signal === 'SIGKILL') return 137
  return exit.code ?? 1
}
