// Disk I/O saturation by the target: direct writes, several in flight, from a stressor in the target's own box,
// over a working file in the run's own directory or in a directory the experiment allows. The isolated case: the
// target's own throttle on that disk (isolation.io: blkio.throttle.*_device / io.max) holds it to its share, and a
// neighbour that fsyncs keeps its latency. The control: the same disk unthrottled, whose queue the writes fill.
// The dose is proven from the target's own I/O accounting on that disk, not from the stressor's word.
import {statfsSync} from 'node:fs'

import type {Experiment, SafetySpec} from '../experiment/schema.js'
import {formatBytes} from '../experiment/units.js'
import {type BlockDevice, blockDeviceOf, type IoDisk} from '../host/blockdev.js'
import type {IoThrottle} from '../host/cgroupfs.js'
import type {IoCounters} from '../metrics/types.js'
import {capabilityOf, PlanError, type Platform} from '../platforms/platform.js'
import type {IoParams} from '../stressors/protocol.js'
import {allowedPath} from './allowed-path.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

type IoSaturationSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'io-saturation'}>

/** What the plan decided: where the working file goes, on which disk, and the stressor's parameters. */
export interface IoPlan {
  dir: string
  device: BlockDevice
  params: IoParams
}

/**
 * The disk under the working file's directory and the room on its filesystem, read where the disk is (here, or on a
 * host by its agent). PlanError for a filesystem without a disk under it (tmpfs, overlay).
 */
export function ioDiskAt(dir: string, existing: string): IoDisk {
  let device: BlockDevice
  try {
    device = blockDeviceOf(existing)
  } catch (error) {
    throw new PlanError(`io-saturation: ${error instanceof Error ? error.message : String(error)}; name a directory on a disk (fault.path, under safety.allowPaths)`)
  }
  const fs = statfsSync(existing)
  return {dir, existing, device, totalBytes: fs.blocks * fs.bsize, availableBytes: fs.bavail * fs.bsize}
}

/**
 * Where the working file goes on this machine: fault.path, once it is found under safety.allowPaths, or the run's own
 * directory; and the disk under it. A host's agent calls it there for the run on that host.
 */
export function localIoDisk(path: string | undefined, experiment: Experiment, runDirectory: {dir: string, existing: string}): IoDisk {
  if (path === undefined) return ioDiskAt(runDirectory.dir, runDirectory.existing)
  const real = allowedPath('io-saturation', path, experiment, 'writing there, or leave fault.path out to write in the run\'s own directory')
  return ioDiskAt(real, real)
}

/**
 * The dose, the one place it is checked: chaos run, chaos stress and chaos calibrate all ask here, on every platform.
 * Refuses (PlanError) a file above safety.maxDisk or one that would leave less than safety.diskFloor of the
 * filesystem free, and a block larger than the file.
 */
export function checkIoDose(spec: Pick<IoSaturationSpec, 'size' | 'blockSize' | 'depth' | 'rate'> & {reads?: number}, disk: IoDisk, safety: Pick<SafetySpec, 'maxDisk' | 'diskFloor'>): IoPlan {
  const {dir, device} = disk
  if (spec.size > safety.maxDisk) {
    throw new PlanError(`io-saturation: a working file of ${formatBytes(spec.size)} is above safety.maxDisk (${formatBytes(safety.maxDisk)}); lower fault.size or raise safety.maxDisk`)
  }
  if (spec.blockSize > spec.size) throw new PlanError(`io-saturation: blockSize ${formatBytes(spec.blockSize)} is larger than the working file (${formatBytes(spec.size)})`)
  const room = Math.max(0, disk.availableBytes - Math.ceil(safety.diskFloor * disk.totalBytes))
  if (spec.size > room) {
    throw new PlanError(`io-saturation: a working file of ${formatBytes(spec.size)} in ${dir} would leave less than safety.diskFloor (${Math.round(safety.diskFloor * 100)}%) of its filesystem free; at most ${formatBytes(room)} fits. Lower fault.size`)
  }
  return {dir, device, params: {dir, bytes: spec.size, blockSize: spec.blockSize, depth: spec.depth, ...(spec.rate === undefined ? {} : {rate: spec.rate}), ...(spec.reads ? {readShare: spec.reads} : {})}}
}

/** The dose in `dir` on this machine (`existing`: a directory that exists on the same filesystem). */
export function planIoDose(spec: Parameters<typeof checkIoDose>[0], dir: string, existing: string, safety: Pick<SafetySpec, 'maxDisk' | 'diskFloor'>): IoPlan {
  return checkIoDose(spec, ioDiskAt(dir, existing), safety)
}

/** "direct writes of 1Mi, 8 in flight, over a 256Mi file in DIR (disk vda, 254:0) as fast as the disk takes them" */
export function describeIoDose(plan: IoPlan): string {
  const {params, device} = plan
  const pace = params.rate === undefined ? 'as fast as the disk takes them' : `at ${formatBytes(params.rate)}/s`
  const what = params.readShare ? `direct reads and writes (${+(params.readShare * 100).toFixed(2)}% reads, once the file is written through)` : 'direct writes'
  return `${what} of ${formatBytes(params.blockSize)}, ${params.depth} in flight, over a ${formatBytes(params.bytes)} file in ${plan.dir} (disk ${device.name}, ${device.id}) ${pace}`
}

/** The dose's disk: found here by the driver (process, docker), or where the target runs by the platform (a host's agent). */
function diskOf(spec: IoSaturationSpec, experiment: Experiment, platform: Platform): IoDisk {
  const io = capabilityOf(platform, 'blockIo', 'io-saturation')
  if (io.remoteIoDisk) return io.remoteIoDisk()
  if (!io.ioDirectory) throw new Error(`platform ${platform.name} offers block I/O with neither a directory here nor a disk found where the target runs`)
  return localIoDisk(spec.path, experiment, io.ioDirectory())
}

/** What one fault window measured. */
export interface IoWindowFigures {
  seconds: number
  /** bytes the stressor's reads and writes completed */
  written: number
  /** share of its operations that are reads (0 or undefined: writes only) */
  readShare?: number
  blockSize?: number
  /** the target box's write counters on the disk before the stressor started and at the end; undefined without a box of its own */
  boxBefore?: IoCounters
  boxAfter?: IoCounters
  rate?: number
  throttle?: IoThrottle
  depth: number
  device: BlockDevice
  boundary: string
}

/**
 * Whether the dose landed. Achieved is what the target's own box counted on the disk (at most what the stressor
 * wrote: the box may hold other writers). Asked: the rate (or the target's own write throttle, when lower) over the
 * window, less what a writer held to that pace cannot have finished by the window's end (its pipeline, see
 * pipelineBytes); unbounded without a throttle, what the stressor wrote, so that the box must have counted it.
 * Without a box of its own to count in, the stressor's own count, said so.
 */
export function ioEfficacy(f: IoWindowFigures) {
  const counted = f.boxBefore !== undefined || f.boxAfter !== undefined
  const moved = (c?: IoCounters) => (c?.writeBytes ?? 0) + (f.readShare ? c?.readBytes ?? 0 : 0)
  const growth = counted ? moved(f.boxAfter) - moved(f.boxBefore) : undefined
  const achieved = growth === undefined ? f.written : Math.max(0, Math.min(f.written, growth))
  const cap = [f.rate, ...throttleCaps(f)].filter((v): v is number => v !== undefined)
  const pipeline = pipelineBytes(f)
  // never less than one block: a window too short for its pipeline has still to show one finished write
  const asked = cap.length > 0 ? Math.max(f.blockSize ?? 0, Math.min(...cap) * f.seconds - pipeline) : f.written
  const perSecond = f.seconds > 0 ? achieved / f.seconds : 0
  const pressing = f.rate === undefined && f.throttle !== undefined && throttleCaps(f).length > 0 ? `, pressing the target's own throttle (${describeThrottle(f.throttle)})` : ''
  const source = growth === undefined ? "by the stressor's own count (the target has no box of its own to count its I/O)"
    : `counted by ${f.boundary} on ${f.device.name} (${f.device.id})`
  const allowed = cap.length > 0 && pipeline > 0 ? `; asked less ${formatBytes(pipeline)} a paced writer cannot have finished by the window's end` : ''
  const note = `${formatBytes(achieved)} ${f.readShare ? 'read and written' : 'written'} in ${f.seconds.toFixed(1)} s (${formatBytes(perSecond)}/s, ${f.depth} in flight)${pressing}, ${source}${allowed}`
  return efficacyOf(asked, achieved, 'bytes', note)
}

/**
 * What a writer held to a pace is behind that pace at any moment, by construction rather than by slowness: its
 * bucket starts empty, so a write is issued only once a whole block's worth of the rate has accrued (one block
 * behind), and the writes in flight (up to depth) are counted by the box only once they are done (a throttled write
 * waits in the throttle uncounted). A 4 s window at 1Mi/s in 1Mi writes counts 3Mi of 4Mi: a dose that landed in
 * full, which the bare rate × time called 75% (2026-12-05). A rated dose of minutes barely notices the allowance.
 */
function pipelineBytes(f: Pick<IoWindowFigures, 'rate' | 'blockSize' | 'depth'>): number {
  const block = f.blockSize ?? 0
  return (f.rate === undefined ? 0 : block) + f.depth * block
}

/**
 * What the target's own throttle allows the stressor's mix, in bytes a second: a write limit W holds the whole mix to
 * W / (1 - reads), a read limit R to R / reads, and an ops limit to ops × block size likewise.
 */
function throttleCaps(f: Pick<IoWindowFigures, 'throttle' | 'readShare' | 'blockSize'>): number[] {
  const t = f.throttle
  if (!t) return []
  const r = f.readShare ?? 0
  const block = f.blockSize ?? 0
  const caps: number[] = []
  if (r < 1) {
    if (t.writeBps !== undefined) caps.push(t.writeBps / (1 - r))
    if (t.writeIops !== undefined && block > 0) caps.push((t.writeIops * block) / (1 - r))
  }
  if (r > 0) {
    if (t.readBps !== undefined) caps.push(t.readBps / r)
    if (t.readIops !== undefined && block > 0) caps.push((t.readIops * block) / r)
  }
  return caps
}

/** "write 20.0Mi/s, read 400 ops/s" */
export function describeThrottle(t: IoThrottle): string {
  return [
    t.writeBps === undefined ? '' : `write ${formatBytes(t.writeBps)}/s`,
    t.writeIops === undefined ? '' : `write ${t.writeIops} ops/s`,
    t.readBps === undefined ? '' : `read ${formatBytes(t.readBps)}/s`,
    t.readIops === undefined ? '' : `read ${t.readIops} ops/s`,
  ].filter(Boolean).join(', ')
}

export const ioSaturation: FaultDriver<IoSaturationSpec> = {
  type: 'io-saturation',

  // a 4Mi file written at 1Mi/s, one write at a time: the same stressor's start and stop, a dose no disk notices.
  // Writes of 64Ki: a paced writer is up to one write behind its rate, and with 1Mi writes a 4 s block counted
  // 3Mi of the 4Mi asked (75%), so the null dose never landed and every A/A run was inconclusive (2026-12-05).
  // ioEfficacy now allows that pipeline too; the small writes keep the null dose's start and stop smooth as well
  nullDose: (spec) => ({...spec, size: 4 * 1024 ** 2, blockSize: 64 * 1024, depth: 1, rate: 1024 ** 2}),

  guard(spec, experiment, platform) {
    return `io-saturation: ${describeIoDose(checkIoDose(spec, diskOf(spec, experiment, platform), experiment.safety))}`
  },

  plan(spec, experiment, platform) {
    const plan = checkIoDose(spec, diskOf(spec, experiment, platform), experiment.safety)
    const throttle = capabilityOf(platform, 'blockIo', 'io-saturation').ioThrottle(plan.device.id)
    const limit = throttle ? `its throttle on ${plan.device.id}: ${describeThrottle(throttle) || 'none'}` : `no throttle on ${plan.device.id}`
    return `io-saturation: ${describeIoDose(plan)}, charged to ${platform.target.boundary} (${limit})`
  },

  async start(spec, ctx) {
    const io = capabilityOf(ctx.platform, 'blockIo', 'io-saturation')
    const plan = checkIoDose(spec, diskOf(spec, ctx.experiment, ctx.platform), ctx.experiment.safety)
    const readBox = io.targetIo(plan.device.id)
    const throttle = io.ioThrottle(plan.device.id)
    // the box's counters before the stressor exists: what they grow by from here is the stressor's (and the box's own)
    const boxBefore = readBox?.() ?? (readBox ? {readBytes: 0, writeBytes: 0, reads: 0, writes: 0} : undefined)
    const stressor = ctx.launchStressor({kind: 'io', params: plan.params, deadline: ctx.deadline, where: 'target'})
    await stressor.ready
    const startedAt = Date.now()
    return {
      progress: () => `wrote ${formatBytes((stressor.latest()?.bytes ?? 0) - (stressor.latest()?.readBytes ?? 0))}${stressor.latest()?.readBytes ? `, read ${formatBytes(stressor.latest()!.readBytes!)}` : ''} in ${stressor.latest()?.ops ?? 0} ${plan.params.readShare ? 'operations' : 'writes'}${stressor.latest()?.full ? ' (filesystem full)' : ''}`,
      stop: async () => {
        await stressor.stop()
        // counters read elsewhere (a host's agent pushes them) hold the last writes only once they have been read again
        await io.ioCountersSettled?.()
      },
      efficacy(window) {
        return ioEfficacy({
          seconds: (window.endedAt - startedAt) / 1000, written: stressor.latest()?.bytes ?? 0,
          boxBefore, boxAfter: readBox?.(), rate: plan.params.rate, readShare: plan.params.readShare, blockSize: plan.params.blockSize, throttle, depth: plan.params.depth,
          device: plan.device, boundary: ctx.platform.target.boundary,
        })
      },
    } satisfies ActiveFault
  },
}
