// `chaos stress`: one stressor, ad hoc, no experiment file. The same stressors and guardrails as a run, charged to
// a cgroup or a process's cgroup when asked, with the same dead-man's switch.
import {realpathSync, statfsSync} from 'node:fs'
import {isIP} from 'node:net'

import {formatBitRate, formatBytes} from '../experiment/units.js'
import {cpuDose} from '../faults/cpu-hog.js'
import {describeIoDose, planIoDose} from '../faults/io-saturation.js'
import {describeForkDose, forkDose} from '../faults/process-exhaustion.js'
import {Cgroup, cgroupOfProcess, detectCgroupLayout} from '../host/cgroupfs.js'
import {allowanceOf} from '../host/cpus.js'
import {PlanError} from '../platforms/platform.js'
import {newRunId} from '../run/runner.js'
import type {AdhocKind} from '../stressors/kinds.js'
import type {StressorParams} from '../stressors/protocol.js'
import {spawnStressor, type StressorExit} from '../stressors/spawn.js'

export interface AdhocOptions {
  kind: AdhocKind
  durationMs: number
  /** cpu: share of the allowance (0..1); allowance = the cgroup's quota when given, else the host */
  load?: number
  workers?: number
  cpus?: number
  /** memory */
  rate?: number
  limit?: number
  /** disk */
  dir?: string
  size?: number
  /** flood */
  host?: string
  port?: number
  bitRate?: number
  connections?: number
  /** fork: processes or threads to hold, created at forkRate per second (undefined: as fast as possible) */
  count?: number
  forkRate?: number
  forkKind?: 'processes' | 'threads'
  /** fork: the caps an experiment's safety section would set (defaults: 2000, 8Gi) */
  maxProcesses?: number
  maxMemory?: number
  /** io: bytes per write and writes in flight (the working file is --size in --dir, the rate --rate) */
  blockSize?: number
  depth?: number
  /** io: share of operations that are reads */
  reads?: number
  /** charge to this cgroup (relative to the cgroup root) or to the cgroup of this pid */
  cgroup?: string
  pid?: number
  diskFloor?: number
}

export function planAdhoc(o: AdhocOptions): {params: StressorParams, describe: string} {
  switch (o.kind) {
    case 'cpu': {
      // the allowance: --cpus, else the host's cores
      const dose = cpuDose({load: o.load ?? 1, workers: o.workers}, allowanceOf(o.cpus === undefined ? undefined : {cpus: o.cpus}))
      return {params: {workers: dose.workers, loadPerWorker: dose.loadPerWorker}, describe: `cpu: ${dose.cores.toFixed(2)} cores on ${dose.workers} worker(s)`}
    }
    case 'memory': {
      const limit = o.limit ?? 256 * 1024 ** 2
      return {params: {rate: o.rate ?? 64 * 1024 ** 2, limit, hold: true}, describe: `memory: ${formatBytes(o.rate ?? 64 * 1024 ** 2)}/s up to ${formatBytes(limit)}`}
    }
    case 'disk': {
      if (!o.dir) throw new PlanError('disk stress needs --dir: the directory to fill (never a default)')
      const real = realpathSync(o.dir)
      const fs = statfsSync(real)
      const total = fs.blocks * fs.bsize
      const room = fs.bavail * fs.bsize - Math.ceil((o.diskFloor ?? 0.1) * total)
      const bytes = o.size ?? 0
      if (bytes <= 0) throw new PlanError('disk stress needs --size, e.g. 1Gi')
      if (bytes > room) throw new PlanError(`writing ${formatBytes(bytes)} to ${real} would leave less than ${Math.round((o.diskFloor ?? 0.1) * 100)}% free; at most ${formatBytes(Math.max(0, room))} (lower --size or --disk-floor)`)
      return {params: {dir: real, bytes, mode: 'write'}, describe: `disk: ${formatBytes(bytes)} into ${real}`}
    }
    case 'flood': {
      const host = o.host ?? '127.0.0.1'
      if (!(isIP(host) && (host.startsWith('127.') || host === '::1'))) throw new PlanError(`flood destination ${host} refused: ad hoc floods go to loopback only (use an experiment with safety.allowHosts for more)`)
      if (!o.port) throw new PlanError('flood needs --port: a receiver you run (e.g. iperf3 -s, or chaos stress sink)')
      return {params: {host, port: o.port, protocol: 'tcp', rate: o.bitRate, connections: o.connections ?? 1}, describe: `flood: tcp to ${host}:${o.port} at ${o.bitRate ? formatBitRate(o.bitRate) : 'full speed'}`}
    }
    case 'fork': {
      if (o.count === undefined) throw new PlanError('fork stress needs --count: how many processes (or threads) to create and hold (never a default)')
      // the same caps as an experiment's: safety.maxProcesses, half of pid_max, threads' stacks within maxMemory
      const params = forkDose({count: o.count, rate: o.forkRate, kind: o.forkKind ?? 'processes'}, {maxProcesses: o.maxProcesses ?? 2000, maxMemory: o.maxMemory ?? 8 * 1024 ** 3})
      return {params, describe: `fork: ${describeForkDose(params)}, held`}
    }
    case 'io': {
      if (!o.dir) throw new PlanError('io stress needs --dir: a directory on the disk to saturate (never a default)')
      let real: string
      try {
        real = realpathSync(o.dir)
      } catch {
        throw new PlanError(`io stress: ${o.dir} does not exist`)
      }
      // the same checks as an experiment's: a disk under it, safety.maxDisk's default, the floor of free space
      const plan = planIoDose({size: o.size ?? 256 * 1024 ** 2, blockSize: o.blockSize ?? 1024 ** 2, depth: o.depth ?? 8, rate: o.rate, reads: o.reads}, real, real, {maxDisk: 8 * 1024 ** 3, diskFloor: o.diskFloor ?? 0.1})
      return {params: plan.params, describe: `io: ${describeIoDose(plan)}`}
    }
  }
}

export async function runAdhoc(o: AdhocOptions, signal: AbortSignal, report: (line: string) => void): Promise<StressorExit> {
  const {params, describe} = planAdhoc(o)
  let cgroups: string[] = []
  if (o.cgroup !== undefined || o.pid !== undefined) {
    const layout = detectCgroupLayout()
    const box = o.pid !== undefined ? cgroupOfProcess(o.pid, layout) : new Cgroup(layout, o.cgroup!.replace(/^\/sys\/fs\/cgroup\/(\w+\/)?/, '').replace(/^\//, ''))
    if (!box || !box.exists()) throw new PlanError(`no such cgroup: ${o.cgroup ?? `of pid ${o.pid}`}`)
    cgroups = box.dirs()
  }
  const runId = newRunId()
  const handle = spawnStressor({kind: o.kind, runId, deadline: Date.now() + o.durationMs, parent: process.pid, cgroups, params})
  await handle.ready
  report(`${describe}, for ${Math.round(o.durationMs / 1000)}s (run ${runId})`)
  const ticker = setInterval(() => {
    const p = handle.latest()
    if (p) report(`  ${((p.t - Date.now()) / 1000 + o.durationMs / 1000).toFixed(0)}s left  cpu ${p.cpuSeconds?.toFixed(1) ?? '-'}s  ${o.kind === 'fork' ? `tasks ${p.tasks ?? 0}  refused ${p.refused ?? 0}` : `bytes ${formatBytes(p.bytes ?? 0)}${o.kind === 'io' ? `  ${p.readBytes === undefined ? 'writes' : `read ${formatBytes(p.readBytes)}  ops`} ${p.ops ?? 0}` : ''}`}`)
  }, 5000)
  const onAbort = () => void handle.stop()
  signal.addEventListener('abort', onAbort, {once: true})
  try {
    return await handle.exited
  } finally {
    clearInterval(ticker)
    signal.removeEventListener('abort', onAbort)
  }
}
