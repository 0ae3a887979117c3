// Simulated block statistics like this machine kind's (docs: /work/shared/verdict-design.md, measured at 681ef94):
// a block's p99 is lognormal with a between-block sd of log 0.35 on a quiet machine and 0.8 with one core busy,
// and now and then a block is owned by a burst from elsewhere (x3). Optionally a slow machine state that
// neighbouring blocks share (AR(1) on the log scale), which interleaving pairs is meant to cancel.
// Also the sequential procedures the verdict runs over such blocks, so that tests check their error rates.
import {pairedLogRatio, welchLogRatio, type BlockEstimate} from '../../src/verdict/blocks.js'
import type {LookPlan} from '../../src/verdict/sequential.js'
import {threeWay} from '../../src/verdict/three-way.js'
import type {Rng} from '../../src/verdict/stats.js'
import type {Verdict} from '../../src/verdict/types.js'

export interface Noise {
  name: string
  /** between-block sd of log(p99) */
  sigma: number
  /** share of blocks a burst owns, and how much slower it makes them */
  burstShare: number
  burstFactor: number
  /** a machine state neighbouring blocks share: its stationary sd on the log scale and its block-to-block correlation */
  drift?: {sd: number, rho: number}
}

export const QUIET: Noise = {name: 'quiet', sigma: 0.35, burstShare: 0.05, burstFactor: 3}
export const BUSY: Noise = {name: 'busy', sigma: 0.8, burstShare: 0.05, burstFactor: 3}

export function standardNormal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

/** successive blocks' p99 in seconds (around 20 ms), each multiplied by the factor asked for that block */
export function blockSource(rng: Rng, noise: Noise): (factor: number) => number {
  const {drift} = noise
  let state = drift ? drift.sd * standardNormal(rng) : 0
  return (factor: number) => {
    if (drift) state = drift.rho * state + drift.sd * Math.sqrt(1 - drift.rho ** 2) * standardNormal(rng)
    const burst = rng() < noise.burstShare ? noise.burstFactor : 1
    return 0.02 * factor * Math.exp(state + noise.sigma * standardNormal(rng)) * burst
  }
}

export interface SequentialOutcome {
  verdict: Verdict
  /** pairs of blocks (or blocks per side, unpaired) measured when the run stopped */
  pairs: number
  looks: number
}

/**
 * The interleaved design: each pair is a fault-on and a fault-off block in a seeded random order, the on-block's p99
 * multiplied by (1 + change). Look after every `pairsPerLook` pairs at the plan's z; stop at the first look whose
 * verdict is not inconclusive, or when the plan's looks are spent.
 */
export function runPaired(rng: Rng, noise: Noise, change: number, plan: LookPlan, pairsPerLook: number, maxIncrease: number): SequentialOutcome {
  const next = blockSource(rng, noise)
  const on: number[] = []
  const off: number[] = []
  return sequential(plan, pairsPerLook, maxIncrease, () => {
    if (rng() < 0.5) {
      on.push(next(1 + change))
      off.push(next(1))
    } else {
      off.push(next(1))
      on.push(next(1 + change))
    }
  }, () => pairedLogRatio(on, off))
}

/** The unpaired design: baseline blocks then fault blocks, one of each per step, compared by Welch on the logs. */
export function runUnpaired(rng: Rng, noise: Noise, change: number, plan: LookPlan, blocksPerLook: number, maxIncrease: number): SequentialOutcome {
  const next = blockSource(rng, noise)
  const on: number[] = []
  const off: number[] = []
  return sequential(plan, blocksPerLook, maxIncrease, () => {
    off.push(next(1))
    on.push(next(1 + change))
  }, () => welchLogRatio(on, off))
}

function sequential(plan: LookPlan, perLook: number, maxIncrease: number, step: () => void, estimate: () => BlockEstimate): SequentialOutcome {
  let pairs = 0
  for (let look = 1; look <= plan.maxLooks; look++) {
    for (let i = 0; i < perLook; i++, pairs++) step()
    const {verdict} = threeWay(estimate(), Math.log1p(maxIncrease), 'above', plan.z(look))
    if (verdict !== 'inconclusive') return {verdict, pairs, looks: look}
  }
  return {verdict: 'inconclusive', pairs, looks: plan.maxLooks}
}

export interface Rates {
  breach: number
  contained: number
  inconclusive: number
  meanPairs: number
  runs: number
}

export function rates(runs: number, once: () => SequentialOutcome): Rates {
  let breach = 0
  let contained = 0
  let pairs = 0
  for (let r = 0; r < runs; r++) {
    const outcome = once()
    if (outcome.verdict === 'breach') breach++
    else if (outcome.verdict === 'contained') contained++
    pairs += outcome.pairs
  }
  return {breach: breach / runs, contained: contained / runs, inconclusive: (runs - breach - contained) / runs, meanPairs: pairs / runs, runs}
}

/** Monte Carlo standard error of a rate p over n runs */
export function mcError(p: number, runs: number): number {
  return Math.sqrt(p * (1 - p) / runs)
}
