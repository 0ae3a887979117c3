// Readers of a workflow's resource accounting: from its cgroup (v1 hierarchies or the v2 directory) or, for a
// workflow without a cgroup of its own, from its process in /proc. Every file is optional: kernels and
// configurations differ (memory.peak is recent, pressure files need PSI), so a missing or unreadable file leaves
// its fields undefined instead of failing the whole reading.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import type {CgroupPaths, IoCounters, ResourceSample} from './types.js'

export type {CgroupPaths, ResourceSample} from './types.js'

function readOptional(file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function readNumber(file: string | undefined): number | undefined {
  const text = readOptional(file)?.trim()
  if (text === undefined || text === '' || text === 'max') return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}

/** `key value` lines (cpu.stat, memory.events, memory.oom_control, memory.stat) as numbers. */
export function parseKeyValueLines(text: string | undefined): Record<string, number> {
  const values: Record<string, number> = {}
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/)
    if (key && value !== undefined && Number.isFinite(Number(value))) values[key] = Number(value)
  }
  return values
}

/** The `total=` of the `some` line of a pressure file, in microseconds. */
export function parsePressureSomeTotal(text: string | undefined): number | undefined {
  const match = /^some\b.*\btotal=(\d+)/m.exec(text ?? '')
  return match ? Number(match[1]) : undefined
}

function join(dir: string | undefined, file: string): string | undefined {
  return dir === undefined ? undefined : path.join(dir, file)
}

/** The first of the directories that holds the file, read; undefined when none does. */
function readFirst(dirs: Array<string | undefined>, file: string): string | undefined {
  for (const dir of dirs) {
    const text = readOptional(join(dir, file))
    if (text !== undefined) return text
  }
  return undefined
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/** A box's pids accounting (the same files on v1's pids hierarchy and in a v2 directory). */
function readTasks(dir: string | undefined): Pick<ResourceSample, 'tasks' | 'tasksLimit' | 'tasksRefused'> {
  return {
    tasks: readNumber(join(dir, 'pids.current')),
    tasksLimit: readNumber(join(dir, 'pids.max')),
    tasksRefused: parseKeyValueLines(readOptional(join(dir, 'pids.events'))).max,
  }
}

/**
 * A member of a shared box: its own reading, with what is the box's and so every member's (CPU throttling, OOM
 * kills, pressure, the pids budget). Both local platforms read a shared box through this.
 */
export function sharedBoxFigures(own: ResourceSample, box: ResourceSample): ResourceSample {
  return withoutUndefined<ResourceSample>({
    ...own,
    throttledPeriods: box.throttledPeriods, periods: box.periods, throttledSeconds: box.throttledSeconds, oomKills: box.oomKills, psi: box.psi,
    tasks: box.tasks, tasksLimit: box.tasksLimit, tasksRefused: refusedIn(own, box),
  })
}

/**
 * Forks the box's pids limit refused, for a member with a cgroup of its own below it (a container under its shared
 * parent). Kernels count the refusal in different places: where the limit was hit (the parent), where the fork was
 * made (the member: cgroup v1 on 6.x, measured on this machine), or hierarchically (v2 since 6.13: the parent's
 * count holds its children's). The larger of the two is the box's count under each rule.
 */
function refusedIn(own: ResourceSample, box: ResourceSample): number | undefined {
  if (own.tasksRefused === undefined) return box.tasksRefused
  if (box.tasksRefused === undefined) return own.tasksRefused
  return Math.max(own.tasksRefused, box.tasksRefused)
}

/**
 * v1's blkio.throttle.io_service_bytes and io_serviced ("254:0 Read 20971520" lines, and a "Total" line), per disk.
 * Exported for the tests.
 */
export function parseV1Io(bytes: string | undefined, ops: string | undefined): Record<string, IoCounters> | undefined {
  const out: Record<string, IoCounters> = {}
  const take = (text: string | undefined, field: (c: IoCounters, op: string, n: number) => void) => {
    for (const line of (text ?? '').split('\n')) {
      const [device, op, value] = line.trim().split(/\s+/)
      if (!device?.includes(':') || value === undefined) continue
      const n = Number(value)
      if (!Number.isFinite(n)) continue
      field(out[device] ??= {readBytes: 0, writeBytes: 0, reads: 0, writes: 0}, op, n)
    }
  }
  take(bytes, (c, op, n) => {
    if (op === 'Read') c.readBytes = n
    else if (op === 'Write') c.writeBytes = n
  })
  take(ops, (c, op, n) => {
    if (op === 'Read') c.reads = n
    else if (op === 'Write') c.writes = n
  })
  return Object.keys(out).length > 0 ? out : undefined
}

/** v2's io.stat ("254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per disk). Exported for the tests. */
export function parseV2IoStat(text: string | undefined): Record<string, IoCounters> | undefined {
  const out: Record<string, IoCounters> = {}
  for (const line of (text ?? '').split('\n')) {
    const [device, ...pairs] = line.trim().split(/\s+/)
    if (!device?.includes(':')) continue
    const kv = Object.fromEntries(pairs.map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]))
    out[device] = {readBytes: kv.rbytes ?? 0, writeBytes: kv.wbytes ?? 0, reads: kv.rios ?? 0, writes: kv.wios ?? 0}
  }
  return Object.keys(out).length > 0 ? out : undefined
}

export function readCgroupSample(paths: CgroupPaths): ResourceSample {
  return paths.version === 2 ? readCgroupV2(paths.dir) : readCgroupV1(paths)
}

function readCgroupV1(paths: Extract<CgroupPaths, {version: 1}>): ResourceSample {
  const t = Date.now()
  const usageNs = readNumber(join(paths.cpuacct, 'cpuacct.usage'))
  const cpu = parseKeyValueLines(readOptional(join(paths.cpu, 'cpu.stat')))
  const oomControl = readOptional(join(paths.memory, 'memory.oom_control'))
  // v1 has pressure files only when the kernel runs with psi=1 and cgroup1 PSI support; they sit in the cpuacct
  // (or co-mounted cpu) directory.
  const psiDirs = [paths.cpuacct, paths.cpu, paths.memory, paths.blkio]
  const psi = withoutUndefined({
    cpu: parsePressureSomeTotal(readFirst(psiDirs, 'cpu.pressure')),
    memory: parsePressureSomeTotal(readFirst(psiDirs, 'memory.pressure')),
    io: parsePressureSomeTotal(readFirst(psiDirs, 'io.pressure')),
  })
  return withoutUndefined<ResourceSample>({
    t,
    cpuSeconds: usageNs === undefined ? undefined : usageNs / 1e9,
    periods: cpu.nr_periods,
    throttledPeriods: cpu.nr_throttled,
    throttledSeconds: cpu.throttled_time === undefined ? undefined : cpu.throttled_time / 1e9,
    memoryBytes: readNumber(join(paths.memory, 'memory.usage_in_bytes')),
    memoryPeakBytes: readNumber(join(paths.memory, 'memory.max_usage_in_bytes')),
    oomKills: parseKeyValueLines(oomControl).oom_kill,
    ...readTasks(paths.pids),
    io: paths.blkio === undefined ? undefined : parseV1Io(readOptional(join(paths.blkio, 'blkio.throttle.io_service_bytes')), readOptional(join(paths.blkio, 'blkio.throttle.io_serviced'))),
    psi: Object.keys(psi).length > 0 ? psi : undefined,
  })
}

function readCgroupV2(dir: string): ResourceSample {
  const t = Date.now()
  const cpu = parseKeyValueLines(readOptional(path.join(dir, 'cpu.stat')))
  const events = readOptional(path.join(dir, 'memory.events'))
  const psi = withoutUndefined({
    cpu: parsePressureSomeTotal(readOptional(path.join(dir, 'cpu.pressure'))),
    memory: parsePressureSomeTotal(readOptional(path.join(dir, 'memory.pressure'))),
    io: parsePressureSomeTotal(readOptional(path.join(dir, 'io.pressure'))),
  })
  return withoutUndefined<ResourceSample>({
    t,
    cpuSeconds: cpu.usage_usec === undefined ? undefined : cpu.usage_usec / 1e6,
    // nr_periods and friends appear only when the cpu controller is enabled for the group.
    periods: cpu.nr_periods,
    throttledPeriods: cpu.nr_throttled,
    throttledSeconds: cpu.throttled_usec === undefined ? undefined : cpu.throttled_usec / 1e6,
    memoryBytes: readNumber(path.join(dir, 'memory.current')),
    memoryPeakBytes: readNumber(path.join(dir, 'memory.peak')),
    oomKills: parseKeyValueLines(events).oom_kill,
    ...readTasks(dir),
    io: parseV2IoStat(readOptional(path.join(dir, 'io.stat'))),
    psi: Object.keys(psi).length > 0 ? psi : undefined,
  })
}

let clockTicksPerSecond: number | undefined

/** USER_HZ, the unit of utime/stime in /proc/PID/stat: asked of getconf once, 100 when it cannot tell. */
export function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim())
      clockTicksPerSecond = Number.isInteger(value) && value > 0 ? value : 100
    } catch {
      clockTicksPerSecond = 100
    }
  }
  return clockTicksPerSecond
}

/** user + system CPU seconds from the text of /proc/PID/stat. */
export function parseProcStatCpuSeconds(text: string, ticksPerSecond = clockTicks()): number | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/)
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / ticksPerSecond : undefined
}

function statusKilobytes(status: string | undefined, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(status ?? '')
  return match ? Number(match[1]) * 1024 : undefined
}

/**
 * One process's CPU time and memory. Only that process is counted (not its children), and a process that is
 * gone yields a sample with only `t`.
 */
export function readProcessSample(pid: number): ResourceSample {
  const t = Date.now()
  const stat = readOptional(`/proc/${pid}/stat`)
  const status = readOptional(`/proc/${pid}/status`)
  return withoutUndefined<ResourceSample>({
    t,
    cpuSeconds: stat === undefined ? undefined : parseProcStatCpuSeconds(stat),
    memoryBytes: statusKilobytes(status, 'VmRSS'),
    memoryPeakBytes: statusKilobytes(status, 'VmHWM'),
  })
}
