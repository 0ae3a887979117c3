// The three-way rule over blocks: breach only when the whole interval is beyond the threshold, contained only
// when it is wholly within, inconclusive otherwise; observed facts compared as they are.
import {describe, expect, it} from 'vitest'

import {judgeBlocks, type BlockJudgeInput} from '../../src/verdict/judge-blocks.js'
import {seededRng, type Rng} from '../../src/verdict/stats.js'
import type {WindowSamples} from '../../src/verdict/types.js'

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

/** One block of 300 requests whose scale carries the block's own state (between-block sd of log `blockSd`). */
function latencyBlock(rng: Rng, scale: number, blockSd = 0.2): WindowSamples {
  const state = Math.exp(blockSd * normal(rng))
  return {kind: 'observations', values: Array.from({length: 300}, () => 0.005 * scale * state * Math.exp(0.4 * normal(rng)))}
}

function pairs(n: number, change: number, seed: string, blockSd = 0.2): {on: WindowSamples[], off: WindowSamples[]} {
  const rng = seededRng(seed)
  const on: WindowSamples[] = []
  const off: WindowSamples[] = []
  for (let i = 0; i < n; i++) {
    // a pair shares the machine's slower drift: both blocks see it
    const drift = Math.exp(0.3 * normal(rng))
    off.push(latencyBlock(rng, drift, blockSd))
    on.push(latencyBlock(rng, drift * (1 + change), blockSd))
  }
  return {on, off}
}

function p99(on: WindowSamples[], off: WindowSamples[], overrides: Partial<BlockJudgeInput> = {}) {
  return judgeBlocks({
    neighbor: 'api', signal: 'latency_p99', statistic: 'p99', unit: 'seconds',
    hypothesis: {signal: 'latency_p99', max_increase: 0.5}, on, off, paired: true, z: 1.645, ...overrides,
  })
}

describe('relative thresholds on latency, interleaved pairs', () => {
  it('no change over 12 pairs: contained, the whole interval below +50%', () => {
    const {on, off} = pairs(12, 0, 'aa')
    const verdict = p99(on, off)
    expect(verdict.verdict, verdict.reason).toBe('contained')
    expect(verdict.interval!.high).toBeLessThan(0.5)
    expect(verdict.test).toBe('paired-log-ratio-t')
    expect(verdict.reason).toMatch(/whole interval is within the 50% allowed \(12 interleaved pairs\)/)
  })

  it('a doubling over 12 pairs: breach, the whole interval above +50%', () => {
    const {on, off} = pairs(12, 1, 'double')
    const verdict = p99(on, off)
    expect(verdict.verdict, verdict.reason).toBe('breach')
    expect(verdict.interval!.low).toBeGreaterThan(0.5)
    expect(verdict.pBreach!).toBeLessThan(0.05)
  })

  it('a change at the threshold is neither: inconclusive, the interval straddles it', () => {
    const {on, off} = pairs(12, 0.5, 'edge')
    const verdict = p99(on, off)
    expect(verdict.verdict, verdict.reason).toBe('inconclusive')
    expect(verdict.interval!.low).toBeLessThan(0.5)
    expect(verdict.interval!.high).toBeGreaterThan(0.5)
    expect(verdict.reason).toMatch(/measuring longer would decide/)
  })

  it('a point estimate inside the threshold with a wide interval is not containment', () => {
    // two pairs: the t interval on one degree of freedom is wide
    const {on, off} = pairs(2, 0.1, 'few', 0.5)
    const verdict = p99(on, off)
    expect(verdict.change!).toBeLessThan(0.5)
    expect(verdict.verdict).toBe('inconclusive')
  })

  it('a stricter look boundary widens the interval: what one look calls contained, z = 3 may not', () => {
    const {on, off} = pairs(5, 0.15, 'strict')
    const single = p99(on, off, {z: 1.645})
    const strict = p99(on, off, {z: 3})
    expect(strict.interval!.high - strict.interval!.low).toBeGreaterThan(single.interval!.high - single.interval!.low)
    expect(strict.interval!.level).toBeGreaterThan(single.interval!.level)
  })

  it('unpaired windows use Welch on the logs', () => {
    const {on, off} = pairs(10, 0, 'windows')
    const verdict = p99(on, off.slice(0, 6), {paired: false})
    expect(verdict.test).toBe('welch-log-ratio')
    expect(verdict.reason).toMatch(/10\+6 blocks/)
  })
})

describe('error rates and observed facts', () => {
  const errors = (events: number[], total = 400): WindowSamples[] => events.map((e) => ({kind: 'proportion', events: e, total}))

  it('no error in 4,000 requests is contained under max 1%; the floor keeps the interval from collapsing to 0', () => {
    const verdict = judgeBlocks({
      neighbor: 'api', signal: 'error_rate', statistic: 'rate', unit: 'ratio', hypothesis: {signal: 'error_rate', max: 0.01},
      on: errors(Array(10).fill(0)), off: errors(Array(10).fill(0)), paired: true, z: 1.645,
    })
    expect(verdict.verdict, verdict.reason).toBe('contained')
    expect(verdict.interval!.high).toBeGreaterThan(0)
    expect(verdict.interval!.high).toBeLessThan(0.01)
  })

  it('errors in every fault block well above 1% breach; a burst in one block only is not enough', () => {
    const steady = judgeBlocks({
      neighbor: 'api', signal: 'error_rate', statistic: 'rate', unit: 'ratio', hypothesis: {signal: 'error_rate', max: 0.01},
      on: errors([40, 36, 44, 38, 41, 39, 42, 37]), off: errors(Array(8).fill(0)), paired: true, z: 1.645,
    })
    expect(steady.verdict, steady.reason).toBe('breach')
    const burst = judgeBlocks({
      neighbor: 'api', signal: 'error_rate', statistic: 'rate', unit: 'ratio', hypothesis: {signal: 'error_rate', max: 0.01},
      on: errors([0, 0, 0, 60, 0, 0]), off: errors(Array(6).fill(0)), paired: true, z: 1.645,
    })
    // 2.5% pooled, but it all came from one block: blocks are the clusters, so it is not shown beyond doubt
    expect(burst.fault!).toBeGreaterThan(0.01)
    expect(burst.verdict, burst.reason).toBe('inconclusive')
  })

  it('one restart breaches at once; none in a single episode is contained, with no minimum number of intervals', () => {
    const restarts = (counts: number[][]): WindowSamples[] => counts.map((values) => ({kind: 'series', values}))
    const input = {neighbor: 'api', signal: 'restarts' as const, statistic: 'sum' as const, unit: 'count' as const, hypothesis: {signal: 'restarts' as const, max: 0}, paired: true, z: 1.645}
    const one = judgeBlocks({...input, on: restarts([[0, 1]]), off: restarts([[0, 0]])})
    expect(one.verdict).toBe('breach')
    expect(one.test).toBe('direct')
    expect(one.pBreach).toBeNull()
    const none = judgeBlocks({...input, on: restarts([[0]]), off: restarts([[0]])})
    expect(none.verdict, none.reason).toBe('contained')
  })

  it('a throughput that stops in the fault blocks breaches a max_decrease through the ratio of means', () => {
    const series = (values: number[]): WindowSamples[] => values.map((v) => ({kind: 'series', values: [v]}))
    const verdict = judgeBlocks({
      neighbor: 'api', signal: 'throughput', statistic: 'mean', unit: 'per_second', hypothesis: {signal: 'throughput', max_decrease: 0.2},
      on: series([0, 0, 1, 0, 0, 2, 0, 0]), off: series([100, 99, 101, 100, 98, 100, 101, 99]), paired: true, z: 1.645,
    })
    expect(verdict.test).toBe('paired-ratio-of-means-t')
    expect(verdict.verdict, verdict.reason).toBe('breach')
  })

  it('a series that reads the same in every fault block is compared as observed: throttling at exactly 0 is within max 10%', () => {
    const series = (values: number[]): WindowSamples[] => values.map((v) => ({kind: 'series', values: [v]}))
    const input = {neighbor: 'api', signal: 'cpu_throttled' as const, statistic: 'mean' as const, unit: 'ratio' as const, hypothesis: {signal: 'cpu_throttled' as const, max: 0.1}, paired: false, z: 1.645}
    const zero = judgeBlocks({...input, on: series([0, 0, 0]), off: series([0, 0])})
    expect(zero.verdict, zero.reason).toBe('contained')
    expect(zero.reason).toMatch(/in every one of 3 fault blocks/)
    expect(judgeBlocks({...input, on: series([0.5, 0.5, 0.5]), off: series([0, 0])}).verdict).toBe('breach')
    // any spread at all, and the interval decides again
    expect(judgeBlocks({...input, on: series([0, 0.01, 0]), off: series([0, 0])}).test).toBe('block-mean-t')
  })

  it('a signal at 0 without the fault and above it with the fault breaches only when the rise is shown', () => {
    const series = (values: number[]): WindowSamples[] => values.map((v) => ({kind: 'series', values: [v]}))
    const input = {neighbor: 'api', signal: 'cpu_throttled' as const, statistic: 'mean' as const, unit: 'ratio' as const, hypothesis: {signal: 'cpu_throttled' as const, max_increase: 0.1}, paired: true, z: 1.645}
    expect(judgeBlocks({...input, on: series([0.3, 0.4, 0.35, 0.3, 0.32]), off: series([0, 0, 0, 0, 0])}).verdict).toBe('breach')
    expect(judgeBlocks({...input, on: series([0, 0, 0.4, 0, 0]), off: series([0, 0, 0, 0, 0])}).verdict).toBe('inconclusive')
    expect(judgeBlocks({...input, on: series([0, 0, 0]), off: series([0, 0, 0])}).verdict).toBe('contained')
  })
})
