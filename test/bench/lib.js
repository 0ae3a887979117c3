// Shared by the benchmark rows: a tracker of everything the bench creates (cgroup boxes named chaos-bench-*,
// stressors, child processes, one temp dir) so that all of it is removed even when a row fails; process and
// cgroup readers; timing and min/median/max. Plain ESM over the built dist/ modules.
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Cgroup, detectCgroupLayout, V1_CONTROLLERS} from '../../dist/host/cgroupfs.js'
import {parseProcStatCpuSeconds} from '../../dist/metrics/resources.js'
import {listStressorProcesses, spawnStressor} from '../../dist/stressors/spawn.js'
import {RunLedger, processStartTime} from '../../dist/rollback/ledger.js'

export const MiB = 1024 * 1024
export const GiB = 1024 * MiB
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const now = () => performance.now()

/** A line's check: every run's ratio within `limit` of 1 (judged on the worst run). */
export const within = (limit) => (o) => {
  const worst = Math.max(Math.abs(o.min - 1), Math.abs(o.max - 1))
  return {met: worst <= limit, text: worst <= limit ? '' : `by ${((worst - limit) * 100).toFixed(2)} pp (worst run ${(worst * 100).toFixed(2)}% off)`}
}

/** A line's check: our median at least `share` of the peer's (named in the text). */
export const atLeastShareOf = (share, peer) => (o, p) => {
  if (!p) return {met: false, text: 'no peer to compare'}
  const got = o.median / p.median
  return {met: got >= share, text: got >= share ? '' : `by ${((share - got) * 100).toFixed(0)} pp (${(got * 100).toFixed(0)}% of ${peer})`}
}

/** The ports this bench may use (the machine's other users have theirs). */
/**
 * The id row 8's lines report under when run in a variant: under load ("8 loaded"), its part on the real runner
 * ("8 runner", "8 runner loaded") and that part rating one latency signal alone ("8 runner p99 loaded"); undefined
 * for the row itself. The row's lines and a failed row's line both take it from here.
 */
export function verdictRowId({runner = false, signal, loaded = false}) {
  const variant = [runner && 'runner', runner && signal?.replace(/^latency_/, ''), loaded && 'loaded'].filter(Boolean)
  return variant.length ? `8 ${variant.join(' ')}` : undefined
}

export const PORTS = {sink: 19700, iperf: 19701, drain: 19702, watchServer: 19710, scaleServer: 19711, workload: 19720}

// ---------------------------------------------------------------------------------------------------------------
// What the bench creates, and its removal

const SH_JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; n=$((n-1)); done; exec "$@"'

export class Tracker {
  constructor() {
    this.prefix = `bench${process.pid}`
    this.count = 0
    this.boxes = new Set()
    this.children = new Set()
    this.stressors = new Set()
    this.dir = undefined
    this.layout = detectCgroupLayout()
    // a ledger like a run's: `chaos cleanup` spares what it lists while the bench lives and removes it after a crash
    this.ledger = new RunLedger(`bench-${process.pid}`, 'benchmark')
  }

  boxResource(box) {
    return {kind: 'cgroup', version: this.layout.version, root: this.layout.root, path: box.relativePath}
  }

  runId() {
    return `${this.prefix}x${this.count++}`
  }

  /** A temp dir for files (removed at cleanup). */
  tempDir() {
    if (this.dir === undefined) {
      this.dir = mkdtempSync(join(tmpdir(), 'chaos-bench-'))
      this.ledger.add({kind: 'dir', path: this.dir})
    }
    return this.dir
  }

  /** A cgroup box chaos-bench-PID-N in every hierarchy, with limits (Cgroup.applyLimits). */
  box(limits = {}) {
    const box = new Cgroup(this.layout, `chaos-bench-${process.pid}-${this.count++}`)
    this.boxes.add(box)
    this.ledger.add(this.boxResource(box))
    box.create()
    box.applyLimits(limits)
    return box
  }

  async removeBox(box) {
    const left = await box.remove()
    this.boxes.delete(box)
    if (left.length === 0) this.ledger.remove(this.boxResource(box))
    if (left.length > 0) throw new Error(`could not remove ${left.join(', ')}`)
  }

  /** One of the toolkit's stressors, its deadline `deadlineMs` from now. */
  stressor(kind, params, {cgroups = [], deadlineMs = 120_000, env} = {}) {
    const handle = spawnStressor({kind, runId: this.runId(), deadline: Date.now() + deadlineMs, parent: process.pid, cgroups, params}, env ? {env} : {})
    this.stressors.add(handle)
    const resource = {kind: 'process', pid: handle.pid, startTime: processStartTime(handle.pid) ?? 0, title: `chaos-stressor ${kind}`}
    this.ledger.add(resource)
    void handle.exited.then(() => {
      this.stressors.delete(handle)
      this.ledger.remove(resource)
    })
    return handle
  }

  /**
   * A child process (its own process group, so it and what it forks can be signalled together), optionally
   * moved into a box before it execs. `done` resolves with {code, signal, stdout, stderr, ms}.
   */
  child(command, args = [], {box, stdin = 'ignore', env} = {}) {
    const argv = box ? ['sh', '-c', SH_JOIN, 'sh', String(box.dirs().length), ...box.dirs(), command, ...args] : [command, ...args]
    const started = now()
    const child = spawn(argv[0], argv.slice(1), {stdio: [stdin, 'pipe', 'pipe'], detached: true, env: env ? {...process.env, ...env} : process.env})
    this.children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (t) => { stdout += t })
    child.stderr.setEncoding('utf8').on('data', (t) => { stderr = (stderr + t).slice(-16_384) })
    child.done = new Promise((resolve) => {
      child.once('error', (error) => { stderr += String(error); })
      child.once('close', (code, signal) => {
        this.children.delete(child)
        resolve({code, signal, stdout, stderr, ms: now() - started})
      })
    })
    child.output = () => stdout
    return child
  }

  /** SIGTERM to a child's process group, SIGKILL after graceMs. */
  async stopChild(child, graceMs = 1000) {
    if (child.exitCode !== null || child.signalCode !== null) return child.done
    signalGroup(child.pid, 'SIGTERM')
    const timer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), graceMs)
    try {
      return await child.done
    } finally {
      clearTimeout(timer)
    }
  }

  /** Removes everything this bench made so far; returns what could not be removed. */
  async cleanup() {
    const problems = []
    await Promise.all([...this.stressors].map((h) => h.stop().catch((e) => problems.push(`stressor: ${e.message}`))))
    await Promise.all([...this.children].map((c) => this.stopChild(c, 500)))
    for (const box of [...this.boxes]) {
      try {
        await this.removeBox(box)
      } catch (error) {
        problems.push(error.message)
      }
    }
    if (this.dir) {
      try {
        rmSync(this.dir, {recursive: true, force: true})
        this.ledger.remove({kind: 'dir', path: this.dir})
        this.dir = undefined
      } catch (error) {
        problems.push(`temp dir: ${error.message}`)
      }
    }
    if (problems.length === 0) this.ledger.close()
    return problems
  }

  /** What of ours is still on the machine: boxes, stressor processes, children, the temp dir. */
  leftovers() {
    const found = []
    for (const controller of V1_CONTROLLERS) {
      const dir = join('/sys/fs/cgroup', controller)
      if (!existsSync(dir)) continue
      for (const name of readdirSync(dir)) if (name.startsWith(`chaos-bench-${process.pid}-`)) found.push(join(dir, name))
    }
    for (const p of listStressorProcesses()) if (p.runId.startsWith(this.prefix)) found.push(`stressor pid ${p.pid} (${p.kind})`)
    for (const c of this.children) if (alive(c.pid)) found.push(`child pid ${c.pid} (${c.spawnargs.join(' ').slice(0, 60)})`)
    if (this.dir && existsSync(this.dir)) found.push(this.dir)
    return found
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch { /* gone */ }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Readers

export function alive(pid) {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** user + system CPU seconds of one process (all its threads), or undefined when it is gone. */
export function procCpuSeconds(pid) {
  try {
    return parseProcStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** A VmRSS/VmHWM-style field of /proc/PID/status in bytes. */
export function procStatusBytes(pid, field = 'VmRSS') {
  try {
    const match = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

const readNumber = (file) => Number(readFileSync(file, 'utf8').trim())
/** cumulative CPU seconds charged to a box (cgroup v1 cpuacct.usage, or v2 cpu.stat usage_usec) */
export function boxCpuSeconds(box) {
  const paths = box.paths()
  if (paths.version === 1) return readNumber(join(paths.cpuacct, 'cpuacct.usage')) / 1e9
  return Number(/usage_usec (\d+)/.exec(readFileSync(join(paths.dir, 'cpu.stat'), 'utf8'))[1]) / 1e6
}
/** bytes charged to a box's memory controller */
export function boxMemoryBytes(box) {
  const paths = box.paths()
  return paths.version === 1 ? readNumber(join(paths.memory, 'memory.usage_in_bytes')) : readNumber(join(paths.dir, 'memory.current'))
}

// ---------------------------------------------------------------------------------------------------------------
// Peers and the machine

/** Whether a program runs at all (`--version`), with its first line. */
export function detectProgram(command, args = ['--version']) {
  const result = spawnSync(command, args, {encoding: 'utf8', timeout: 5000})
  if (result.error) return {present: false}
  return {present: true, version: `${result.stdout}${result.stderr}`.trim().split('\n')[0]}
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics and waiting

export function summarize(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const mid = v.length >> 1
  return {min: v[0], median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, max: v.at(-1), n: v.length}
}

export async function waitFor(what, probe, timeoutMs = 10_000, everyMs = 5) {
  const started = now()
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Resolves with an HTTP 2xx body from url, retrying until timeoutMs. */
export async function waitHttp(url, timeoutMs = 15_000) {
  return waitFor(`${url} to answer`, async () => {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(1000)})
      return response.ok ? await response.text() : undefined
    } catch {
      return undefined
    }
  }, timeoutMs, 50)
}

/** Collects a stressor's progress messages (t, bytes, cpuSeconds, rssBytes) with our clock's receive time. */
export function recordProgress(handle) {
  const messages = []
  handle.onMessage((m) => {
    if (m.type === 'progress') messages.push({...m, at: now()})
  })
  return messages
}
