// The measuring design of a run, fixed in the plan before anything starts: which blocks, in which seeded order,
// when the data are looked at, and at what boundary each look may decide.
import {formatDuration} from '../experiment/units.js'
import type {Experiment} from '../experiment/schema.js'
import {driverFor} from '../faults/index.js'
import {groupSequentialBoundaries} from '../verdict/sequential.js'
import {normalQuantile, seededRng} from '../verdict/stats.js'

export type Arm = 'on' | 'off'

/**
 * The shortest fault-on block of a fault that ends itself: a shorter episode is measured for this long, so that a
 * block's tail quantile rests on some hundred requests rather than a few.
 */
export const EPISODE_FLOOR_MS = 1000

export interface Design {
  kind: 'interleaved' | 'windows'
  /** a block's planned length: verdict.block, or for a fault that ends itself its expected episode */
  blockMs: number
  /**
   * For a fault that ends itself (a leak killed by its limit): each fault-on block is its episode, from the dose
   * landing to the fault's end, at least EPISODE_FLOOR_MS and at most phases.inject, and its fault-off partner as
   * long. A fixed block longer than the episode would spread the episode's harm over time with no fault in it.
   */
  episodic: boolean
  settleMs: number
  budgetMs: number
  alpha: number
  spending: Experiment['verdict']['spending']
  /** pairs planned at most (interleaved); 1 for windows */
  maxPairs: number
  /** the order of the arms in each pair: seeded by the run id, the first pair fault-off first */
  order: Arm[][]
  /** the looks: after this many usable pairs, at this one-sided critical value */
  looks: {pairs: number, z: number}[]
  /** why this design, when it is not the one the experiment asked for */
  note?: string
}

/**
 * How many settles a pair of the interleaved design holds: one after each block, fault-on or off, so that both arms
 * sit alike in the pair's timing (the runner's settleAfter says why). Until 2026-12-07 it was one, after the
 * removal only; a calibration made then says so by not saying.
 */
export const SETTLES_PER_PAIR = 2

/** What one pair is expected to take, for the budget: two blocks, their settles, and a stressor's start-up. */
function pairMs(blockMs: number, settleMs: number): number {
  return 2 * blockMs + SETTLES_PER_PAIR * settleMs + 500
}

export interface PhaseOverrides {
  warmup?: number
  baseline?: number
  inject?: number
  recover?: number
  budget?: number
  design?: 'interleaved' | 'windows'
}

/**
 * Overrides from the command line or a game-day suite. A baseline or inject length asks for the windows design
 * (they are its windows' lengths) unless a design is given too.
 */
export function applyOverrides(experiment: Experiment, o: PhaseOverrides): void {
  for (const key of ['warmup', 'baseline', 'inject', 'recover'] as const) if (o[key] !== undefined) experiment.phases[key] = o[key]
  if (o.budget !== undefined) experiment.verdict.budget = o.budget
  if (o.design !== undefined) experiment.verdict.design = o.design
  else if (o.baseline !== undefined || o.inject !== undefined) experiment.verdict.design = 'windows'
}

/** The experiment's design: its own choice, else interleaved, but windows for a Prometheus source (its scrapes lag). */
export function designKind(experiment: Experiment): Design['kind'] {
  return experiment.verdict.design ?? (experiment.metrics.source === 'prometheus' ? 'windows' : 'interleaved')
}

/** The most a run can take beyond its warm-up: the windows, or the budget and one last episode. */
export function measuringMs(experiment: Experiment): number {
  const {phases, verdict} = experiment
  return designKind(experiment) === 'windows' ? phases.baseline + phases.inject + phases.recover : verdict.budget + phases.inject
}

export function planDesign(experiment: Experiment, runId: string): Design {
  const v = experiment.verdict
  const kind = designKind(experiment)
  const note = v.design === undefined && kind === 'windows' ? 'metrics.source prometheus: its scrapes lag blocks of a few seconds, so one baseline window and one fault window' : undefined
  const base = {blockMs: v.block, episodic: false, settleMs: v.settle, budgetMs: v.budget, alpha: v.alpha, spending: v.spending, note}
  if (kind === 'windows') {
    return {...base, kind, maxPairs: 1, order: [['off', 'on']], looks: [{pairs: 1, z: normalQuantile(1 - v.alpha)}]}
  }
  const driver = driverFor(experiment.fault)
  if (driver.episodeMs) {
    base.episodic = true
    const expected = driver.episodeMs(experiment.fault, experiment)
    if (expected !== null) base.blockMs = Math.min(experiment.phases.inject, Math.max(EPISODE_FLOOR_MS, expected))
  }
  const maxPairs = Math.max(v.firstLook, Math.floor(v.budget / pairMs(base.blockMs, v.settle)))
  const counts: number[] = []
  for (let n = v.firstLook; n < maxPairs; n += v.lookEvery) counts.push(n)
  counts.push(maxPairs)
  const zs = groupSequentialBoundaries(counts.map((n) => n / maxPairs), v.alpha, v.spending)
  const rng = seededRng(`${runId}/order`)
  const order: Arm[][] = Array.from({length: maxPairs}, (_, i) => (i > 0 && rng() < 0.5 ? ['on', 'off'] : ['off', 'on']))
  return {...base, kind, maxPairs, order, looks: counts.map((pairs, i) => ({pairs, z: zs[i]}))}
}

export function describeDesign(design: Design): string {
  const alpha = `alpha ${design.alpha} per wrong verdict`
  if (design.kind === 'windows') return `design: one baseline window, then one fault window, judged once (${alpha})${design.note ? `; ${design.note}` : ''}`
  const looks = design.looks.map((l) => l.pairs).join(', ')
  const blocks = design.episodic
    ? `fault-on blocks that are the fault's own episodes (it ends itself; about ${formatDuration(design.blockMs)} expected, at least ${formatDuration(EPISODE_FLOOR_MS)}), each fault-off block as long as its partner,`
    : `fault-on/fault-off blocks of ${formatDuration(design.blockMs)}`
  return `design: interleaved ${blocks} in a seeded order, ${formatDuration(design.settleMs)} settle after each block (fault-on or off, so both arms sit alike in a pair); looks after ${looks} pairs (${design.spending} spending, ${alpha}); budget ${formatDuration(design.budgetMs)}, then inconclusive`
}
