// Runs one experiment at several isolation levels, each repeated, in a seeded shuffled interleaved order, and
// aggregates the journals per level. No oclif here: the command only prints events and the result.
import {exitCodeFor} from '../cli/errors.js'
import type {Experiment} from '../experiment/schema.js'
import type {Journal} from '../report/journal.js'
import {measuringMs} from '../run/design.js'
import type {RunEvent} from '../run/events.js'
import {ExitCode} from '../run/exit-codes.js'
import {worseExitCode, type FailOn} from '../run/gate.js'
import {newRunId, runExperiment, type RunOptions} from '../run/runner.js'
import {aggregateLevels} from './aggregate.js'
import {describeOrder, interleavedOrder} from './order.js'
import type {Level, MatrixResult, MatrixRun, MatrixSlot} from './types.js'

export type MatrixEvent =
  | {type: 'plan', lines: string[]}
  | {type: 'run-start', slot: MatrixSlot, index: number, total: number, runId: string}
  | {type: 'run', event: RunEvent}
  | {type: 'run-end', run: MatrixRun}

export interface MatrixOptions {
  experiment: Experiment
  file?: string
  levels: Level[]
  repeat: number
  seed: string
  failOn: FailOn
  /** per level, what --fail-on mismatch compares with; default: the experiment's own level expects `expect` */
  expectations?: Partial<Record<Level, 'contained' | 'breach'>>
  /** aborting it interrupts the current run (rolled back, exit 3) and starts no more */
  signal?: AbortSignal
  onEvent?: (event: MatrixEvent) => void
  /** the run loop; replaced in unit tests */
  run?: (options: RunOptions) => Promise<Journal>
}

/** The experiment's own target level expects what the experiment says; the other levels only inform. */
export function defaultExpectations(experiment: Experiment, levels: readonly Level[]): Partial<Record<Level, 'contained' | 'breach'>> {
  const own = experiment.platform === 'kubernetes' ? experiment.kubernetes?.level ?? 'stated' : experiment.target.isolation.level
  return levels.includes(own) ? {[own]: experiment.expect} : {}
}

export function matrixPlan(options: MatrixOptions, order: MatrixSlot[], expectations: Partial<Record<Level, 'contained' | 'breach'>>): string[] {
  const {experiment, levels, repeat, seed} = options
  // an interleaved run stops when decided: its budget is the most it can take
  const perRunMs = 2000 + experiment.phases.warmup + measuringMs(experiment)
  const expected = Object.entries(expectations).map(([level, verdict]) => `${level} ${verdict}`)
  return [
    `matrix ${experiment.metadata.name}: ${levels.join(', ')} x ${repeat} repeat${repeat === 1 ? '' : 's'} = ${order.length} runs, at most ${Math.round(order.length * perRunMs / 1000)}s`,
    `order (seed ${seed}): ${describeOrder(order)}`,
    `expect: ${expected.length > 0 ? expected.join(', ') : 'nothing (every level informs)'}; gate --fail-on ${options.failOn}`,
  ]
}

/**
 * The same fault at every level: a CPU hog sized as a share of its allowance would be a different dose at each
 * (100% of a pinned core is one core; 100% of the host under none is every core, which cannot land beside the
 * neighbours), so it is fixed in cores at the experiment's own level. Returns the line that says so, if any.
 */
export async function fixDose(experiment: Experiment): Promise<string | undefined> {
  const fault = experiment.fault
  // on pods each level's limits are the cluster's, unknown until that level's pods are chosen: say what that means
  if (experiment.platform === 'kubernetes') {
    const relative = fault.type === 'cpu-hog' ? fault.cores === undefined : fault.type === 'memory-leak' ? 'fraction' in fault.limit : fault.type === 'disk-fill' && 'fraction' in fault.size
    return relative ? `dose: ${fault.type} is relative to each level's own container limits, so each level gets a different dose; give an absolute one (cores:, a size) to compare the levels under one dose` : undefined
  }
  if (fault.type !== 'cpu-hog' || fault.cores !== undefined) return undefined
  const {createPlatform} = await import('../platforms/registry.js')
  const {cpuDose} = await import('../faults/cpu-hog.js')
  // planning only: a platform creates nothing before setup(); one that learns the allowance where the target lives
  // (a host's CPUs) is asked to plan first
  const own = await createPlatform({experiment, runId: 'matrixplan'})
  let allowance = own.plannedTargetAllowance?.()
  if (allowance === undefined && own.plannedTargetAllowance) {
    await own.plan()
    allowance = own.plannedTargetAllowance()
  }
  if (allowance === undefined) return undefined
  const dose = cpuDose(fault, allowance)
  fault.cores = Number(dose.cores.toFixed(3))
  return `dose: cpu-hog fixed at ${fault.cores} cores for every level (${dose.source} at the experiment's own isolation)`
}

export async function runMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const {levels, repeat, seed, failOn} = options
  const experiment = structuredClone(options.experiment)
  const doseLine = await fixDose(experiment)
  const emit = options.onEvent ?? (() => undefined)
  const run = options.run ?? runExperiment
  const expectations = options.expectations ?? defaultExpectations(experiment, levels)
  const order = interleavedOrder(levels, repeat, seed)
  const startedAt = new Date().toISOString()
  emit({type: 'plan', lines: [...matrixPlan(options, order, expectations), ...(doseLine ? [doseLine] : [])]})

  const runs: MatrixRun[] = []
  for (const [i, slot] of order.entries()) {
    if (options.signal?.aborted) break
    const runId = newRunId()
    emit({type: 'run-start', slot, index: i + 1, total: order.length, runId})
    let matrixRun: MatrixRun
    try {
      const journal = await run({
        // each run gets its own copy: nothing one run does to its experiment may leak into the next
        experiment: structuredClone(experiment), file: options.file, runId, levelOverride: slot.level, signal: options.signal,
        onEvent: (event) => emit({type: 'run', event}),
      })
      matrixRun = {...slot, index: i + 1, journal}
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      matrixRun = {...slot, index: i + 1, error: {message, exitCode: code}}
    }
    runs.push(matrixRun)
    emit({type: 'run-end', run: matrixRun})
  }

  const interrupted = options.signal?.aborted === true
  const summary = aggregateLevels(runs, {levels, repeat, expectations, failOn})
  let exitCode: number = summary.reduce((code, level) => worseExitCode(code, level.exitCode), ExitCode.Matched as number)
  // a run refused as invalid (exit 2) says the experiment cannot run at that level at all
  for (const r of runs) if (r.error?.exitCode === ExitCode.Invalid) exitCode = worseExitCode(exitCode, ExitCode.Invalid)
  if (interrupted) exitCode = worseExitCode(exitCode, ExitCode.Aborted)
  return {
    kind: 'chaos-matrix', schemaVersion: 1,
    experiment: {name: experiment.metadata.name, description: experiment.metadata.description, file: options.file},
    seed, levels, repeat, order, startedAt, endedAt: new Date().toISOString(), runs, summary, failOn, exitCode, interrupted,
  }
}
