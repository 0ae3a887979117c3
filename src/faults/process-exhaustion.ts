// Process exhaustion, a fork bomb with a brake: `count` processes (or threads) created in the target's own box at
// `rate`, held until the fault is removed. The isolated case: the target's own pids limit refuses the rest, and the
// neighbours, in boxes of their own, fork as before. The control: one shared pids budget, which the target takes,
// so a neighbour that forks (a request that runs a program) is refused (EAGAIN).
import {readFileSync} from 'node:fs'

import type {SafetySpec} from '../experiment/schema.js'
import {formatBytes} from '../experiment/units.js'
import {capabilityOf, PlanError, type Platform} from '../platforms/platform.js'
import type {ForkParams} from '../stressors/protocol.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

type ProcessExhaustionSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'process-exhaustion'}>

/** What a thread may take: the default stack (ulimit -s) of glibc's threads, the most each can touch. */
export const THREAD_STACK_BYTES = 8 * 1024 ** 2

/** The kernel's pid_max, or undefined where it cannot be read. */
export function readPidMax(file = '/proc/sys/kernel/pid_max'): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(value) && value > 0 ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * The dose, the one place it is computed and capped: chaos run, chaos stress and chaos calibrate all ask here. Refuses
 * (PlanError) a count above safety.maxProcesses, above half of the kernel's pid_max (the rest of the machine keeps
 * the other half), and threads whose stacks could take more than safety.maxMemory.
 */
export function forkDose(spec: Pick<ProcessExhaustionSpec, 'count' | 'rate' | 'kind'>, safety: Pick<SafetySpec, 'maxProcesses' | 'maxMemory'>, pidMax = readPidMax()): ForkParams {
  const what = spec.kind === 'threads' ? 'threads' : 'processes'
  if (spec.count > safety.maxProcesses) {
    throw new PlanError(`process-exhaustion: count ${spec.count} is above safety.maxProcesses (${safety.maxProcesses}); raise safety.maxProcesses in the experiment if you mean it`)
  }
  if (pidMax !== undefined && spec.count > Math.floor(pidMax / 2)) {
    throw new PlanError(`process-exhaustion: count ${spec.count} is above half of this machine's pid_max (${pidMax}): ${what} beyond ${Math.floor(pidMax / 2)} would take pids the rest of the machine needs, whatever the target's box allows`)
  }
  if (spec.kind === 'threads' && spec.count * THREAD_STACK_BYTES > safety.maxMemory) {
    throw new PlanError(`process-exhaustion: ${spec.count} threads with a stack of ${formatBytes(THREAD_STACK_BYTES)} each could take ${formatBytes(spec.count * THREAD_STACK_BYTES)}, above safety.maxMemory (${formatBytes(safety.maxMemory)}); lower count or raise safety.maxMemory`)
  }
  return {count: spec.count, kind: spec.kind, ...(spec.rate === undefined ? {} : {rate: spec.rate})}
}

/** "200 processes at 50/s" */
export function describeForkDose(params: {count: number, rate?: number | undefined, kind: ForkParams['kind']}): string {
  return `${params.count} ${params.kind} ${params.rate === undefined ? 'as fast as possible' : `at ${+params.rate.toFixed(3)}/s`}`
}

/** How many the dose asks for by `seconds` into the window: the ramp at its rate, capped at count. */
export function askedBy(params: ForkParams, seconds: number): number {
  return params.rate === undefined ? params.count : Math.min(params.count, Math.max(1, Math.floor(params.rate * seconds)))
}

/** What the target's own accounting says of one fault window. */
export interface ForkWindowFigures {
  asked: number
  /** children (or threads) the stressor held at the end of the window */
  held: number
  /** tasks of the target's box before the stressor started and at the end of the window */
  boxBefore?: number
  boxAfter?: number
  /** refusals of the box's pids limit (pids.events max) before the stressor started and at the end */
  refusedBefore?: number
  refusedAfter?: number
  limit?: number
  boundary: string
  kind: ForkParams['kind']
}

/**
 * Whether the dose landed, from the target's box where it has pids accounting: it grew by at least what the
 * stressor holds (what it holds beyond that is not in the box), and either held what was asked, or its own pids
 * limit refused the rest, which proves the dose pressed the boundary. Without the box's accounting (no box of its
 * own, no pids controller), the stressor's own count.
 */
export function forkEfficacy(f: ForkWindowFigures) {
  const fromBox = f.boxBefore !== undefined && f.boxAfter !== undefined
  const growth = fromBox ? f.boxAfter! - f.boxBefore! : undefined
  const achieved = growth === undefined ? f.held : Math.max(0, Math.min(f.held, growth))
  const refused = f.refusedBefore !== undefined && f.refusedAfter !== undefined ? f.refusedAfter - f.refusedBefore : undefined
  if (refused !== undefined && refused > 0 && achieved > 0) {
    return efficacyOf(f.asked, achieved, f.kind, `${achieved} ${f.kind} held in ${f.boundary} (pids.current ${f.boxBefore} → ${f.boxAfter}), then its pids limit${f.limit === undefined ? '' : ` of ${f.limit}`} refused ${refused} more: the dose pressed the boundary`, 0.9, true)
  }
  const where = growth === undefined ? "from the stressor's own count (the target has no pids accounting of its own to prove it)"
    : `from the target's pids accounting (pids.current ${f.boxBefore} → ${f.boxAfter})`
  return efficacyOf(f.asked, achieved, f.kind, `${achieved} of ${f.asked} ${f.kind} asked held, ${where}`)
}

function taskLimitOf(platform: Platform): number | undefined {
  return capabilityOf(platform, 'tasks', 'process-exhaustion').taskLimit()
}

export const processExhaustion: FaultDriver<ProcessExhaustionSpec> = {
  type: 'process-exhaustion',

  guard(spec, experiment, platform) {
    // the platform's refusal first, in its own words; then the caps this file and this machine set
    capabilityOf(platform, 'tasks', 'process-exhaustion')
    return `process-exhaustion: ${describeForkDose(forkDose(spec, experiment.safety))}, held`
  },
  // two processes at once: a dose too small to matter, still one the target's pids accounting sees land
  nullDose: (spec) => ({type: spec.type, count: 2, kind: 'processes'}),

  plan(spec, experiment, platform) {
    const line = this.guard(spec, experiment, platform)
    const limit = taskLimitOf(platform)
    const against = limit === undefined ? 'no pids limit' : `a pids limit of ${limit}${spec.count >= limit ? `, which will refuse the rest` : ''}`
    return `${line}, charged to ${platform.target.boundary} (${against})`
  },

  async start(spec, ctx) {
    const params = forkDose(spec, ctx.experiment.safety)
    const limit = taskLimitOf(ctx.platform)
    // the box before the stressor exists: what it grows by from here is the stressor's
    const before = ctx.platform.target.sample()
    const stressor = ctx.launchStressor({kind: 'fork', params, deadline: ctx.deadline, where: 'target'})
    await stressor.ready
    const startedAt = Date.now()
    return {
      progress: () => `holding ${stressor.latest()?.tasks ?? 0} of ${params.count} ${params.kind}${(stressor.latest()?.refused ?? 0) > 0 ? `, ${stressor.latest()!.refused} refused` : ''}`,
      stop: async () => {
        await stressor.stop()
      },
      efficacy(window) {
        const seconds = (window.endedAt - startedAt) / 1000
        return forkEfficacy({
          asked: askedBy(params, seconds), held: stressor.latest()?.tasks ?? 0,
          boxBefore: before.tasks, boxAfter: window.after.tasks,
          refusedBefore: before.tasksRefused, refusedAfter: window.after.tasksRefused,
          limit: window.after.tasksLimit ?? limit, boundary: ctx.platform.target.boundary, kind: params.kind,
        })
      },
    } satisfies ActiveFault
  },
}
