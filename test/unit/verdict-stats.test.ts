// Reference values come from numpy 2.4 / scipy 1.17 (quoted next to each) or from hand computation.
import {describe, expect, it} from 'vitest'

import {
  baselineSteadiness, binomialSample, bootstrapChangeCI, bootstrapStatisticCI, compareProportions, computeStatistic,
  fisherExactTest, hashSeed, logGamma, mannWhitneyU, mean, median, mulberry32, normalCdf, normalQuantile,
  proportionBoundTest, proportionChangeCI, quantile, quantileExceedanceTest, resampledOrderStatistics, seededRng,
  shiftTest, twoProportionTest, wilsonInterval,
} from '../../src/verdict/stats.js'
import type {Rng} from '../../src/verdict/stats.js'

function standardNormal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

/** Lognormal latencies around 20ms; `scale` multiplies every value (so every quantile and the mean). */
function lognormal(rng: Rng, n: number, sigma: number, scale = 1): number[] {
  return Array.from({length: n}, () => 0.02 * scale * Math.exp(sigma * standardNormal(rng)))
}

/** U of a by direct pair counting, O(n·m): the definition, to check the sort-based ranking against. */
function bruteForceU(a: number[], b: number[]): number {
  let u = 0
  for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0
  return u
}

describe('seeded randomness', () => {
  it('mulberry32 is reproducible, in [0, 1) and uniform on average', () => {
    const first = mulberry32(42)
    const second = mulberry32(42)
    const draws = Array.from({length: 10_000}, () => first())
    expect(Array.from({length: 10_000}, () => second())).toEqual(draws)
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...draws)).toBeLessThan(1)
    expect(mean(draws)).toBeCloseTo(0.5, 1)
    expect(mulberry32(43)()).not.toBe(mulberry32(42)())
  })

  it('hashSeed is FNV-1a 32-bit', () => {
    expect(hashSeed('')).toBe(2_166_136_261)
    expect(hashSeed('a')).toBe(3_826_002_220)
    expect(hashSeed('run-42/api/latency_p99')).toBe(215_908_896)
    expect(seededRng('run-42')()).toBe(seededRng('run-42')())
  })

  it('binomialSample has the binomial mean and variance', () => {
    const rng = seededRng(7)
    for (const [trials, p] of [[1500, 1 / 1500], [20, 0.3], [200, 0.9], [400, 0.5]]) {
      const draws = Array.from({length: 20_000}, () => binomialSample(trials, p, rng))
      const m = mean(draws)
      const variance = mean(draws.map((x) => (x - m) ** 2))
      expect(m).toBeCloseTo(trials * p, 0)
      expect(variance / (trials * p * (1 - p))).toBeGreaterThan(0.95)
      expect(variance / (trials * p * (1 - p))).toBeLessThan(1.05)
    }
    expect(binomialSample(10, 0, rng)).toBe(0)
    expect(binomialSample(10, 1, rng)).toBe(10)
  })
})

describe('descriptive statistics', () => {
  const values = [3.1, 0.4, 7.7, 2.2, 9.9, 5.0, 1.3, 6.6, 4.8, 8.1, 0.9]

  it('quantile matches numpy.quantile (type 7)', () => {
    // numpy.quantile(values, [0, .1, .25, .5, .9, .95, .99, 1])
    const expected = [0.4, 0.9, 1.75, 4.8, 8.1, 9.0, 9.72, 9.9]
    ;[0, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 1].forEach((q, i) => expect(quantile(values, q)).toBeCloseTo(expected[i], 12))
    expect(quantile([42], 0.99)).toBe(42)
    expect(quantile([1, 2], 0.99)).toBeCloseTo(1.99, 12)
  })

  it('quantile leaves unsorted input untouched and accepts sorted input', () => {
    const copy = [...values]
    quantile(values, 0.5)
    expect(values).toEqual(copy)
    expect(quantile([...values].sort((x, y) => x - y), 0.25)).toBeCloseTo(1.75, 12)
  })

  it('mean, median and named statistics', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5)
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(computeStatistic([1, 5, 2], 'max')).toBe(5)
    expect(computeStatistic([1, 5, 2], 'sum')).toBe(8)
    expect(computeStatistic(values, {quantile: 0.95})).toBeCloseTo(9.0, 12)
  })

  it('refuses empty samples and bad levels', () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError)
    expect(() => mean([])).toThrow(RangeError)
    expect(() => quantile([1], 1.5)).toThrow(RangeError)
  })
})

describe('normal distribution', () => {
  it('normalCdf matches scipy.stats.norm.cdf, far tails included', () => {
    const cases: Array<[number, number]> = [
      [-10, 7.61985302416047e-24], [-8, 6.22096057427174e-16], [-5, 2.866515718791933e-7], [-1.96, 0.024997895148220435],
      [-1, 0.15865525393145707], [0, 0.5], [0.3, 0.6179114221889526], [2.5, 0.9937903346742238],
    ]
    for (const [x, p] of cases) expect(Math.abs(normalCdf(x) - p) / p).toBeLessThan(1e-8)
  })

  it('normalQuantile matches scipy.stats.norm.ppf', () => {
    const cases: Array<[number, number]> = [
      [1e-5, -4.264890793922825], [0.001, -3.090232306167813], [0.025, -1.9599639845400545], [0.3, -0.5244005127080409],
      [0.5, 0], [0.8, 0.8416212335729143], [0.975, 1.959963984540054], [0.9999, 3.719016485455709],
    ]
    for (const [p, x] of cases) expect(normalQuantile(p)).toBeCloseTo(x, 9)
  })
})

describe('mannWhitneyU', () => {
  it('separated samples: U = 0, exact p (scipy: two-sided 2/252, less 1/252)', () => {
    const result = mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])!
    expect(result.uA).toBe(0)
    expect(result.uB).toBe(25)
    expect(result.method).toBe('exact')
    // one arrangement of 252 = C(10, 5) puts every b above every a
    expect(result.pBGreater).toBeCloseTo(1 / 252, 12)
    expect(result.pTwoSided).toBeCloseTo(2 / 252, 12)
    expect(result.pBLess).toBe(1)
    expect(result.rankBiserial).toBe(1)
  })

  it('scipy documentation example (males vs females): U = 17, exact p = 0.1111', () => {
    const result = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12])!
    expect(result.uA).toBe(17)
    expect(result.pTwoSided).toBeCloseTo(0.1111111111111111, 10)
    expect(result.pBLess).toBeCloseTo(0.05555555555555555, 10)
    expect(result.rankBiserial).toBeCloseTo(-0.7, 12)
  })

  it('with ties: tie-corrected normal approximation with continuity correction, as scipy', () => {
    // by hand: pooled ranks give R(a) = 78.5, so U_a = 78.5 − 10·11/2 = 23.5; ties (2,2,2), (3,3,3,3), (4,4,4),
    // (5,5,5), (6,6,6), (7,7) give Σ(t³−t) = 24+60+24+24+24+6 = 162;
    // σ² = 10·11/12 · (22 − 162/(21·20)) = 198.13..., z = (86.5 − 55 − 0.5)/σ = 2.2023
    const a = [1, 2, 2, 3, 3, 3, 4, 5, 5, 6]
    const b = [2, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9]
    const result = mannWhitneyU(a, b)!
    expect(result.uA).toBe(23.5)
    expect(result.method).toBe('asymptotic')
    expect(result.z).toBeCloseTo(2.2023459, 6)
    // scipy.stats.mannwhitneyu(a, b) and alternative='less'
    expect(result.pTwoSided).toBeCloseTo(0.027640884214298913, 10)
    expect(result.pBGreater).toBeCloseTo(0.013820442107149456, 10)
    expect(result.pBLess).toBeCloseTo(0.988498635310908, 10)
  })

  it('larger samples without ties use the asymptotic p (scipy: U = 20, p = 0.017277839)', () => {
    const result = mannWhitneyU([1.1, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8, 9.9, 10.1, 11.2, 12.3], [3.5, 6.1, 9.3, 12.9, 14.1, 15.5, 16.2, 20.4, 21.8])!
    expect(result.uA).toBe(20)
    expect(result.pTwoSided).toBeCloseTo(0.017277839493770483, 10)
  })

  it('small samples with ties are flagged', () => {
    const result = mannWhitneyU([1, 2, 2, 3], [2, 3, 3, 4, 5])!
    expect(result.uA).toBe(3)
    expect(result.pBGreater).toBeCloseTo(0.04967112392673264, 10) // scipy, alternative='less'
    expect(result.warning).toMatch(/rough/)
  })

  it('agrees with pair counting on random data with ties, and is symmetric', () => {
    const rng = seededRng(3)
    for (let trial = 0; trial < 20; trial++) {
      const a = Array.from({length: 30 + trial}, () => Math.floor(rng() * 12))
      const b = Array.from({length: 45 - trial}, () => Math.floor(rng() * 14))
      const ab = mannWhitneyU(a, b)!
      const ba = mannWhitneyU(b, a)!
      expect(ab.uA).toBe(bruteForceU(a, b))
      expect(ba.uA).toBe(ab.uB)
      expect(ba.pBGreater).toBeCloseTo(ab.pBLess, 12)
      expect(ba.rankBiserial).toBeCloseTo(-ab.rankBiserial, 12)
    }
  })

  it('exact p for one tiny sample against a large one is close to the normal approximation', () => {
    const rng = seededRng(11)
    const a = Array.from({length: 8}, () => rng() + 0.3)
    const b = Array.from({length: 400}, () => rng())
    const exact = mannWhitneyU(a, b)!
    expect(exact.method).toBe('exact')
    const z = exact.z
    expect(Math.abs(exact.pBLess - (1 - normalCdf(-z)))).toBeLessThan(0.01)
  })

  it('identical values everywhere: no evidence, no NaN', () => {
    const result = mannWhitneyU([5, 5, 5, 5, 5, 5, 5, 5, 5], [5, 5, 5, 5, 5, 5, 5, 5, 5, 5])!
    expect(result.z).toBe(0)
    expect([result.pBGreater, result.pBLess, result.pTwoSided]).toEqual([1, 1, 1])
    expect(result.rankBiserial).toBe(0)
  })

  it('empty samples give null', () => {
    expect(mannWhitneyU([], [1, 2])).toBeNull()
    expect(mannWhitneyU([1], [])).toBeNull()
  })

  it('is O(n log n): 100,000 vs 100,000 values in well under a second', () => {
    const rng = seededRng(5)
    const a = lognormal(rng, 100_000, 0.5)
    const b = lognormal(rng, 100_000, 0.5, 1.01)
    const started = performance.now()
    const result = mannWhitneyU(a, b)!
    expect(performance.now() - started).toBeLessThan(1000)
    expect(result.pBGreater).toBeLessThan(0.05)
  })
})

describe('proportions', () => {
  it('wilsonInterval matches scipy.stats.binomtest(...).proportion_ci(method="wilson")', () => {
    const cases: Array<[number, number, number, number, number]> = [
      [600, 1500, 0.95, 0.3754940088646343, 0.425016877279402],
      [3, 1500, 0.95, 0.0006804084719908743, 0.005863804525309888],
      [0, 10, 0.95, 0, 0.27753279986288926],
      [3, 10, 0.9, 0.1268765839031979, 0.5583002041301649],
      [10, 10, 0.95, 0.7224672001371109, 1],
      [1, 750, 0.99, 0.000156559979143908, 0.011255676807463696],
    ]
    for (const [events, total, level, low, high] of cases) {
      const interval = wilsonInterval(events, total, level)
      expect(interval.low).toBeCloseTo(low, 9)
      expect(interval.high).toBeCloseTo(high, 9)
    }
    expect(wilsonInterval(0, 0)).toEqual({low: 0, high: 1, level: 0.95})
  })

  it('twoProportionTest: pooled z by hand, one-sided in the right direction', () => {
    // 15/750 vs 45/1500: p = 60/2250, se = sqrt(p(1−p)(1/750 + 1/1500)), z = 0.01/se = 1.38794
    const test = twoProportionTest(15, 750, 45, 1500)
    expect(test.z).toBeCloseTo(1.3879372691205096, 10)
    expect(test.pBGreater).toBeCloseTo(0.08257807394794803, 10)
    expect(test.pBLess).toBeCloseTo(1 - 0.08257807394794803, 10)
    expect(twoProportionTest(0, 750, 0, 1500)).toEqual({z: 0, pBGreater: 1, pBLess: 1, pTwoSided: 1})
  })

  it('fisherExactTest matches scipy.stats.fisher_exact', () => {
    // scipy.stats.fisher_exact([[eB, nB − eB], [eA, nA − eA]], alternative='greater' / 'less')
    const cases: Array<[number, number, number, number, number, number]> = [
      [7, 375, 0, 375, 1, 0.007594922120899077],
      [1, 750, 21, 1500, 0.0015428252026174415, 0.9998730831261654],
      [3, 10, 8, 12, 0.09919028340080972, 0.9850134385738101],
      [0, 750, 10, 1500, 0.017168372300285787, 1],
      [120, 5000, 160, 5000, 0.008964119048800921, 0.9935931057211123],
    ]
    for (const [eA, nA, eB, nB, greater, less] of cases) {
      const test = fisherExactTest(eA, nA, eB, nB)
      expect(test.pBGreater).toBeCloseTo(greater, 9)
      expect(test.pBLess).toBeCloseTo(less, 9)
    }
  })

  it('compareProportions switches to Fisher when expected counts are small', () => {
    expect(compareProportions(0, 750, 10, 1500).test).toBe('fisher-exact')
    expect(compareProportions(15, 750, 45, 1500).test).toBe('two-proportion-z')
  })

  it('proportionBoundTest and proportionChangeCI', () => {
    expect(proportionBoundTest(600, 1500, 0.01, 'above')).toBeLessThan(1e-10)
    expect(proportionBoundTest(3, 1500, 0.01, 'above')).toBeGreaterThan(0.99)
    expect(proportionBoundTest(1, 100, 0, 'above')).toBe(0)
    const {change, interval} = proportionChangeCI(15, 750, 150, 1500)
    expect(change).toBeCloseTo(4, 12)
    expect(interval!.low).toBeGreaterThan(1)
    expect(interval!.high).toBeLessThan(10)
    expect(proportionChangeCI(0, 750, 10, 1500)).toEqual({change: null, interval: null})
  })

  it('logGamma matches scipy.special.gammaln', () => {
    const cases: Array<[number, number]> = [[0.5, 0.5723649429247], [2.5, 0.2846828704729192], [10, 12.801827480081469], [100.3, 360.5147057290581], [1e4, 82099.71749644238]]
    for (const [x, value] of cases) expect(logGamma(x)).toBeCloseTo(value, 9)
    expect(Math.abs(logGamma(1))).toBeLessThan(1e-12)
  })
})

describe('tail shift tests', () => {
  it('the exceedance test sees a tail-only shift that Mann-Whitney misses', () => {
    const rng = seededRng(21)
    const baseline = lognormal(rng, 750, 0.5)
    // the slowest 5% of requests get three times slower; the bulk is untouched
    const p95 = quantile(baseline, 0.95)
    const fault = lognormal(rng, 1500, 0.5).map((x) => (x > p95 ? p95 + 3 * (x - p95) : x))
    expect(mannWhitneyU(baseline, fault)!.pBGreater).toBeGreaterThan(0.05)
    const tail = quantileExceedanceTest(baseline, fault, 0.99)!
    expect(tail.pBGreater).toBeLessThan(0.01)
    expect(shiftTest(baseline, fault, {quantile: 0.99})!.test).toBe('quantile-exceedance')
    expect(shiftTest(baseline, fault, 'mean')!.test).toBe('mann-whitney-u')
  })
})

describe('bootstrap', () => {
  it('resampled order statistics follow the same law as naive resampling', () => {
    const rng = seededRng(8)
    const sorted = lognormal(rng, 1500, 0.5).sort((x, y) => x - y)
    const ranks = [1483] // p99 of 1500 sits between ranks 1484 and 1485 (0-based 1484.01); any high rank will do
    const fast = Array.from({length: 3000}, () => resampledOrderStatistics(sorted, ranks, rng)[0])
    const resample = new Float64Array(sorted.length)
    const naive = Array.from({length: 3000}, () => {
      for (let i = 0; i < resample.length; i++) resample[i] = sorted[Math.floor(rng() * sorted.length)]
      return resample.sort()[ranks[0]]
    })
    const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)))
    expect(Math.abs(mean(fast) - mean(naive))).toBeLessThan(0.1 * sd(naive))
    expect(sd(fast) / sd(naive)).toBeGreaterThan(0.9)
    expect(sd(fast) / sd(naive)).toBeLessThan(1.1)
  })

  it('is reproducible for a seed', () => {
    const data = lognormal(seededRng(1), 500, 0.5)
    const fault = lognormal(seededRng(2), 500, 0.5, 1.2)
    const once = bootstrapChangeCI(data, fault, {quantile: 0.9}, {rng: seededRng('x')})
    const again = bootstrapChangeCI(data, fault, {quantile: 0.9}, {rng: seededRng('x')})
    expect(again).toEqual(once)
  })

  it('the CI of a known 1.3× shift covers the true change in ≥ 90% of 100 seeded trials (p50, p99, mean)', () => {
    // p99 on the real window sizes; the centre on smaller ones to keep the file fast (its resamples cost O(n))
    const designs = [[{quantile: 0.99}, 750, 1500, 1000], [{quantile: 0.5}, 300, 600, 500], ['mean', 300, 600, 500]] as const
    for (const [statistic, baselineSize, faultSize, iterations] of designs) {
      let covered = 0
      for (let trial = 0; trial < 100; trial++) {
        const rng = seededRng(`coverage-${trial}`)
        const baseline = lognormal(rng, baselineSize, 0.5)
        const fault = lognormal(rng, faultSize, 0.5, 1.3)
        const {interval} = bootstrapChangeCI(baseline, fault, statistic, {iterations, rng})
        if (interval!.low <= 0.3 && interval!.high >= 0.3) covered++
      }
      expect(covered, JSON.stringify(statistic)).toBeGreaterThanOrEqual(90)
    }
  })

  it('2,000 iterations on 5,000 values per window are fast for p99 and reasonable for the median', () => {
    const rng = seededRng(4)
    const baseline = lognormal(rng, 5000, 0.5)
    const fault = lognormal(rng, 5000, 0.5, 1.3)
    let started = performance.now()
    const tail = bootstrapChangeCI(baseline, fault, {quantile: 0.99}, {iterations: 2000, rng})
    expect(performance.now() - started).toBeLessThan(250)
    started = performance.now()
    const centre = bootstrapChangeCI(baseline, fault, {quantile: 0.5}, {iterations: 2000, rng})
    expect(performance.now() - started).toBeLessThan(1500)
    expect(tail.interval!.low).toBeGreaterThan(0.1)
    expect(centre.interval!.low).toBeGreaterThan(0.2)
    expect(centre.pRise).toBeLessThan(0.001)
  })

  it('a baseline statistic of 0 gives no change; zero-variance windows give a point interval', () => {
    expect(bootstrapChangeCI([0, 0, 0, 0], [1, 2, 3], 'mean', {rng: seededRng(1)}).change).toBeNull()
    const flat = bootstrapChangeCI([2, 2, 2, 2], [3, 3, 3], {quantile: 0.99}, {rng: seededRng(1)})
    expect(flat.change).toBeCloseTo(0.5, 12)
    expect(flat.interval).toEqual({low: 0.5, high: 0.5, level: 0.95})
  })

  it('a resample whose baseline statistic is 0 yields a finite (clamped) bound, never NaN', () => {
    const {interval} = bootstrapChangeCI([0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 1, 1, 2, 2, 3, 3], 'mean', {rng: seededRng(2), iterations: 500})
    expect(Number.isFinite(interval!.low)).toBe(true)
    expect(Number.isFinite(interval!.high)).toBe(true)
  })

  it('bootstrapStatisticCI brackets the statistic', () => {
    const values = lognormal(seededRng(6), 1000, 0.5)
    const ci = bootstrapStatisticCI(values, {quantile: 0.95}, {rng: seededRng(6)})
    expect(ci.interval.low).toBeLessThan(ci.estimate)
    expect(ci.interval.high).toBeGreaterThan(ci.estimate)
    expect(ci.replicates.length).toBe(2000)
  })
})

describe('baselineSteadiness', () => {
  it('a noisy but stationary baseline passes (false alarms ≤ 2% over 200 seeded trials, p99 and p50)', () => {
    for (const statistic of [{quantile: 0.99}, {quantile: 0.5}]) {
      let unsteady = 0
      for (let trial = 0; trial < 200; trial++) {
        const rng = seededRng(`steady-${trial}`)
        if (!baselineSteadiness(lognormal(rng, 750, 1), statistic, {tolerance: 0.25, rng, iterations: 300}).steady) unsteady++
      }
      expect(unsteady, JSON.stringify(statistic)).toBeLessThanOrEqual(4)
    }
  })

  it('a baseline that drifts by half flags as unsteady, with the reason', () => {
    const rng = seededRng('drift')
    const values = [...lognormal(rng, 375, 0.5), ...lognormal(rng, 375, 0.5, 1.5)]
    const result = baselineSteadiness(values, {quantile: 0.5}, {tolerance: 0.25, rng, label: 'latency p50'})
    expect(result.steady).toBe(false)
    expect(result.reason).toMatch(/^baseline latency p50 moved \+\d+.*not steady$/)
  })

  it('a drift within tolerance is steady even when significant', () => {
    const rng = seededRng('small-drift')
    const values = [...lognormal(rng, 2500, 0.3), ...lognormal(rng, 2500, 0.3, 1.1)]
    const result = baselineSteadiness(values, 'mean', {tolerance: 0.25, rng})
    expect(result.pValue!).toBeLessThan(0.01)
    expect(result.steady).toBe(true)
  })

  it('too few values: assumed steady, and says so', () => {
    const result = baselineSteadiness([1, 2, 3, 4, 5, 6], 'mean', {tolerance: 0.1, rng: seededRng(1)})
    expect(result).toEqual({steady: true, reason: 'too few baseline values (6) to test steadiness; assumed steady'})
  })
})
