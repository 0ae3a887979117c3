// A CPU hog in the target, sized against the target's own CPU allowance (its quota, else its cpuset, else the
// host): 50% in a 0.5-CPU box is a quarter of a core, never half the host. Or an absolute number of cores, which
// chaos matrix uses so that every isolation level gets the same dose.
import {PlanError} from '../platforms/platform.js'
import type {Allowance} from '../platforms/platform.js'
import type {CpuParams} from '../stressors/protocol.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

type CpuHogSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'cpu-hog'}>

/**
 * The CPU dose against an allowance: cores (given, or load × the allowance) on workers each below one core. The one
 * place it is computed: chaos run (the target's allowance, and each further container's on kubernetes), chaos
 * matrix (the planned one) and chaos stress (--cpus, else the host) all ask here.
 */
export function cpuDose(spec: Pick<CpuHogSpec, 'cores' | 'load' | 'workers'>, allowance: Allowance): {cores: number, workers: number, loadPerWorker: number, source: string} {
  if (spec.cores !== undefined && spec.cores > allowance.cpus + 1e-9) {
    throw new PlanError(`cpu-hog: cores ${spec.cores} is above the target's allowance of ${allowance.cpus} CPU (${allowance.cpuSource}); a dose it cannot take could not be proven to land`)
  }
  if (spec.cores === undefined && !Number.isFinite(allowance.cpus)) throw new PlanError(allowance.unlimitedWhy ?? 'cpu-hog: the target has no CPU allowance to be relative to; give the fault cores:')
  const cores = spec.cores ?? allowance.cpus * spec.load
  const workers = spec.workers ?? Math.max(1, Math.ceil(cores - 1e-9))
  const loadPerWorker = cores / workers
  if (loadPerWorker > 1) {
    throw new PlanError(`cpu-hog: ${cores.toFixed(2)} cores asked with ${workers} workers would need ${Math.round(loadPerWorker * 100)}% of a core each; give workers: ${Math.ceil(cores)} or more`)
  }
  const source = spec.cores !== undefined && allowance.cpuSource === 'unlimited' ? `cores ${spec.cores} (no CPU limit)`
    : spec.cores !== undefined ? `cores ${spec.cores} of ${allowance.cpus} CPU (${allowance.cpuSource})` : `${Math.round(spec.load * 100)}% of ${allowance.cpus} CPU (${allowance.cpuSource})`
  return {cores, workers, loadPerWorker, source}
}

export const cpuHog: FaultDriver<CpuHogSpec> = {
  type: 'cpu-hog',

  guard(spec) {
    // nothing to refuse from the file alone: the dose is relative to the target's allowance, or checked against it
    return `cpu-hog: ${spec.cores !== undefined ? `${spec.cores} cores` : `${Math.round(spec.load * 100)}% of the target's CPU allowance`}`
  },
  // a hundredth of a core in one worker: the duty-cycle controller holds it, and the box's accounting sees it
  nullDose: (spec) => ({type: spec.type, load: spec.load, cores: 0.01, workers: 1}),

  plan(spec, _experiment, platform) {
    const dose = cpuDose(spec, platform.target.allowance())
    return `cpu-hog: ${dose.cores.toFixed(2)} cores = ${dose.source}, ${dose.workers} worker(s) at ${Math.round(dose.loadPerWorker * 100)}% each, charged to ${platform.target.boundary}`
  },

  async start(spec, ctx) {
    const dose = cpuDose(spec, ctx.platform.target.allowance())
    const paramsOf = (d: typeof dose): CpuParams => ({workers: d.workers, loadPerWorker: d.loadPerWorker})
    const stressor = ctx.launchStressor({
      kind: 'cpu', params: paramsOf(dose), deadline: ctx.deadline, where: 'target',
      doseFor(allowance) {
        const other = cpuDose(spec, allowance)
        return {params: paramsOf(other), weight: dose.cores > 0 ? other.cores / dose.cores : 1}
      },
    })
    await stressor.ready
    const startedAt = Date.now()
    return {
      progress() {
        const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000)
        return `burning ${((stressor.latest()?.cpuSeconds ?? 0) / seconds).toFixed(2)} of ${dose.cores.toFixed(2)} cores`
      },
      stop: async () => {
        await stressor.stop()
      },
      efficacy(window) {
        const seconds = (window.endedAt - window.startedAt) / 1000
        const asked = dose.cores * seconds
        const fromBox = window.ownBox && window.after.cpuSeconds !== undefined && window.before.cpuSeconds !== undefined
          ? window.after.cpuSeconds - window.before.cpuSeconds : undefined
        const achieved = fromBox ?? stressor.latest()?.cpuSeconds ?? 0
        const where = fromBox !== undefined ? "the target's cgroup accounting" : "the stressor's own CPU time"
        return efficacyOf(asked, achieved, 'cpu-seconds', `${(achieved / seconds).toFixed(2)} of ${dose.cores.toFixed(2)} cores asked, from ${where}`)
      },
    } satisfies ActiveFault
  },
}
