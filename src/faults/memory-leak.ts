// A memory leak in the target: a stressor in the target's box allocating at a set rate up to a limit, holding
// what it took. The isolated case: the target's own memory limit stops it (OOM kill or cap). The control: the
// leak grows inside the box its neighbours live in.
import {formatBytes} from '../experiment/units.js'
import {PlanError} from '../platforms/platform.js'
import type {MemoryParams} from '../stressors/protocol.js'
import type {StressorHandle} from '../stressors/spawn.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

/** the share of its memory limit at which a target counts as pressed against it */
const AT_LIMIT = 0.95
/** how long a leak short of its dose must have stopped growing to count as held by its limit */
const STALLED_MS = 1000

type MemoryLeakSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'memory-leak'}>

/** How far the leak goes: the limit given, or a share of the target's memory limit. The one place it is computed. */
function leakLimit(spec: MemoryLeakSpec, memoryLimit: number | undefined, targetName: string): number {
  if ('bytes' in spec.limit) return spec.limit.bytes
  if (memoryLimit === undefined) throw new PlanError(`fault.limit is a percentage, but the target ${targetName} has no memory limit to take it of; give a size such as 512Mi`)
  return Math.round(spec.limit.fraction * memoryLimit)
}

function capped(limit: number, experiment: import('../experiment/schema.js').Experiment): number {
  if (limit > experiment.safety.maxMemory) {
    throw new PlanError(`fault.limit ${formatBytes(limit)} is above safety.maxMemory (${formatBytes(experiment.safety.maxMemory)}); raise safety.maxMemory in the experiment if you mean it`)
  }
  return limit
}

export const memoryLeak: FaultDriver<MemoryLeakSpec> = {
  type: 'memory-leak',

  guard(spec, experiment) {
    // a limit in bytes is capped from the file alone; a percentage waits for the target's memory limit
    if ('bytes' in spec.limit) capped(spec.limit.bytes, experiment)
    const upTo = 'bytes' in spec.limit ? formatBytes(spec.limit.bytes) : `${Math.round(spec.limit.fraction * 100)}% of the target's memory limit`
    return `memory-leak: ${formatBytes(spec.rate)}/s up to ${upTo}${spec.hold ? ', held' : ''}`
  },
  // 2 MiB at 1 MiB/s, then given back: the episode ends by itself after 2 s, as a leak killed by its limit does, so
  // its fault-on blocks are about as long as the real dose's (a held one would stretch each to phases.inject); its
  // progress shows it landed
  nullDose: (spec) => ({...spec, rate: 1024 ** 2, limit: {bytes: 2 * 1024 ** 2}, hold: false}),

  // the leak grows at its rate until its limit or the box's, whichever comes first, and ends there (killed, or
  // holding all it was asked for); the box's other memory makes the real episode a little shorter. In a box shared
  // with neighbours, what they hold decides where the leak meets the limit, and whom the kernel kills: unknown
  episodeMs(spec, experiment) {
    if (experiment.target.isolation.level === 'shared') return null
    const box = experiment.target.isolation.memory
    const limit = 'bytes' in spec.limit ? spec.limit.bytes : box === undefined ? undefined : spec.limit.fraction * box
    const reach = Math.min(limit ?? Infinity, box ?? Infinity)
    return Number.isFinite(reach) ? Math.round(reach / spec.rate * 1000) : null
  },

  plan(spec, experiment, platform) {
    this.guard(spec, experiment, platform)
    const limit = capped(leakLimit(spec, platform.target.allowance().memoryLimit, experiment.target.name), experiment)
    return `memory-leak: ${formatBytes(spec.rate)}/s up to ${formatBytes(limit)}${spec.hold ? ', held' : ''}, charged to ${platform.target.boundary}`
  },

  async start(spec, ctx) {
    const limit = leakLimit(spec, ctx.platform.target.allowance().memoryLimit, ctx.experiment.target.name)
    const paramsOf = (upTo: number): MemoryParams => ({rate: spec.rate, limit: upTo, hold: spec.hold})
    const stressor: StressorHandle = ctx.launchStressor({
      kind: 'memory', params: paramsOf(limit), deadline: ctx.deadline, where: 'target',
      doseFor(allowance) {
        const other = leakLimit(spec, allowance.memoryLimit, ctx.experiment.target.name)
        return {params: paramsOf(other), weight: limit > 0 ? other / limit : 1}
      },
    })
    await stressor.ready
    let stoppedByUs = false
    let killedByKernel = false
    // when the leak last grew: a leak pressed against its limit stalls in the kernel's reclaim and stops reporting
    let grownTo = 0
    let lastGrowthAt = Date.now()
    // the episode ends when the leak is killed, or has taken all it was asked for and holds it
    let reachedLimit: () => void = () => undefined
    const held = new Promise<void>((resolve) => (reachedLimit = resolve))
    stressor.onMessage((message) => {
      if (message.type === 'progress' && (message.bytes ?? 0) > grownTo) {
        grownTo = message.bytes!
        lastGrowthAt = Date.now()
        if (grownTo >= limit) reachedLimit()
      }
    })
    void stressor.exited.then((exit) => {
      // the handle knows whether the SIGKILL was its own (stop() escalating); a remote one learns how the stressor
      // ended from its helper, possibly after the inject phase asked it to stop
      killedByKernel = exit.killedBy === 'oom-or-sigkill' || (!stoppedByUs && exit.signal === 'SIGKILL')
    })
    return {
      ended: Promise.race([stressor.exited, held]),
      progress: () => `leaked ${formatBytes(stressor.latest()?.bytes ?? 0)}`,
      async stop() {
        stoppedByUs = true
        await stressor.stop()
      },
      efficacy(window) {
        const seconds = (window.endedAt - window.startedAt) / 1000
        const asked = Math.min(limit, spec.rate * seconds)
        const leaked = stressor.latest()?.bytes ?? 0
        const oomInBox = (window.after.oomKills ?? 0) > (window.before.oomKills ?? 0)
        const boxGrowth = window.ownBox && window.peakMemoryBytes !== undefined && window.before.memoryBytes !== undefined
          ? window.peakMemoryBytes - window.before.memoryBytes : undefined
        const achieved = Math.max(leaked, boxGrowth ?? 0)
        const memoryLimit = ctx.platform.target.allowance().memoryLimit
        // the box's limit is as far as a leak can go in it: that is the dose that could land
        const reachable = Math.min(asked, memoryLimit ?? asked)
        if (killedByKernel || oomInBox) {
          return efficacyOf(reachable, achieved, 'bytes', `the leak reached ${formatBytes(leaked)} and was OOM-killed by the limit of ${ctx.platform.target.boundary}`, 0.9, true)
        }
        const peak = window.peakMemoryBytes
        const stalledMs = Math.min(window.endedAt, Date.now()) - lastGrowthAt
        if (memoryLimit !== undefined && peak !== undefined && peak >= AT_LIMIT * memoryLimit && asked > memoryLimit && leaked > 0 && stalledMs >= STALLED_MS) {
          // pressed against the limit, the kernel reclaims (and stalls the leak) before it OOM-kills. A box merely
          // full of page cache does not count: there the leak goes on growing, evicting it.
          return efficacyOf(reachable, achieved, 'bytes', `the leak took the target to ${formatBytes(peak)} of its ${formatBytes(memoryLimit)} limit and was held there, not OOM-killed within the window`, 0.9, true)
        }
        return efficacyOf(asked, achieved, 'bytes', `the target's memory grew by ${formatBytes(achieved)} of ${formatBytes(asked)} asked`)
      },
    } satisfies ActiveFault
  },
}
