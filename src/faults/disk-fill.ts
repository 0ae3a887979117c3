// A disk fill by the target: a stressor in the target's box writing into an experiment volume (a filesystem the
// experiment created) or into a path the experiment explicitly allows, where a floor of free space is always kept.
import {statfsSync} from 'node:fs'
import {posix} from 'node:path'

import {formatBytes} from '../experiment/units.js'
import type {Experiment} from '../experiment/schema.js'
import type {RemoteFill} from '../platforms/capabilities.js'
import {capabilityOf, PlanError, type Platform} from '../platforms/platform.js'
import type {DiskParams} from '../stressors/protocol.js'
import {allowedPath} from './allowed-path.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

type DiskFillSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'disk-fill'}>

interface FillPlan {
  dir: string
  bytes: number
  createdByExperiment: boolean
  /** the filesystem is the target's, not this machine's (a pod, a host): where it is, for the plan; the stressor says when it is full, and keeps the floor on one the experiment did not create */
  remote?: string
}

function filesystem(dir: string): {total: number, free: number} {
  const stats = statfsSync(dir)
  return {total: stats.blocks * stats.bsize, free: stats.bavail * stats.bsize}
}

function capped(bytes: number, experiment: Experiment): number {
  if (bytes > experiment.safety.maxDisk) {
    throw new PlanError(`disk-fill of ${formatBytes(bytes)} is above safety.maxDisk (${formatBytes(experiment.safety.maxDisk)}); raise safety.maxDisk in the experiment if you mean it`)
  }
  return bytes
}

/** Resolves where and how much to write, refusing anything the experiment did not name and allow. */
export function planFill(spec: DiskFillSpec, experiment: Experiment, platform: Platform, beforeSetup: boolean): FillPlan {
  // a platform whose target's filesystem is not this machine's plans the fill from its own figures
  const remote = platform.capabilities.remoteFill
  if (remote) return planRemoteFill(spec, experiment, remote)
  const local = capabilityOf(platform, 'localFill', 'disk-fill')
  if (spec.volume !== undefined && beforeSetup) {
    // the volume's size is in the file: so is the fill's, before the volume exists
    const size = experiment.volumes![spec.volume].size
    const bytes = 'bytes' in spec.size ? spec.size.bytes : Math.round(spec.size.fraction * size)
    return {dir: `(volume ${spec.volume})`, bytes: capped(Math.min(bytes, size), experiment), createdByExperiment: true}
  }
  const {dir, createdByExperiment} = local.fillDirectory(spec.volume, spec.path)
  if (!createdByExperiment) allowedPath('disk-fill', dir, experiment, 'filling it, or fill an experiment volume')
  const fs = filesystem(dir)
  const used = fs.total - fs.free
  let bytes = 'bytes' in spec.size ? spec.size.bytes : Math.max(0, Math.round(spec.size.fraction * fs.total) - used)
  if (!createdByExperiment) {
    const floor = Math.ceil(experiment.safety.diskFloor * fs.total)
    const room = Math.max(0, fs.free - floor)
    if (bytes > room) {
      throw new PlanError(`disk-fill of ${formatBytes(bytes)} on ${dir} would leave less than safety.diskFloor (${Math.round(experiment.safety.diskFloor * 100)}%, ${formatBytes(floor)}) free; at most ${formatBytes(room)} can be written there. Lower fault.size or safety.diskFloor`)
    }
  } else {
    bytes = Math.min(bytes, fs.total)
  }
  return {dir, bytes: capped(bytes, experiment), createdByExperiment}
}

/**
 * A fill inside the target (a pod's container): the path is checked against safety.allowPaths as the target sees
 * it (no symlinks can be resolved from here), a percentage is of what the platform names (a container's
 * ephemeral-storage limit), and the floor of free space is kept by the stressor, which refuses to start otherwise.
 */
function planRemoteFill(spec: DiskFillSpec, experiment: Experiment, capability: RemoteFill): FillPlan {
  const remote = capability.remoteFill({volume: spec.volume, path: spec.path})
  if (remote.volume) {
    // a volume the platform made there: the experiment's own filesystem, checked by its size alone
    const size = remote.volume.bytes
    const bytes = 'bytes' in spec.size ? spec.size.bytes : Math.round(spec.size.fraction * size)
    return {dir: remote.volume.dir, bytes: capped(Math.min(bytes, size), experiment), createdByExperiment: true, remote: remote.where}
  }
  // a platform without volumes there refuses one (remoteFill): what is left is a fill of a path
  const path = spec.path!
  const dir = posix.normalize(path)
  if (dir.split('/').includes('..') || !dir.startsWith('/')) throw new PlanError(`disk-fill path ${path}: an absolute path without ".." is needed`)
  const allowed = experiment.safety.allowPaths.map((p) => posix.normalize(p))
  if (!allowed.some((a) => dir === a || dir.startsWith(a.endsWith('/') ? a : `${a}/`))) {
    throw new PlanError(`disk-fill path ${dir} is not under safety.allowPaths (${allowed.join(', ') || 'empty'}); on this platform the paths are as the target container sees them: add it there to allow filling it`)
  }
  let bytes: number
  if ('bytes' in spec.size) bytes = spec.size.bytes
  else if (remote.percentOf) bytes = Math.round(spec.size.fraction * remote.percentOf.bytes)
  else throw new PlanError(`disk-fill size ${Math.round(spec.size.fraction * 100)}%: a percentage is of the target container's limits.ephemeral-storage, which it does not set; give the size in bytes (e.g. 512Mi)`)
  capped(bytes, experiment)
  const share = 'fraction' in spec.size && remote.percentOf ? ` (${Math.round(spec.size.fraction * 100)}% of ${remote.percentOf.what}, ${formatBytes(remote.percentOf.bytes)})` : ''
  return {dir, bytes, createdByExperiment: false, remote: `${remote.where}${share}; the stressor refuses a fill that would leave less than ${Math.round(experiment.safety.diskFloor * 100)}% of that filesystem free`}
}

export const diskFill: FaultDriver<DiskFillSpec> = {
  type: 'disk-fill',

  // 1 MiB into the same place, written at once
  nullDose: ({rate: _rate, ...spec}) => ({...spec, size: {bytes: 1024 ** 2}}),

  // where and how much is decided by the file and this machine's filesystems (or, in a pod, the platform's plan)
  guard(spec, experiment, platform) {
    const fill = planFill(spec, experiment, platform, true)
    const how = spec.mode === 'fallocate' ? 'at once (fallocate)' : spec.rate ? `at ${formatBytes(spec.rate)}/s` : 'as fast as the disk takes it'
    return `disk-fill: ${formatBytes(fill.bytes)} into ${fill.remote ?? fill.dir} ${how}`
  },

  plan(spec, experiment, platform) {
    return `${this.guard(spec, experiment, platform)}, charged to ${platform.target.boundary}`
  },

  async start(spec, ctx) {
    const fill = planFill(spec, ctx.experiment, ctx.platform, false)
    const params: DiskParams = {dir: fill.dir, bytes: fill.bytes, rate: spec.rate, mode: spec.mode, ...(fill.remote && !fill.createdByExperiment ? {keepFree: ctx.experiment.safety.diskFloor} : {})}
    const stressor = ctx.launchStressor({kind: 'disk', params, deadline: ctx.deadline, where: 'target'})
    await stressor.ready
    // how full the filesystem got, read while the fill holds its space (the file goes when the stressor stops);
    // a remote filesystem is not visible from here: the stressor's own "full" says it
    let fullest = 0
    const watch = setInterval(() => {
      if (fill.remote) return
      const fs = filesystem(fill.dir)
      fullest = Math.max(fullest, 1 - fs.free / fs.total)
    }, 250)
    return {
      progress: () => `wrote ${formatBytes(stressor.latest()?.bytes ?? 0)} of ${formatBytes(fill.bytes)}${stressor.latest()?.full ? ' (filesystem full)' : ''}`,
      stop: async () => {
        clearInterval(watch)
        await stressor.stop()
      },
      efficacy() {
        const written = stressor.latest()?.bytes ?? 0
        const full = stressor.latest()?.full === true || fullest >= 0.999
        const how = `${formatBytes(written)} of ${formatBytes(fill.bytes)} written to ${fill.dir}${fill.remote ? ' where the target runs' : `; the filesystem reached ${(fullest * 100).toFixed(1)}%`}`
        return efficacyOf(fill.bytes, written, 'bytes', `${how}${full ? ' (full)' : ''}`, 0.9, full ? true : undefined)
      },
    } satisfies ActiveFault
  },
}
