// platform host refuses, before anything starts, each way a host can fail to be reached or used: nothing listening
// (unreachable), a host key known_hosts does not hold (unknown) or holds another one for (changed), a client key the
// host refuses, no toolkit installed there, and an identityFile that does not exist. Each through the CLI
// (bin/run.js, from dist/), as a real run and as --dry-run: the exit code, a message that says which failure it was,
// and nothing started, watched while the CLI ran and looked for after: no process running the experiment's
// workloads, no agent, no cgroup chaos-<8 hex> (v1's memory hierarchy, or v2's root), nothing answering on the
// workloads' ports, no ledger. A dry run on a good host prints the plan with the host's line and starts nothing,
// and its agent is gone when the CLI is.
//
// Against one real OpenSSH server on loopback (test/helpers/sshd.ts) for every case; the "host" is this machine.
import {execFile, execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {hostRunId} from '../../src/platforms/host/index.js'
import {freePort} from '../helpers/prometheus-server.js'
import {generateKey, knownHostsLine, startSshd, type SshHost} from '../helpers/sshd.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
/** where a run's boxes would be: v1's memory hierarchy, v2's root */
const CGROUP_ROOTS = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].filter((d) => existsSync(`${d}/cgroup.procs`))
const RUN_CGROUP = /^chaos-[0-9a-f]{8}$/

let sshd: SshHost
let dir: string
/** a client key sshd was never told of */
let strangerKey: string
/** known_hosts files: the host's key under another port only; an impostor's key for the host */
let knownOtherPort: string
let knownImpostor: string
/** a loopback port nothing listens on, and known_hosts with the host's key for it (so that it gets as far as connecting) */
let deadPort: number
let knownDeadPort: string
/** a symlink to this package directory: the toolkit "installed" on the host */
let toolkit: string

interface HostFields {
  user?: string
  address?: string
  port?: number
  identityFile?: string
  knownHosts?: string
  toolkit?: string
}

/** A small host experiment: worker and api, both `chaos workload` on ports of their own, on host app. */
function experimentFile(name: string, host: HostFields, ports: {worker: number, api: number}, fault = '{type: memory-leak, rate: 16Mi/s, limit: 64Mi}'): string {
  const fields = {
    address: host.address ?? sshd.address,
    port: host.port ?? sshd.port,
    user: host.user ?? 'root',
    identityFile: host.identityFile ?? sshd.identityFile,
    knownHosts: host.knownHosts ?? sshd.knownHosts,
    connectTimeout: '5s',
    // the node running these tests: sshd's session PATH may not have the same one
    node: process.execPath,
    // this toolkit, through a symlink of this file's own: its agents' command lines name it
    toolkit: host.toolkit ?? toolkit,
  }
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, `apiVersion: chaos/v1
kind: Experiment
metadata: {name: host-refusal-${name}}
platform: host
hosts:
  app: ${JSON.stringify(fields)}
target:
  name: worker
  run: [chaos, workload, --port, "${ports.worker}"]
  isolation: {level: cgroup, memory: 128Mi}
neighbors:
  - name: api
    run: [chaos, workload, --port, "${ports.api}"]
    isolation: {level: cgroup, memory: 128Mi}
    probe: {http: {url: "http://127.0.0.1:${ports.api}/work", rate: 20}}
fault: ${fault}
phases: {baseline: 3s, inject: 3s, recover: 0s, warmup: 0s}
hypothesis: [{signal: error_rate, max: 1%}]
`)
  return file
}

// ---- what a run could start, looked for directly ----------------------------------------------------------------
// Other test sessions may run host experiments on this machine at the same time (their own sshd, agents, runs), so
// what is looked for is told apart as this file's: its agents run the toolkit through a symlink in this file's temp
// directory, its workloads listen on ports picked for them, and a new run cgroup is this file's unless it ever held a
// process that is not (one neither started by the CLI under test, nor by this file's sshd, nor naming the temp dir).

interface Proc {
  ppid: string
  cmdline: string
}

function processes(): Map<string, Proc> {
  const found = new Map<string, Proc>()
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
      found.set(pid, {ppid: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1], cmdline})
    } catch { /* gone */ }
  }
  return found
}

/** Whether the process is one of these roots or descends from one. */
function descends(pid: string, roots: Set<string>, procs: Map<string, Proc>): boolean {
  for (let at: string | undefined = pid, hops = 0; at !== undefined && at !== '0' && hops < 64; at = procs.get(at)?.ppid, hops++) {
    if (roots.has(at)) return true
  }
  return false
}

/** This file's agent: `NODE TEMPDIR/toolkit/dist/platforms/host/agent-main.js` (not the shell that checks for that file). */
function isAgent(cmdline: string): boolean {
  return /^\S+ \S+\/dist\/platforms\/host\/agent-main\.js$/.test(cmdline) && cmdline.includes(`${dir}/`)
}

/** The run cgroups (chaos-<8 hex>) that exist now, each with the pids anywhere in its subtree. */
function runCgroups(): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const pidsUnder = (path: string): string[] => {
    let pids: string[] = []
    try {
      pids = readFileSync(`${path}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)
      for (const entry of readdirSync(path, {withFileTypes: true})) if (entry.isDirectory()) pids.push(...pidsUnder(`${path}/${entry.name}`))
    } catch { /* removed meanwhile */ }
    return pids
  }
  for (const root of CGROUP_ROOTS) {
    for (const entry of readdirSync(root)) if (RUN_CGROUP.test(entry)) found.set(`${root}/${entry}`, pidsUnder(`${root}/${entry}`))
  }
  return found
}

/** Whether anything accepts a TCP connection on 127.0.0.1:port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host: '127.0.0.1', port})
    const done = (yes: boolean) => {
      socket.destroy()
      resolve(yes)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

interface Watched {
  code: number
  stdout: string
  stderr: string
  /** what appeared while the CLI ran (or is there right after): workloads, run cgroups, listeners (not agents) */
  started: string[]
  /** the agents seen while the CLI ran */
  agents: string[]
  /** whether the CLI's state directory ever held a ledger */
  ledger: boolean
}

/** Runs the CLI, looking every 100 ms at what exists, and keeps whatever a run would have started that is new. */
async function watched(args: string[], ports: number[]): Promise<Watched> {
  const stateDir = mkdtempSync(join(dir, 'state-'))
  const beforeCgroups = new Set(runCgroups().keys())
  const started = new Set<string>()
  const agents = new Set<string>()
  /** new run cgroups, and whether one ever held a process not this file's */
  const cgroups = new Map<string, boolean>()
  let ledger = false
  const roots = new Set([String(sshd.pid)])
  const look = async () => {
    const procs = processes()
    const mine = (pid: string) => descends(pid, roots, procs) || (procs.get(pid)?.cmdline.includes(dir) ?? false)
    for (const [pid, {cmdline}] of procs) {
      if (isAgent(cmdline)) agents.add(`process ${pid} ${cmdline}`)
      else if (ports.some((p) => cmdline.includes(`workload --port ${p}`))) started.add(`process ${pid} ${cmdline}`)
    }
    for (const [cgroup, pids] of runCgroups()) {
      if (beforeCgroups.has(cgroup)) continue
      // a pid that is gone by now proves nothing either way
      const foreign = pids.some((pid) => procs.has(pid) && !mine(pid))
      cgroups.set(cgroup, (cgroups.get(cgroup) ?? false) || foreign)
    }
    for (const port of ports) if (await answers(port)) started.add(`listener on ${port}`)
    if (existsSync(join(stateDir, 'runs'))) ledger = true
  }
  let looking = true
  const watcher = (async () => {
    while (looking) {
      await look()
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  const result = await new Promise<{code: number, stdout: string, stderr: string}>((resolve) => {
    const child = execFile(process.execPath, [BIN, 'run', ...args], {cwd: ROOT, timeout: 60_000, env: {...process.env, NO_COLOR: '1', CHAOS_STATE_DIR: stateDir}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
    roots.add(String(child.pid))
  })
  looking = false
  await watcher
  await look()
  for (const [cgroup, foreign] of cgroups) if (!foreign) started.add(`cgroup ${cgroup}`)
  return {...result, started: [...started], agents: [...agents], ledger}
}

/** This file's agents alive now, waiting up to timeoutMs for them to go. */
async function agentsLeft(timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = [...processes()].filter(([, {cmdline}]) => isAgent(cmdline)).map(([pid, {cmdline}]) => `${pid} ${cmdline}`)
    if (left.length === 0 || Date.now() > deadline) return left
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function twoPorts(): Promise<{worker: number, api: number}> {
  const worker = await freePort()
  let api = await freePort()
  while (api === worker) api = await freePort()
  return {worker, api}
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-test-host-refusals-'))
  sshd = await startSshd()
  toolkit = join(dir, 'toolkit')
  symlinkSync(ROOT, toolkit)
  strangerKey = join(dir, 'id_stranger')
  await generateKey(strangerKey)
  // the host's public key, from the harness's known_hosts line ([address]:port type key)
  const hostPub = readFileSync(sshd.knownHosts, 'utf8').trim().split(/\s+/).slice(1).join(' ')
  knownOtherPort = join(dir, 'known_hosts_other_port')
  // the right key, but for another port of the same address, and for the bare address (port 22)
  writeFileSync(knownOtherPort, knownHostsLine(sshd.address, sshd.port + 1, hostPub) + knownHostsLine(sshd.address, 22, hostPub))
  const impostor = join(dir, 'host_impostor')
  await generateKey(impostor)
  knownImpostor = join(dir, 'known_hosts_impostor')
  writeFileSync(knownImpostor, knownHostsLine(sshd.address, sshd.port, readFileSync(`${impostor}.pub`, 'utf8')))
  deadPort = await freePort()
  knownDeadPort = join(dir, 'known_hosts_dead_port')
  writeFileSync(knownDeadPort, knownHostsLine('127.0.0.1', deadPort, hostPub))
})

/** a user without privileges on the "host", made for this file when the machine has none (and removed after) */
const UNPRIVILEGED = 'chaos-nopriv'
let madeUser = false

beforeAll(() => {
  if (spawnSync('id', [UNPRIVILEGED]).status !== 0) {
    // password '*': no password login, yet not a locked account, which sshd would refuse a key for too
    execFileSync('useradd', ['--no-create-home', '--home-dir', '/', '--shell', '/bin/sh', '--system', '--password', '*', UNPRIVILEGED])
    madeUser = true
  }
  // sshd reads the authorized keys as the user logging in; the agent reads the toolkit through this file's symlink
  chmodSync(sshd.dir, 0o755)
  chmodSync(join(sshd.dir, 'authorized_keys'), 0o644)
  chmodSync(dir, 0o755)
})

afterAll(async () => {
  if (madeUser) execFileSync('userdel', [UNPRIVILEGED])
  await sshd?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

interface Refusal {
  name: string
  host: () => HostFields
  code: number
  message: () => RegExp
  /** the refusal is the agent's, from the host itself (its cgroups): the agent ran to plan, and is gone once the CLI is */
  byAgent?: true
  /** the experiment's fault, when not the default leak */
  fault?: string
}

const REFUSALS: Refusal[] = [
  {name: 'unreachable', host: () => ({address: '127.0.0.1', port: deadPort, knownHosts: knownDeadPort}), code: 4,
    message: () => new RegExp(`host app \\(root@127\\.0\\.0\\.1:${deadPort}\\): unreachable \\(ECONNREFUSED\\)`)},
  {name: 'unknown-host-key', host: () => ({knownHosts: knownOtherPort}), code: 4,
    message: () => new RegExp(`host app \\(root@${sshd.address}:${sshd.port}\\): its host key is not in ${knownOtherPort}.*ssh-keyscan -p ${sshd.port} ${sshd.address}`)},
  {name: 'changed-host-key', host: () => ({knownHosts: knownImpostor}), code: 4,
    message: () => new RegExp(`host app \\(root@${sshd.address}:${sshd.port}\\): its host key is NOT the one ${knownImpostor} holds for it`)},
  {name: 'login-refused', host: () => ({identityFile: strangerKey}), code: 4,
    message: () => new RegExp(`host app \\(root@${sshd.address}:${sshd.port}\\): the host refused the login as root with ${strangerKey}`)},
  {name: 'no-toolkit', host: () => ({toolkit: '/nonexistent'}), code: 4,
    message: () => /host app \(root@[\d.]+:\d+\): the toolkit is not installed at \/nonexistent there \(dist\/platforms\/host\/agent-main\.js is missing\).*hosts\.app\.toolkit/},
  {name: 'not-privileged', host: () => ({user: UNPRIVILEGED}), code: 4, byAgent: true,
    message: () => new RegExp(`host app \\(${UNPRIVILEGED}@[\\d.]+:\\d+\\): no cgroup boundary can be made: .* is not writable by this user`)},
  {name: 'no-identity-file', host: () => ({identityFile: join(dir, 'no-such-key')}), code: 2,
    message: () => new RegExp(`host app \\(root@[\\d.]+:\\d+\\): cannot read identityFile ${dir}/no-such-key \\(ENOENT\\)`)},
  // an io-saturation's path is the host's: checked there, against safety.allowPaths as the host resolves them
  {name: 'io-path-not-allowed', host: () => ({}), code: 2, byAgent: true, fault: '{type: io-saturation, path: /var/tmp, size: 8Mi, blockSize: 1Mi, depth: 1}',
    message: () => /host app \(root@[\d.]+:\d+\): io-saturation path \/var\/tmp \(\/var\/tmp\) is not under safety\.allowPaths \(empty\)/},
]

describe('platform host refuses a host it cannot reach or use, and starts nothing', () => {
  for (const r of REFUSALS) {
    it(`${r.name}: exit ${r.code}, says so, by a run and by --dry-run; no workload, agent, cgroup, listener or ledger`, async () => {
      const ports = await twoPorts()
      const file = experimentFile(r.name, r.host(), ports, r.fault)
      for (const args of [[file], [file, '--dry-run']]) {
        const result = await watched(args, [ports.worker, ports.api])
        const what = `run ${args.join(' ')}\n${result.stdout}${result.stderr}`
        expect(result.code, what).toBe(r.code)
        expect(result.stderr, what).toMatch(/refused: /)
        expect(result.stderr, what).toMatch(r.message())
        // refused in the plan: no plan was printed, no run was started
        expect(result.stdout, what).not.toMatch(/^run [0-9a-f]{8}:/m)
        expect(result.stdout, what).not.toMatch(/nothing was started/)
        expect(result.started, `${what}\nstarted: ${result.started.join('\n')}`).toEqual([])
        if (r.byAgent) expect(await agentsLeft(0), `${what}: the agent outlived the CLI`).toEqual([])
        else expect(result.agents, what).toEqual([])
        expect(result.ledger, `${what}: a ledger was written, so the run went past its plan`).toBe(false)
        expect(await answers(ports.worker)).toBe(false)
        expect(await answers(ports.api)).toBe(false)
      }
    })
  }
})

describe('--dry-run on a good host', () => {
  it('prints the plan with the host\'s line, exit 0, starts nothing, and its agent is gone afterwards', async () => {
    const ports = await twoPorts()
    const file = experimentFile('dry-run', {}, ports)
    const result = await watched([file, '--dry-run'], [ports.worker, ports.api])
    const what = `${result.stdout}${result.stderr}`
    expect(result.code, what).toBe(0)
    const runId = /^run ([0-9a-f]{8}): host-refusal-dry-run$/m.exec(result.stdout)?.[1]
    expect(runId, what).toBeDefined()
    const hostLine = new RegExp(`^host app \\(root@${sshd.address.replace(/\./g, '\\.')}:${sshd.port}\\): \\d+ CPUs, clock [+−]\\d+ ms from this machine's; run ([0-9a-f]{8}) there; it runs this machine's kernel$`, 'm').exec(result.stdout)
    expect(hostLine, what).not.toBeNull()
    // the host's run id is its own, not this machine's: hostRunId(runId, 0)
    expect(hostLine![1]).toBe(hostRunId(runId!, 0))
    expect(hostLine![1]).not.toBe(runId)
    // the agent's plan of the workflows there, indented under the host's line
    expect(result.stdout, what).toMatch(new RegExp(`^ {2}.*worker.*chaos-${hostLine![1]}/worker`, 'm'))
    // the "host" is this machine: the plan says the toolkit's probe gets a box of its own here, and where
    expect(result.stdout, what).toMatch(new RegExp(`^this machine \\(host app runs its kernel\\): the toolkit's probe runs in a box of its own with a high CPU weight.*, chaos-${runId}/toolkit$`, 'm'))
    expect(result.stdout, what).toMatch(/^nothing was started \(dry run\)$/m)
    expect(result.stderr, what).not.toMatch(/refused|error/)
    // the agent ran (it planned) but made nothing: no workload, no cgroup, no listener, no ledger here
    expect(result.started, what).toEqual([])
    expect(result.ledger).toBe(false)
    // the agent did run, through this file's toolkit symlink (which also shows the watcher sees what this sshd starts)
    expect(result.agents, what).not.toEqual([])
    // and it ends with its channel: none is left once the CLI has exited
    expect(await agentsLeft(5000)).toEqual([])
    expect(await answers(ports.worker)).toBe(false)
    expect(await answers(ports.api)).toBe(false)
  })
})
