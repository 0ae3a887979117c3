// Latency observed on a shared machine comes in bursts: a few seconds where everything is slower. Requests in one
// second are then not independent, and a test that counts each request as evidence calls a burst a breach. With
// the interval as the block, a burst weighs as the seconds it lasted. These simulations show both.
import {describe, expect, it} from 'vitest'

import {judgeSignal} from '../../src/verdict/judge.js'
import {seededRng, type Rng} from '../../src/verdict/stats.js'
import type {SignalInput} from '../../src/verdict/types.js'

/** One window: `seconds` intervals of `rate` requests, lognormal latencies, and bursts in some seconds. */
function bursty(rng: Rng, seconds: number, rate: number, shift = 1): {values: number[], blocks: number[]} {
  const values: number[] = []
  const blocks: number[] = []
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
  for (let s = 0; s < seconds; s++) {
    // one second in six is disturbed by something else on the machine: its slowest requests take 2-4x longer
    const burst = rng() < 1 / 6 ? 2 + 2 * rng() : 1
    for (let i = 0; i < rate; i++) {
      const base = 0.004 * Math.exp(0.35 * normal()) * shift
      values.push(rng() < 0.1 ? base * burst : base)
      blocks.push(s)
    }
  }
  return {values, blocks}
}

function input(baseline: {values: number[], blocks: number[]}, fault: {values: number[], blocks: number[]}, withBlocks: boolean): SignalInput {
  const strip = (w: {values: number[], blocks: number[]}) => (withBlocks ? {kind: 'observations' as const, ...w} : {kind: 'observations' as const, values: w.values})
  return {
    neighbor: 'api', signal: 'latency_p99', statistic: 'p99', unit: 'seconds',
    baseline: strip(baseline), fault: strip(fault), hypothesis: {signal: 'latency_p99', max_increase: 0.5},
  }
}

function breachRate(trials: number, shift: number, withBlocks: boolean): number {
  let breaches = 0
  for (let t = 0; t < trials; t++) {
    const rng = seededRng(`blocks/${shift}/${t}`)
    const verdict = judgeSignal(input(bursty(rng, 15, 100), bursty(rng, 25, 100, shift), withBlocks), {rng, iterations: 500})
    if (verdict.verdict === 'breach') breaches++
  }
  return breaches / trials
}

describe('interval blocks', () => {
  it('keep the false breach rate low under bursty noise, where per-request tests do not', () => {
    const perRequest = breachRate(60, 1, false)
    const perInterval = breachRate(60, 1, true)
    expect(perInterval).toBeLessThanOrEqual(0.1)
    // the reason blocks exist: counting requests as independent calls bursts breaches far more often
    expect(perRequest).toBeGreaterThan(perInterval)
  })

  it('still see a sustained doubling of the latency', () => {
    // the price of honesty: 15 baseline seconds of bursty noise pin a p99 down only so far (85% measured)
    expect(breachRate(40, 2, true)).toBeGreaterThanOrEqual(0.8)
    expect(breachRate(20, 3, true)).toBeGreaterThanOrEqual(0.95)
  })

  it('say how many intervals the test used', () => {
    const rng = seededRng('reason')
    const verdict = judgeSignal(input(bursty(rng, 15, 100), bursty(rng, 25, 100, 2.5), true), {rng, iterations: 500})
    expect(verdict.verdict).toBe('breach')
    expect(verdict.test).toBe('mann-whitney-u-per-interval')
    expect(verdict.reason).toMatch(/Mann-Whitney over 15\+25 intervals/)
  })
})
