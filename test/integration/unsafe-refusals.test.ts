// Unsafe experiments are refused in the plan, before anything starts: floods to destinations outside
// safety.allowHosts, fills outside safety.allowPaths, doses and durations above their caps, and targets that are the
// machine itself (PID 1, the root cgroup, the toolkit's own pid and cgroup, a system service's cgroup). Each is
// refused with exit 2 by `chaos run --dry-run` and by `chaos run` (through bin/run.js), and through the plan function
// (runExperiment with dryRun) in this process; and nothing was created: no process, cgroup, network namespace or
// mount, watched while the CLI ran and compared before and after, and no ledger in the run's own state directory
// (the ledger is written before anything is created).
//
// Made so that a regression cannot do harm: a real `chaos run` is only ever started inside a network namespace this
// test creates with `unshare --net`, which holds nothing but a loopback that is down, so a flood that got past its
// refusal could not send a packet anywhere; fills outside allowPaths are only ever tried as --dry-run or through the
// plan function (which returns before setup), never by a real run; the workloads are `sleep`, and the system
// targets' dose is an 8Mi leak.
import {execFile, execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {PlanError} from '../../src/platforms/platform.js'
import {cgroupOfProcess, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {runExperiment} from '../../src/run/runner.js'
import {fromYaml} from '../helpers/experiments.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const dir = mkdtempSync(join(tmpdir(), 'chaos-unsafe-'))
/** the workloads' command line, unique to this file: a process running it was started by one of these runs */
const SLEEP = `${86_400 + (process.pid % 10_000)}.25`
const SMALL_LEAK = '{type: memory-leak, rate: 1Mi/s, limit: 8Mi}'

interface Unsafe {
  name: string
  /** the target's workflow keys (default: a managed `sleep` in a box of its own) */
  target?: string
  fault: string
  safety?: string
  volumes?: string
  phases?: string
  refusal: RegExp
  /** a fill outside allowPaths: never given to a real run (see the top) */
  planOnly?: boolean
}

const managed = `run: [sleep, "${SLEEP}"], isolation: {level: cgroup, memory: 64Mi}`
const layout = detectCgroupLayout()
/** this process's cgroup (the memory hierarchy's on v1): the toolkit's own when it plans in this process, and the CLI's, which inherits it */
const ownCgroup = `/${cgroupOfProcess(process.pid, layout)?.relativePath ?? ''}`

const UNSAFE: Unsafe[] = [
  // floods outside safety.allowHosts
  {name: 'flood-private', fault: '{type: network-flood, destination: {host: 10.1.2.3, port: 5201}}', refusal: /destination 10\.1\.2\.3 is not allowed: .*safety\.allowHosts/},
  {name: 'flood-public-dns', fault: '{type: network-flood, destination: {host: 8.8.8.8, port: 53}, protocol: udp}', refusal: /destination 8\.8\.8\.8 is not allowed/},
  {name: 'flood-lan', fault: '{type: network-flood, destination: {host: 192.168.1.1, port: 80}}', refusal: /destination 192\.168\.1\.1 is not allowed/},
  {name: 'flood-ipv6', fault: '{type: network-flood, destination: {host: "2001:4860:4860::8888", port: 443}}', refusal: /destination 2001:4860:4860::8888 is not allowed/},
  {name: 'flood-hostname', fault: '{type: network-flood, destination: {host: example.com, port: 80}}', refusal: /destination example\.com is not allowed: .*literal IPs or CIDRs/},
  {name: 'flood-near-cidr', fault: '{type: network-flood, destination: {host: 10.1.2.3, port: 5201}}', safety: 'allowHosts: [10.9.0.0/16, 10.1.2.4]', refusal: /destination 10\.1\.2\.3 is not allowed/},
  // fills outside safety.allowPaths
  {name: 'fill-root', fault: '{type: disk-fill, path: /, size: 1Mi}', refusal: /disk-fill path \/ \(\/\) is not under safety\.allowPaths \(empty\)/, planOnly: true},
  {name: 'fill-etc', fault: '{type: disk-fill, path: /etc, size: 1Mi}', safety: 'allowPaths: [/tmp]', refusal: /disk-fill path \/etc \(\/etc\) is not under safety\.allowPaths \(\/tmp\)/, planOnly: true},
  {name: 'fill-escape', fault: '{type: disk-fill, path: /tmp/../etc, size: 1Mi}', safety: 'allowPaths: [/tmp]', refusal: /disk-fill path \/tmp\/\.\.\/etc \(\/etc\) is not under safety\.allowPaths/, planOnly: true},
  {name: 'fill-var-tmp', fault: '{type: disk-fill, path: /var/tmp, size: 1Mi}', safety: 'allowPaths: [/tmp]', refusal: /disk-fill path \/var\/tmp .*is not under safety\.allowPaths/, planOnly: true},
  // caps
  {name: 'leak-100gi', fault: '{type: memory-leak, rate: 64Mi/s, limit: 100Gi}', refusal: /fault\.limit 100Gi is above safety\.maxMemory \(8\.0Gi\)/},
  {name: 'leak-above-own-cap', fault: '{type: memory-leak, rate: 64Mi/s, limit: 2Gi}', safety: 'maxMemory: 1Gi', refusal: /fault\.limit 2\.0Gi is above safety\.maxMemory \(1\.0Gi\)/},
  {name: 'fill-above-max-disk', volumes: 'volumes: {scratch: {size: 4Mi}}', fault: '{type: disk-fill, volume: scratch, size: 100%}', safety: 'maxDisk: 1Mi', refusal: /disk-fill of 4\.0Mi is above safety\.maxDisk \(1\.0Mi\)/},
  {name: 'too-long', fault: SMALL_LEAK, phases: '{inject: 20m, warmup: 0s}\nverdict: {budget: 20m}', refusal: /the phases add up to 2400s, above safety\.maxDuration \(1800s\)/},
  // the machine itself
  {name: 'pid-1', target: 'pid: 1', fault: SMALL_LEAK, refusal: /target worker is PID 1, the machine's init\. .*safety\.allowSystem: true/},
  {name: 'root-cgroup', target: 'cgroup: /', fault: SMALL_LEAK, refusal: /target worker is the root cgroup: .*safety\.allowSystem: true/},
  {name: 'root-cgroup-v1-path', target: `cgroup: ${layout.version === 1 ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup'}`, fault: SMALL_LEAK, refusal: /target worker is the root cgroup: .*safety\.allowSystem/},
  {name: 'system-slice', target: 'cgroup: /system.slice', fault: SMALL_LEAK, refusal: /target worker is the cgroup system\.slice of the machine's own services .*safety\.allowSystem/},
  {name: 'init-scope-v1', target: 'cgroup: /sys/fs/cgroup/memory/init.scope', fault: SMALL_LEAK, refusal: /target worker is the cgroup init\.scope of the machine's own services .*safety\.allowSystem/},
  {name: 'user-slice', target: 'cgroup: /user.slice/user-1000.slice', fault: SMALL_LEAK, refusal: /target worker is the cgroup user\.slice of the machine's own services .*safety\.allowSystem/},
  // this process: the toolkit itself when planned here, the toolkit's parent when run through the CLI
  {name: 'toolkit-pid', target: `pid: ${process.pid}`, fault: SMALL_LEAK, refusal: new RegExp(`target worker is pid ${process.pid}, (the toolkit itself|a process that started the toolkit).*safety\\.allowSystem`)},
  {name: 'toolkit-cgroup', target: `cgroup: "${ownCgroup}"`, fault: SMALL_LEAK, refusal: ownCgroup === '/' ? /the root cgroup/ : /the toolkit's own cgroup .*safety\.allowSystem/},
  {name: 'another-runs-box', target: 'cgroup: /chaos-0badf00d/worker', fault: SMALL_LEAK, refusal: /the cgroup chaos-0badf00d, a box the toolkit made for one of its runs.*safety\.allowSystem/},
]

function experimentText(u: Unsafe): string {
  return `apiVersion: chaos/v1
kind: Experiment
metadata: {name: unsafe-${u.name}}
platform: process
${u.volumes ?? ''}
target: {name: worker, ${u.target ?? managed}}
neighbors: [{name: api, run: [sleep, "${SLEEP}"], isolation: {level: cgroup, memory: 64Mi}}]
fault: ${u.fault}
phases: ${u.phases ?? '{baseline: 3s, inject: 3s, recover: 0s, warmup: 0s}'}
hypothesis: [{signal: error_rate, max: 1%}]
${u.safety ? `safety: {${u.safety}}` : ''}
`
}

// ---- what a run could create, looked for directly -------------------------------------------------------------

/** Every toolkit-named cgroup, network namespace and mount, every stressor, and every process running our workloads. */
function snapshot(): Set<string> {
  const found = new Set<string>()
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const at = `/sys/fs/cgroup/${hierarchy}`
    if (!existsSync(`${at}/cgroup.procs`)) continue
    for (const entry of readdirSync(at)) if (entry.startsWith('chaos')) found.add(`cgroup ${at}/${entry}`)
  }
  // what `ip netns list` lists, read directly (this runs every 250 ms)
  for (const name of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (name.startsWith('chaos')) found.add(`netns ${name}`)
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [source, target] = line.split(' ')
    if (source?.startsWith('chaos') || target?.includes('/chaos')) found.add(`mount ${source} ${target}`)
  }
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
    } catch {
      continue
    }
    if (cmdline.includes(SLEEP) || /chaos-stressor|stressors\/main\.js/.test(cmdline)) found.add(`process ${pid} ${cmdline.slice(0, 100)}`)
  }
  return found
}

interface Watched {
  code: number
  stdout: string
  stderr: string
  /** what appeared while the command ran or after and is the command's own */
  created: string[]
  /** whether the run's state directory ever held a ledger */
  ledger: boolean
}

function parentOf(pid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]
  } catch {
    return undefined
  }
}

/**
 * Runs the CLI, looking every 250 ms (a run past its plan lives for seconds: its phases are 3 s each) at what exists, and keeps what is new and the command's own. Other helpers'
 * and tests' runs share this machine, so "own" is: a process running our workloads or started by the command, or
 * anything carrying the id of the command's run (every name a run creates does: chaos-RUNID..., --run RUNID), learnt
 * from its output or its ledger.
 */
async function watched(argv: string[], stateDir: string): Promise<Watched> {
  const before = snapshot()
  const seen = new Map<string, string | undefined>()
  let ledger = false
  const ledgerIds = new Set<string>()
  let child: number | undefined
  const look = () => {
    for (const entry of snapshot()) {
      if (before.has(entry) || seen.has(entry)) continue
      seen.set(entry, entry.startsWith('process') ? parentOf(entry.split(' ')[1]) : undefined)
    }
    const runs = join(stateDir, 'runs')
    if (existsSync(runs)) {
      ledger = true
      for (const file of readdirSync(runs)) ledgerIds.add(file.replace(/\.json$/, ''))
    }
  }
  const timer = setInterval(look, 250)
  const result = await new Promise<{code: number, stdout: string, stderr: string}>((resolve) => {
    child = execFile(argv[0], argv.slice(1), {cwd: ROOT, timeout: 60_000, env: {...process.env, NO_COLOR: '1', CHAOS_STATE_DIR: stateDir}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    }).pid
  })
  clearInterval(timer)
  look()
  const ids = new Set([...ledgerIds, ...[...`${result.stdout}${result.stderr}`.matchAll(/\brun ([0-9a-f]{8})\b/g)].map((m) => m[1])])
  const created = [...seen].filter(([entry, parent]) => entry.includes(SLEEP) || parent === String(child) || [...ids].some((id) => entry.includes(id)))
    .map(([entry]) => entry)
  return {...result, created, ledger}
}

let netnsOnlyLoopback = ''

beforeAll(() => {
  for (const u of UNSAFE) writeFileSync(join(dir, `${u.name}.yaml`), experimentText(u))
  // what a real run below sees of the network: a namespace of its own, nothing in it but a loopback that is down
  netnsOnlyLoopback = execFileSync('unshare', ['--net', 'ip', '-o', 'link', 'show'], {encoding: 'utf8'})
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('unsafe experiments are refused in the plan, and nothing is created', () => {
  it('holds at least 15 unsafe experiments of every kind the guardrails cover', () => {
    expect(UNSAFE.length).toBeGreaterThanOrEqual(15)
    const kinds = new Set(UNSAFE.map((u) => u.name.split('-')[0]))
    expect([...kinds]).toEqual(expect.arrayContaining(['flood', 'fill', 'leak', 'too', 'pid', 'root', 'system', 'toolkit']))
    // the real runs' network: one link, lo, and it is down
    const links = netnsOnlyLoopback.trim().split('\n')
    expect(links).toHaveLength(1)
    expect(links[0]).toMatch(/^1: lo: <LOOPBACK>/)
  })

  for (const u of UNSAFE) {
    it(`${u.name}: refused by the plan, by --dry-run${u.planOnly ? '' : ' and by a real run (inside an empty network namespace)'}, exit 2, nothing created`, async () => {
      const file = join(dir, `${u.name}.yaml`)

      // the plan function alone, in this process: it refuses before the dry run's return
      const planned = await runExperiment({experiment: fromYaml(readFileSync(file, 'utf8'), file), dryRun: true}).then(() => undefined, (error: unknown) => error)
      expect(planned).toBeInstanceOf(PlanError)
      expect((planned as PlanError).exitCode).toBe(2)
      expect((planned as PlanError).message).toMatch(u.refusal)

      const runs = [[process.execPath, BIN, 'run', file, '--dry-run']]
      if (!u.planOnly) runs.push(['unshare', '--net', process.execPath, BIN, 'run', file])
      for (const argv of runs) {
        const stateDir = mkdtempSync(join(dir, 'state-'))
        const result = await watched(argv, stateDir)
        const what = `${argv.slice(2).join(' ')}\n${result.stdout}${result.stderr}`
        expect(result.code, what).toBe(2)
        expect(result.stderr, what).toMatch(/refused: /)
        expect(result.stderr, what).toMatch(u.refusal)
        // refused in the plan, not after a setup: the post-setup refusal says it needed the running target
        expect(result.stderr, what).not.toMatch(/exists only once setup has made it/)
        expect(result.stdout, what).not.toMatch(/^run [0-9a-f]{8}:/m)
        expect(result.created, `${what}\ncreated: ${result.created.join('\n')}`).toEqual([])
        expect(result.ledger, `${what}: a ledger was written, so the run went past its plan`).toBe(false)
      }
    })
  }
})
