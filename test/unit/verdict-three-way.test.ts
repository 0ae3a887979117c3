// The three-way rule (two one-sided tests), Holm's correction and the block estimators, on hand-made data whose
// answers can be worked out on paper.
import {describe, expect, it} from 'vitest'

import {blockMean, clusteredProportion, pairedDifference, pairedLogRatio, welchLogRatio} from '../../src/verdict/blocks.js'
import {holm, MIN_DF_FOR_EXACT, threeWay} from '../../src/verdict/three-way.js'

const Z = 1.644_853_6

describe('threeWay', () => {
  it('breach only when the whole interval is beyond the limit', () => {
    // t_{0.95, 9} = 1.833: estimate 1, se 0.2 gives [0.633, 1.367]
    const result = threeWay({estimate: 1, se: 0.2, df: 9}, 0.6, 'above', Z)
    expect(result.verdict).toBe('breach')
    expect(result.interval.low).toBeCloseTo(1 - 1.833_113 * 0.2, 5)
    expect(result.interval.high).toBeCloseTo(1 + 1.833_113 * 0.2, 5)
    expect(result.interval.level).toBeCloseTo(0.9, 6)
    expect(result.pBreach).toBeLessThan(0.05)
    expect(result.pContained).toBeGreaterThan(0.95)
    // the same interval reaching inside the limit is not a breach, whatever the point estimate says
    expect(threeWay({estimate: 1, se: 0.2, df: 9}, 0.7, 'above', Z).verdict).toBe('inconclusive')
  })

  it('contained only when the whole interval is within the limit', () => {
    expect(threeWay({estimate: 0, se: 0.2, df: 9}, 0.4, 'above', Z).verdict).toBe('contained')
    expect(threeWay({estimate: 0, se: 0.2, df: 9}, 0.35, 'above', Z).verdict).toBe('inconclusive')
    expect(threeWay({estimate: 0, se: 0.2, df: 9}, 0.4, 'above', Z).pContained).toBeLessThan(0.05)
  })

  it('the decision and its p-value agree: a verdict at z exactly when p < 1 - Phi(z)', () => {
    for (const estimate of [0.1, 0.3, 0.45, 0.55, 0.7, 0.9]) {
      const result = threeWay({estimate, se: 0.1, df: 6}, 0.5, 'above', Z)
      expect(result.verdict === 'breach').toBe(result.pBreach < 0.05)
      expect(result.verdict === 'contained').toBe(result.pContained < 0.05)
      expect(result.pBreach + result.pContained).toBeCloseTo(1, 12)
    }
  })

  it("'below' mirrors 'above'", () => {
    // a throughput that must not fall below 80: falling to 50 +- 5 is a breach, staying at 100 +- 5 is contained
    expect(threeWay({estimate: 50, se: 5, df: 20}, 80, 'below', Z).verdict).toBe('breach')
    expect(threeWay({estimate: 100, se: 5, df: 20}, 80, 'below', Z).verdict).toBe('contained')
    expect(threeWay({estimate: 82, se: 5, df: 20}, 80, 'below', Z).verdict).toBe('inconclusive')
    const up = threeWay({estimate: 0.3, se: 0.1, df: 5}, 0.2, 'above', Z)
    const down = threeWay({estimate: -0.3, se: 0.1, df: 5}, -0.2, 'below', Z)
    expect(down.pBreach).toBeCloseTo(up.pBreach, 12)
    expect(down.pContained).toBeCloseTo(up.pContained, 12)
  })

  it('a later look with a larger z needs more evidence', () => {
    const estimate = {estimate: 0.9, se: 0.2, df: 20}
    expect(threeWay(estimate, 0.4, 'above', Z).verdict).toBe('breach')
    expect(threeWay(estimate, 0.4, 'above', 3.5).verdict).toBe('inconclusive')
  })

  it('a z statistic (df = Infinity) uses the normal', () => {
    const result = threeWay({estimate: 0, se: 1, df: Infinity}, 5, 'above', 1.959_964)
    expect(result.interval.high).toBeCloseTo(1.959_964, 5)
    expect(result.interval.level).toBeCloseTo(0.95, 6)
  })

  it('gives no verdict from nothing', () => {
    for (const estimate of [
      {estimate: Number.NaN, se: 1, df: 5},
      {estimate: 3, se: Infinity, df: 0},
      {estimate: 3, se: 0.1, df: 0},
      // two or three blocks that agree exactly are not certainty
      {estimate: 3, se: 0, df: 1},
      {estimate: 3, se: 0, df: MIN_DF_FOR_EXACT - 1},
    ]) {
      const result = threeWay(estimate, 1, 'above', Z)
      expect(result.verdict).toBe('inconclusive')
      expect(result.pBreach).toBe(1)
      expect(result.pContained).toBe(1)
    }
    // many blocks that agree exactly: the point is the interval
    expect(threeWay({estimate: 3, se: 0, df: MIN_DF_FOR_EXACT}, 1, 'above', Z).verdict).toBe('breach')
    expect(threeWay({estimate: 0, se: 0, df: 10}, 1, 'above', Z).verdict).toBe('contained')
    expect(threeWay({estimate: 1, se: 0, df: 10}, 1, 'above', Z).verdict).toBe('inconclusive')
    expect(() => threeWay({estimate: 0, se: 1, df: 3}, 1, 'above', 0)).toThrow(RangeError)
  })
})

describe('holm', () => {
  it('steps down: compares the i-th smallest p with alpha / (m - i)', () => {
    // alpha 0.05, m = 4: thresholds 0.0125, 0.0167, 0.025, 0.05
    expect(holm([0.01, 0.04, 0.03, 0.005], 0.05)).toEqual([true, false, false, true])
    expect(holm([0.01, 0.012, 0.02, 0.04], 0.05)).toEqual([true, true, true, true])
    // the first failure stops the rest, even a p that would pass its own step
    expect(holm([0.013, 0.014, 0.015, 0.016], 0.05)).toEqual([false, false, false, false])
    expect(holm([0.3, 0.001], 0.05)).toEqual([false, true])
    expect(holm([], 0.05)).toEqual([])
    expect(holm([Number.NaN, 0.01], 0.05)).toEqual([false, true])
  })

  it('is never less strict than unadjusted testing and never stricter than Bonferroni', () => {
    const pValues = [0.001, 0.008, 0.012, 0.02, 0.2, 0.04]
    const holmStands = holm(pValues, 0.05)
    for (let i = 0; i < pValues.length; i++) {
      if (pValues[i] <= 0.05 / pValues.length) expect(holmStands[i]).toBe(true)
      if (pValues[i] > 0.05) expect(holmStands[i]).toBe(false)
    }
  })
})

describe('block estimators', () => {
  it('pairedLogRatio: mean and se of log ratios, leaving out pairs that cannot be logged', () => {
    const off = [10, 20, 30, 40, 0, 50]
    const on = [20, 30, 60, 40, 50, Number.NaN]
    const d = [Math.log(2), Math.log(1.5), Math.log(2), 0]
    const average = d.reduce((s, v) => s + v, 0) / 4
    const sd = Math.sqrt(d.reduce((s, v) => s + (v - average) ** 2, 0) / 3)
    const result = pairedLogRatio(on, off)
    expect(result.n).toBe(4)
    expect(result.df).toBe(3)
    expect(result.estimate).toBeCloseTo(average, 12)
    expect(result.se).toBeCloseTo(sd / 2, 12)
    expect(() => pairedLogRatio([1, 2], [1])).toThrow(RangeError)
    expect(pairedLogRatio([2], [1]).se).toBe(Infinity)
  })

  it('welchLogRatio: Welch-Satterthwaite df between the smaller sample and the pooled count', () => {
    const on = [2, 4, 8, 16, 2, 4]
    const off = [1, 1.1, 0.9, 1.05]
    const result = welchLogRatio(on, off)
    const logMean = (values: number[]) => values.reduce((s, v) => s + Math.log(v), 0) / values.length
    expect(result.estimate).toBeCloseTo(logMean(on) - logMean(off), 12)
    expect(result.nOn).toBe(6)
    expect(result.nOff).toBe(4)
    // one side nearly constant: df near that of the noisy side (5), never more than pooled (8)
    expect(result.df).toBeGreaterThan(4.5)
    expect(result.df).toBeLessThan(8)
    expect(welchLogRatio([1], [1, 2]).se).toBe(Infinity)
  })

  it('clusteredProportion: the ratio estimator with a cluster-robust se that sees bursts', () => {
    // the same 20 errors in 2,000 requests, spread evenly or all in one block
    const totals = Array.from({length: 10}, () => 200)
    const even = clusteredProportion([2, 2, 2, 2, 2, 2, 2, 2, 2, 2], totals)
    const bursty = clusteredProportion([20, 0, 0, 0, 0, 0, 0, 0, 0, 0], totals)
    expect(even.estimate).toBeCloseTo(0.01, 12)
    expect(bursty.estimate).toBeCloseTo(0.01, 12)
    expect(even.df).toBe(9)
    // evenly spread, the binomial floor holds the se up; in a burst the clusters speak and widen it
    expect(even.floored).toBe(true)
    expect(bursty.floored).toBe(false)
    expect(bursty.se).toBeGreaterThan(3 * even.se)
    // CR1 by hand: residuals 18 and -2 (x9), factor 10/9, over N = 2000
    expect(bursty.se).toBeCloseTo(Math.sqrt(10 / 9 * (18 ** 2 + 9 * 2 ** 2)) / 2000, 12)
  })

  it('clusteredProportion: 0 events in 1,000 requests keep a finite upper bound near 0.3%', () => {
    const result = clusteredProportion(Array.from({length: 10}, () => 0), Array.from({length: 10}, () => 100))
    expect(result.estimate).toBe(0)
    expect(result.floored).toBe(true)
    // Agresti-Coull: p~ = 2/1004, se = sqrt(p~(1-p~)/1004) = 0.00141
    expect(result.se).toBeCloseTo(Math.sqrt(2 / 1004 * (1002 / 1004) / 1004), 12)
    const upper = threeWay(result, 0.01, 'above', Z).interval.high
    expect(upper).toBeGreaterThan(0.002)
    expect(upper).toBeLessThan(0.004)
    // so an error budget of 1% is shown to hold, and one of 0.1% is not
    expect(threeWay(result, 0.01, 'above', Z).verdict).toBe('contained')
    expect(threeWay(result, 0.001, 'above', Z).verdict).toBe('inconclusive')
  })

  it('clusteredProportion: empty blocks carry nothing; bad counts are refused', () => {
    expect(clusteredProportion([1, 0], [10, 0]).se).toBe(Infinity)
    expect(clusteredProportion([], []).se).toBe(Infinity)
    expect(() => clusteredProportion([5], [3])).toThrow(/block 0/)
    expect(() => clusteredProportion([1, 2], [3])).toThrow(RangeError)
  })

  it('pairedDifference: mean difference of shares, with a binomial floor when the counts are known', () => {
    const on = [0.02, 0.03, 0.01, 0.04]
    const off = [0.01, 0.01, 0.01, 0.01]
    const result = pairedDifference(on, off)
    expect(result.estimate).toBeCloseTo(0.015, 12)
    expect(result.df).toBe(3)
    // identical zero error rates on both sides: without counts the se is 0 (no verdict from four pairs), with counts
    // it is the floor of two Agresti-Coull shares
    const zeros = [0, 0, 0, 0]
    expect(pairedDifference(zeros, zeros).se).toBe(0)
    const counts = [100, 100, 100, 100]
    const floored = pairedDifference(zeros, zeros, {on: counts, off: counts})
    expect(floored.floored).toBe(true)
    expect(floored.se).toBeCloseTo(Math.SQRT2 * Math.sqrt(2 / 404 * (402 / 404) / 404), 12)
  })

  it('blockMean: mean and t se of finite values', () => {
    const result = blockMean([1, 2, 3, 4, Number.NaN])
    expect(result.estimate).toBe(2.5)
    expect(result.n).toBe(4)
    expect(result.se).toBeCloseTo(Math.sqrt(5 / 3 / 4), 12)
    expect(blockMean([]).se).toBe(Infinity)
  })
})
