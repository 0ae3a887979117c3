// How often the judge is wrong, measured on seeded simulations: false breaches when nothing changed (A/A)
// and missed breaches when the p99 really rose 60% (power). Latencies are lognormal around 20ms; the windows
// are 750 baseline and 1500 fault requests (15s and 30s at 50 requests per second).
import {describe, expect, it} from 'vitest'

import {judgeSignal} from '../../src/verdict/judge.js'
import {seededRng} from '../../src/verdict/stats.js'
import type {Rng} from '../../src/verdict/stats.js'
import type {SignalInput, Verdict} from '../../src/verdict/types.js'

function standardNormal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

function lognormal(rng: Rng, n: number, sigma: number, scale = 1): number[] {
  return Array.from({length: n}, () => 0.02 * scale * Math.exp(sigma * standardNormal(rng)))
}

/** Stretches everything above the distribution's p95 so that its p99 rises by `factor`; the bulk is untouched. */
function tailOnlyShift(sigma: number, factor: number): (x: number) => number {
  const p95 = 0.02 * Math.exp(sigma * 1.644_853_6)
  const p99 = 0.02 * Math.exp(sigma * 2.326_347_9)
  const stretch = (factor * p99 - p95) / (p99 - p95)
  return (x) => (x > p95 ? p95 + (x - p95) * stretch : x)
}

interface Design {
  statistic: 'p50' | 'p99' | 'mean'
  sigma: number
  baselineSize?: number
  faultSize?: number
  iterations?: number
  makeFault: (rng: Rng, size: number) => number[]
}

/** Verdict counts over seeded trials of a max_increase 25% hypothesis. */
function trials(name: string, count: number, design: Design): Record<Verdict, number> {
  const {statistic, sigma, baselineSize = 750, faultSize = 1500, iterations} = design
  const signal = `latency_${statistic}` as const
  const counts: Record<Verdict, number> = {breach: 0, contained: 0, inconclusive: 0}
  for (let trial = 0; trial < count; trial++) {
    const rng = seededRng(`${name}-${trial}`)
    const input: SignalInput = {
      neighbor: 'api', signal, statistic, unit: 'seconds',
      baseline: {kind: 'observations', values: lognormal(rng, baselineSize, sigma)},
      fault: {kind: 'observations', values: design.makeFault(rng, faultSize)},
      hypothesis: {signal, max_increase: 0.25},
    }
    counts[judgeSignal(input, {rng: seededRng(`${name}-judge-${trial}`), iterations}).verdict]++
  }
  return counts
}

describe('A/A: nothing changed', () => {
  it('p99, σ = 0.5: ≤ 5% false breaches and ≤ 3% inconclusive over 200 trials', () => {
    const counts = trials('aa-0.5', 200, {statistic: 'p99', sigma: 0.5, makeFault: (rng, n) => lognormal(rng, n, 0.5)})
    expect(counts.breach, JSON.stringify(counts)).toBeLessThanOrEqual(10)
    expect(counts.inconclusive, JSON.stringify(counts)).toBeLessThanOrEqual(6)
  })

  it('p99, σ = 1 (a heavy tail): ≤ 5% false breaches and ≤ 10% inconclusive over 100 trials', () => {
    const counts = trials('aa-1', 100, {statistic: 'p99', sigma: 1, makeFault: (rng, n) => lognormal(rng, n, 1)})
    expect(counts.breach, JSON.stringify(counts)).toBeLessThanOrEqual(5)
    // a heavy tail's p99 lands beyond +25% by chance now and then: inconclusive (6 of these 100), never contained
    expect(counts.inconclusive, JSON.stringify(counts)).toBeLessThanOrEqual(10)
  })

  it('p50 and mean, σ = 1: ≤ 5% false breaches over 40 trials', () => {
    for (const statistic of ['p50', 'mean'] as const) {
      const counts = trials(`aa-${statistic}`, 40, {statistic, sigma: 1, baselineSize: 300, faultSize: 600, iterations: 500, makeFault: (rng, n) => lognormal(rng, n, 1)})
      expect(counts.breach, `${statistic}: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(2)
    }
  })
})

describe('power: the p99 really rose 60%', () => {
  it('the whole distribution 1.6× slower, σ = 0.5: breach in ≥ 90% of 100 trials', () => {
    const counts = trials('scale', 100, {statistic: 'p99', sigma: 0.5, makeFault: (rng, n) => lognormal(rng, n, 0.5, 1.6)})
    expect(counts.breach, JSON.stringify(counts)).toBeGreaterThanOrEqual(90)
  })

  it('only the slowest 5% slower (the bulk untouched), σ = 0.5: breach in ≥ 90% of 100 trials', () => {
    const shift = tailOnlyShift(0.5, 1.6)
    const counts = trials('tail', 100, {statistic: 'p99', sigma: 0.5, makeFault: (rng, n) => lognormal(rng, n, 0.5).map(shift)})
    expect(counts.breach, JSON.stringify(counts)).toBeGreaterThanOrEqual(90)
  })

  it('σ = 1: 750 requests pin a heavy-tailed p99 only loosely, so power is lower (regression guard: ≥ 55% of 100)', () => {
    const counts = trials('scale-heavy', 100, {statistic: 'p99', sigma: 1, makeFault: (rng, n) => lognormal(rng, n, 1, 1.6)})
    expect(counts.breach, JSON.stringify(counts)).toBeGreaterThanOrEqual(55)
  })
})
