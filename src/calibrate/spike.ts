// The spike-in of chaos calibrate: a known slowdown applied to a neighbour itself during the fault-on blocks, a CPU
// quota on the neighbour's own box (cgroup v1 cpu.cfs_quota_us, v2 cpu.max), restored when the block ends. Only a
// box this run created for that neighbour alone is touched: on the process platform, a neighbour at level cgroup.
// Docker and Kubernetes would need their engines to change a running container's quota: not supported here.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Experiment} from '../experiment/schema.js'
import type {ActiveFault, FaultContext} from '../faults/fault.js'
import {efficacyOf} from '../faults/fault.js'
import type {CgroupPaths} from '../metrics/types.js'
import {PlanError, type WorkflowHandle} from '../platforms/platform.js'

export interface SpikeSpec {
  neighbor: string
  /** the quota asked, in cores */
  cores: number
}

/** Which neighbour a spike-in slows, refused before anything starts where this platform cannot do it. */
export function planSpike(experiment: Experiment, cores: number, neighbor?: string): SpikeSpec {
  if (experiment.platform !== 'process') {
    throw new PlanError(`calibrate: the spike-in (a CPU quota on a neighbour's own box) is supported on platform process only, not ${experiment.platform}; use --spikes 0 for A/A runs alone`)
  }
  const candidates = experiment.neighbors.filter((n) => (neighbor === undefined ? n.probe !== undefined : n.name === neighbor))
  const chosen = candidates[0]
  if (!chosen) {
    throw new PlanError(neighbor === undefined ? 'calibrate: no neighbour has a probe to measure the spike-in by; name one with --neighbor' : `calibrate: --neighbor ${neighbor} is not a neighbour of ${experiment.metadata.name} (${experiment.neighbors.map((n) => n.name).join(', ')})`)
  }
  if (chosen.run === undefined || chosen.isolation.level !== 'cgroup') {
    throw new PlanError(`calibrate: the spike-in needs neighbour ${chosen.name} in a box of its own that the run creates (run: and isolation level cgroup); it is ${chosen.run === undefined ? 'attached' : `at level ${chosen.isolation.level}`}, so a quota there would reach beyond it. Use --spikes 0`)
  }
  if (!(cores > 0) || cores > 64) throw new PlanError(`calibrate: --quota ${cores} is not a number of cores between 0 and 64`)
  if (chosen.isolation.cpus !== undefined && cores >= chosen.isolation.cpus) {
    throw new PlanError(`calibrate: --quota ${cores} is not below neighbour ${chosen.name}'s own quota of ${chosen.isolation.cpus} CPU, so it would slow nothing`)
  }
  return {neighbor: chosen.name, cores}
}

export function describeSpike(spike: SpikeSpec): string {
  return `spike-in: each fault-on block holds neighbour ${spike.neighbor} to ${spike.cores} CPU (a CFS quota on its own box), restored after; the experiment's fault is not started`
}

/** Where the quota lives in a box: v1 cpu.cfs_quota_us beside cpu.cfs_period_us, v2 cpu.max ("quota period"). */
interface QuotaFile {
  read(): {quotaUs: number | 'max', periodUs: number}
  write(quotaUs: number | 'max', periodUs: number): void
}

function quotaFile(paths: CgroupPaths): QuotaFile {
  if (paths.version === 2) {
    const file = join(paths.dir, 'cpu.max')
    return {
      read() {
        const [quota, period] = readFileSync(file, 'utf8').trim().split(/\s+/)
        return {quotaUs: quota === 'max' ? 'max' : Number(quota), periodUs: Number(period)}
      },
      write: (quotaUs, periodUs) => writeFileSync(file, `${quotaUs} ${periodUs}`),
    }
  }
  if (!paths.cpu) throw new PlanError('calibrate: the cgroup v1 cpu controller is not mounted, so no CPU quota can be set', 4)
  const quota = join(paths.cpu, 'cpu.cfs_quota_us')
  const period = join(paths.cpu, 'cpu.cfs_period_us')
  return {
    read() {
      const q = Number(readFileSync(quota, 'utf8').trim())
      return {quotaUs: q < 0 ? 'max' : q, periodUs: Number(readFileSync(period, 'utf8').trim())}
    },
    write: (quotaUs) => writeFileSync(quota, String(quotaUs === 'max' ? -1 : quotaUs)),
  }
}

function boxOf(workflow: WorkflowHandle): CgroupPaths {
  const box = (workflow as {box?: {paths(): CgroupPaths}}).box
  if (!box) throw new PlanError(`calibrate: neighbour ${workflow.name} has no box of its own on this platform`, 4)
  return box.paths()
}

/** The injector the runner starts instead of the experiment's fault: the quota on, then restored by stop(). */
export function spikeInjector(spike: SpikeSpec): {plan: string, start: (ctx: FaultContext) => Promise<ActiveFault>} {
  return {
    plan: describeSpike(spike),
    async start(ctx) {
      const neighbour = ctx.platform.neighbors.find((n) => n.name === spike.neighbor)
      if (!neighbour) throw new Error(`calibrate: neighbour ${spike.neighbor} is not running`)
      const file = quotaFile(boxOf(neighbour))
      const before = file.read()
      const quotaUs = Math.max(1000, Math.round(spike.cores * before.periodUs))
      const throttledBefore = neighbour.sample().throttledPeriods ?? 0
      file.write(quotaUs, before.periodUs)
      const held = file.read()
      let restored = false
      return {
        progress: () => `${spike.neighbor} held to ${spike.cores} CPU`,
        async stop() {
          if (restored) return
          restored = true
          file.write(before.quotaUs, before.periodUs)
        },
        efficacy() {
          const throttled = (neighbour.sample().throttledPeriods ?? 0) - throttledBefore
          const achieved = held.quotaUs === 'max' ? 0 : held.quotaUs / held.periodUs
          return efficacyOf(spike.cores, achieved, 'cores', `neighbour ${spike.neighbor} held to ${achieved.toFixed(2)} CPU (${held.quotaUs}/${held.periodUs} us), throttled in ${throttled} periods`, 0.99,
            held.quotaUs === quotaUs)
        },
      }
    },
  }
}
