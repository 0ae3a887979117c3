// The statistics behind a verdict. Pure functions; the only randomness is a PRNG the caller seeds (e.g. from
// the run id), so the same samples always give the same verdict. Sample arrays must hold finite numbers
// (the judge removes the rest). Everything that ranks or resamples is O(n log n) or better because a window
// can hold many thousands of latencies.
import {formatP} from './format.js'
import type {Interval} from './types.js'

export type Rng = () => number

// ---------------------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: a small, fast 32-bit PRNG with good statistical quality; returns floats in [0, 1). */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** FNV-1a 32-bit hash of a string, to turn a run id (plus neighbour and signal) into a seed. */
export function hashSeed(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** A reproducible PRNG from a number or a string such as `${runId}/${neighbor}/${signal}`. */
export function seededRng(seed: number | string): Rng {
  return mulberry32(typeof seed === 'string' ? hashSeed(seed) : seed)
}

/**
 * One draw from Binomial(trials, p). Inversion, which is exact and cheap for the small means the bootstrap
 * needs; large means fall back to counting Bernoulli trials (exact, O(trials)).
 */
export function binomialSample(trials: number, p: number, rng: Rng): number {
  if (trials <= 0 || p <= 0) return 0
  if (p >= 1) return trials
  if (p > 0.5) return trials - binomialSample(trials, 1 - p, rng)
  const probabilityOfZero = Math.exp(trials * Math.log1p(-p))
  if (trials * p > 50 || probabilityOfZero < 1e-280) {
    let successes = 0
    for (let t = 0; t < trials; t++) if (rng() < p) successes++
    return successes
  }
  const odds = p / (1 - p)
  const u = rng()
  let k = 0
  let probability = probabilityOfZero
  let cumulative = probability
  while (u > cumulative && k < trials) {
    probability *= odds * (trials - k) / (k + 1)
    k++
    cumulative += probability
  }
  return k
}

// ---------------------------------------------------------------------------------------------------------
// Descriptive statistics

function requireValues(values: ArrayLike<number>, what: string): void {
  if (values.length === 0) throw new RangeError(`${what} of an empty sample`)
}

function isSortedAscending(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i - 1] > values[i]) return false
  return true
}

/** A sorted copy (Float64Array sorts numerically). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort()
}

/** Quantile of values already sorted ascending: type 7 (linear interpolation), numpy's default. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  requireValues(sorted, 'quantile')
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile level must be within [0, 1], got ${q}`)
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const fraction = position - below
  if (fraction === 0) return sorted[below]
  return sorted[below] + fraction * (sorted[below + 1] - sorted[below])
}

/** Quantile (type 7, like numpy.quantile) of sorted or unsorted values; unsorted input is copied, not changed. */
export function quantile(values: ArrayLike<number>, q: number): number {
  return quantileSorted(isSortedAscending(values) ? values : sortedCopy(values), q)
}

export function mean(values: ArrayLike<number>): number {
  requireValues(values, 'mean')
  let sum = 0
  for (let i = 0; i < values.length; i++) sum += values[i]
  return sum / values.length
}

export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5)
}

export function sum(values: ArrayLike<number>): number {
  let total = 0
  for (let i = 0; i < values.length; i++) total += values[i]
  return total
}

/** What to compute on a sample: a name, a quantile level, or any function of the values. */
export type StatisticSpec = 'mean' | 'median' | 'sum' | 'min' | 'max' | {quantile: number} | ((values: Float64Array) => number)

export function computeStatistic(values: ArrayLike<number>, statistic: StatisticSpec): number {
  requireValues(values, 'statistic')
  if (typeof statistic === 'function') return statistic(Float64Array.from(values))
  if (typeof statistic === 'object') return quantile(values, statistic.quantile)
  switch (statistic) {
    case 'mean': return mean(values)
    case 'median': return median(values)
    case 'sum': return sum(values)
    case 'min': { let m = Infinity; for (let i = 0; i < values.length; i++) m = Math.min(m, values[i]); return m }
    case 'max': { let m = -Infinity; for (let i = 0; i < values.length; i++) m = Math.max(m, values[i]); return m }
  }
}

/** The quantile level a statistic stands for (median 0.5), or null for mean, sum and functions. */
export function quantileLevelOf(statistic: StatisticSpec): number | null {
  if (typeof statistic === 'object') return statistic.quantile
  if (statistic === 'median') return 0.5
  if (statistic === 'min') return 0
  if (statistic === 'max') return 1
  return null
}

// ---------------------------------------------------------------------------------------------------------
// The normal distribution

/**
 * Standard normal CDF, Hart's double-precision algorithm (as given by G. West, 2005): absolute error below
 * 1e-14, and accurate relative tails far out, which small p-values need.
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN
  const z = Math.abs(x)
  let tail: number
  if (z > 37) {
    tail = 0
  } else {
    const exponential = Math.exp(-z * z / 2)
    if (z < 7.071_067_811_865_47) {
      let numerator = 3.526_249_659_989_11e-2 * z + 0.700_383_064_443_688
      numerator = numerator * z + 6.373_962_203_531_65
      numerator = numerator * z + 33.912_866_078_383
      numerator = numerator * z + 112.079_291_497_871
      numerator = numerator * z + 221.213_596_169_931
      numerator = numerator * z + 220.206_867_912_376
      let denominator = 8.838_834_764_831_84e-2 * z + 1.755_667_163_182_64
      denominator = denominator * z + 16.064_177_579_207
      denominator = denominator * z + 86.780_732_202_946_1
      denominator = denominator * z + 296.564_248_779_674
      denominator = denominator * z + 637.333_633_378_831
      denominator = denominator * z + 793.826_512_519_948
      denominator = denominator * z + 440.413_735_824_752
      tail = exponential * numerator / denominator
    } else {
      let fraction = z + 0.65
      fraction = z + 4 / fraction
      fraction = z + 3 / fraction
      fraction = z + 2 / fraction
      fraction = z + 1 / fraction
      tail = exponential / fraction / 2.506_628_274_631
    }
  }
  return x > 0 ? 1 - tail : tail
}

/** Upper tail P(Z > x), computed without cancellation. */
export function normalSf(x: number): number {
  return normalCdf(-x)
}

/** Inverse standard normal CDF: Acklam's rational approximation polished by one Halley step (~1e-15). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity
    if (p === 1) return Infinity
    throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`)
  }
  const a = [-3.969_683_028_665_376e1, 2.209_460_984_245_205e2, -2.759_285_104_469_687e2, 1.383_577_518_672_69e2, -3.066_479_806_614_716e1, 2.506_628_277_459_239]
  const b = [-5.447_609_879_822_406e1, 1.615_858_368_580_409e2, -1.556_989_798_598_866e2, 6.680_131_188_771_972e1, -1.328_068_155_288_572e1]
  const c = [-7.784_894_002_430_293e-3, -3.223_964_580_411_365e-1, -2.400_758_277_161_838, -2.549_732_539_343_734, 4.374_664_141_464_968, 2.938_163_982_698_783]
  const d = [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416]
  const lowRegion = 0.024_25
  let x: number
  if (p < lowRegion || p > 1 - lowRegion) {
    const q = Math.sqrt(-2 * Math.log(p < lowRegion ? p : 1 - p))
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if (p > lowRegion) x = -x
  } else {
    const q = p - 0.5
    const r = q * q
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  }
  const error = normalCdf(x) - p
  const step = error * Math.sqrt(2 * Math.PI) * Math.exp(x * x / 2)
  return x - step / (1 + x * step / 2)
}

/** The z of a two-sided interval at this level, e.g. 1.96 for 0.95. */
export function twoSidedZ(level: number): number {
  return normalQuantile(1 - (1 - level) / 2)
}

// ---------------------------------------------------------------------------------------------------------
// Mann-Whitney U

export interface MannWhitneyResult {
  /** U of the first sample (scipy's `mannwhitneyu(a, b).statistic`): pairs with a > b, ties counting half */
  uA: number
  /** U of the second sample, n1·n2 − uA */
  uB: number
  /** standardized U of b, tie- and continuity-corrected; positive when b tends to be larger (0 when every value ties) */
  z: number
  /** p-value for "b is stochastically greater than a" */
  pBGreater: number
  /** p-value for "b is stochastically less than a" */
  pBLess: number
  pTwoSided: number
  /** rank-biserial correlation (uB − uA)/(n1·n2), in [−1, 1]; positive when b tends to be larger */
  rankBiserial: number
  /** exact null distribution (no ties and one sample ≤ 8, as scipy's method='auto'), or the normal approximation */
  method: 'exact' | 'asymptotic'
  /** set when the normal approximation is used on samples too small for it (< 8 with ties) */
  warning?: string
}

const EXACT_MAX_SMALL_SAMPLE = 8
const EXACT_MAX_CELLS = 2_000_000

/**
 * Mann-Whitney U test of two independent samples. Ranks by sorting each sample and merging, O(n log n).
 * Returns null when either sample is empty.
 */
export function mannWhitneyU(a: ArrayLike<number>, b: ArrayLike<number>): MannWhitneyResult | null {
  const n1 = a.length
  const n2 = b.length
  if (n1 === 0 || n2 === 0) return null
  const {uA, tieTerm} = mannWhitneyCounts(sortedCopy(a), sortedCopy(b))
  const pairs = n1 * n2
  const uB = pairs - uA
  const rankBiserial = (uB - uA) / pairs
  const hasTies = tieTerm > 0

  if (!hasTies && Math.min(n1, n2) <= EXACT_MAX_SMALL_SAMPLE && pairs <= EXACT_MAX_CELLS) {
    const cdf = exactUCdf(n1, n2)
    const atMost = (u: number) => (u < 0 ? 0 : Math.min(1, cdf[Math.min(u, pairs)]))
    const pBGreater = atMost(uA) // small uA: b wins most pairs
    const pBLess = 1 - atMost(uA - 1)
    return {
      uA, uB, z: continuityCorrectedZ(uB, n1, n2, tieTerm), pBGreater, pBLess,
      pTwoSided: Math.min(1, 2 * Math.min(pBGreater, pBLess)), rankBiserial, method: 'exact',
    }
  }

  // scipy's convention: the upper tail of the U that the alternative makes large, continuity −0.5
  const sd = uStandardDeviation(n1, n2, tieTerm)
  const upperTail = (u: number) => (sd === 0 ? 1 : normalSf((u - pairs / 2 - 0.5) / sd))
  const result: MannWhitneyResult = {
    uA, uB, z: continuityCorrectedZ(uB, n1, n2, tieTerm),
    pBGreater: upperTail(uB), pBLess: upperTail(uA), pTwoSided: Math.min(1, 2 * upperTail(Math.max(uA, uB))),
    rankBiserial, method: 'asymptotic',
  }
  if (Math.min(n1, n2) < EXACT_MAX_SMALL_SAMPLE) result.warning = `samples of ${n1} and ${n2} with ties: the normal approximation is rough`
  return result
}

/** uA and the tie term Σ(t³ − t) over groups of equal values, by merging two sorted samples. */
function mannWhitneyCounts(a: Float64Array, b: Float64Array): {uA: number, tieTerm: number} {
  let i = 0
  let j = 0
  let uA = 0
  let tieTerm = 0
  while (i < a.length || j < b.length) {
    const value = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i] : b[j]
    const bBelow = j
    let inA = 0
    let inB = 0
    while (i < a.length && a[i] === value) { i++; inA++ }
    while (j < b.length && b[j] === value) { j++; inB++ }
    uA += inA * (bBelow + inB / 2)
    const tied = inA + inB
    tieTerm += tied * tied * tied - tied
  }
  return {uA, tieTerm}
}

function uStandardDeviation(n1: number, n2: number, tieTerm: number): number {
  const n = n1 + n2
  const variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
  return variance > 0 ? Math.sqrt(variance) : 0
}

function continuityCorrectedZ(uB: number, n1: number, n2: number, tieTerm: number): number {
  const sd = uStandardDeviation(n1, n2, tieTerm)
  if (sd === 0) return 0
  const distance = uB - n1 * n2 / 2
  return Math.sign(distance) * Math.max(0, Math.abs(distance) - 0.5) / sd
}

/**
 * CDF of U under the null without ties: the coefficients of the Gaussian binomial [n1+n2 choose m]_q,
 * built as Π (1 − q^(n+i)) / (1 − q^i) over i = 1..m with m the smaller size. O(m² n) additions.
 */
function exactUCdf(n1: number, n2: number): Float64Array {
  const m = Math.min(n1, n2)
  const n = Math.max(n1, n2)
  const counts = new Float64Array(m * n + m + 1)
  counts[0] = 1
  let degree = 0
  for (let i = 1; i <= m; i++) {
    const multiplied = degree + n + i
    for (let k = multiplied; k >= n + i; k--) counts[k] -= counts[k - n - i]
    for (let k = i; k <= multiplied; k++) counts[k] += counts[k - i]
    degree += n
  }
  let total = 0
  for (let k = 0; k <= degree; k++) total += Math.max(0, counts[k])
  const cdf = new Float64Array(degree + 1)
  let running = 0
  for (let k = 0; k <= degree; k++) {
    running += Math.max(0, counts[k])
    cdf[k] = running / total
  }
  return cdf
}

// ---------------------------------------------------------------------------------------------------------
// Proportions

/** Wilson score interval for events/total; {0, 1} when total is 0. */
export function wilsonInterval(events: number, total: number, level = 0.95): Interval {
  if (total <= 0) return {low: 0, high: 1, level}
  const z = twoSidedZ(level)
  const p = events / total
  const z2 = z * z
  const centre = (p + z2 / (2 * total)) / (1 + z2 / total)
  const halfWidth = z / (1 + z2 / total) * Math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
  return {
    low: events === 0 ? 0 : Math.max(0, centre - halfWidth),
    high: events === total ? 1 : Math.min(1, centre + halfWidth),
    level,
  }
}

export interface ProportionTest {
  /** standardized difference (b − a) with the pooled standard error; positive when b's rate is higher */
  z: number
  /** p-value for "b's rate is higher than a's" */
  pBGreater: number
  pBLess: number
  pTwoSided: number
}

/** Two-proportion z-test with the pooled variance. All-zero or all-event data carry no evidence: p = 1. */
export function twoProportionTest(eventsA: number, totalA: number, eventsB: number, totalB: number): ProportionTest {
  if (totalA <= 0 || totalB <= 0) return {z: 0, pBGreater: 1, pBLess: 1, pTwoSided: 1}
  const pooled = (eventsA + eventsB) / (totalA + totalB)
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / totalA + 1 / totalB))
  if (se === 0) return {z: 0, pBGreater: 1, pBLess: 1, pTwoSided: 1}
  const z = (eventsB / totalB - eventsA / totalA) / se
  return {z, pBGreater: normalSf(z), pBLess: normalCdf(z), pTwoSided: Math.min(1, 2 * normalSf(Math.abs(z)))}
}

/**
 * One-sided score test of a single proportion against a bound p0 (the test the Wilson interval inverts):
 * p-value for "the true rate is above p0" (direction 'above') or below it.
 */
export function proportionBoundTest(events: number, total: number, bound: number, direction: 'above' | 'below'): number {
  if (total <= 0) return 1
  const observed = events / total
  if (bound <= 0) return direction === 'above' ? (events > 0 ? 0 : 1) : 1
  if (bound >= 1) return direction === 'below' ? (events < total ? 0 : 1) : 1
  const z = (observed - bound) / Math.sqrt(bound * (1 - bound) / total)
  return direction === 'above' ? normalSf(z) : normalCdf(z)
}

/**
 * Relative change of a rate, pB/pA − 1, with the Katz log interval of the risk ratio (0.5 added to every
 * cell when a count is 0, so a window without events still gets a finite interval). null when pA is 0.
 */
export function proportionChangeCI(eventsA: number, totalA: number, eventsB: number, totalB: number, level = 0.95): {change: number | null, interval: Interval | null} {
  if (totalA <= 0 || totalB <= 0 || eventsA === 0) return {change: null, interval: null}
  const change = (eventsB / totalB) / (eventsA / totalA) - 1
  const pad = eventsB === 0 ? 0.5 : 0
  const xA = eventsA + pad
  const nA = totalA + pad
  const xB = eventsB + pad
  const nB = totalB + pad
  const logRatio = Math.log((xB / nB) / (xA / nA))
  const se = Math.sqrt(Math.max(0, 1 / xA - 1 / nA + 1 / xB - 1 / nB))
  const z = twoSidedZ(level)
  return {change, interval: {low: Math.exp(logRatio - z * se) - 1, high: Math.exp(logRatio + z * se) - 1, level}}
}

// ---------------------------------------------------------------------------------------------------------
// Tail shifts

/** One-sided and two-sided p-values of a comparison of two proportions. */
export interface ProportionPValues {
  pBGreater: number
  pBLess: number
  pTwoSided: number
}

/** log Γ(x) for x > 0, Lanczos approximation (g = 7, 9 terms; ~1e-15 relative). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const c = [0.999_999_999_999_809_93, 676.520_368_121_885_1, -1259.139_216_722_402_8, 771.323_428_777_653_13,
    -176.615_029_162_140_59, 12.507_343_278_686_905, -0.138_571_095_265_720_12, 9.984_369_578_019_571_6e-6, 1.505_632_735_149_311_6e-7]
  const shifted = x - 1
  let series = c[0]
  for (let i = 1; i < c.length; i++) series += c[i] / (shifted + i)
  const t = shifted + 7.5
  return 0.5 * Math.log(2 * Math.PI) + (shifted + 0.5) * Math.log(t) - t + Math.log(series)
}

function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1)
}

/**
 * Fisher's exact test of eventsA/totalA vs eventsB/totalB: given all the events, how many fall in B is
 * hypergeometric. Two-sided p doubles the smaller tail (capped at 1). Exact, so trustworthy for the handful of
 * events a tail or a rare error leaves, where the z-test overstates significance.
 */
export function fisherExactTest(eventsA: number, totalA: number, eventsB: number, totalB: number): ProportionPValues {
  const population = totalA + totalB
  const events = eventsA + eventsB
  if (totalA <= 0 || totalB <= 0 || events === 0 || events === population) return {pBGreater: 1, pBLess: 1, pTwoSided: 1}
  const lowest = Math.max(0, totalB - (population - events))
  const highest = Math.min(events, totalB)
  const logTotal = logChoose(population, totalB)
  const probability = (x: number) => Math.exp(logChoose(events, x) + logChoose(population - events, totalB - x) - logTotal)
  let upper = 0
  for (let x = eventsB; x <= highest; x++) upper += probability(x)
  let lower = 0
  for (let x = lowest; x <= eventsB; x++) lower += probability(x)
  const pBGreater = Math.min(1, upper)
  const pBLess = Math.min(1, lower)
  return {pBGreater, pBLess, pTwoSided: Math.min(1, 2 * Math.min(pBGreater, pBLess))}
}

/**
 * Two-proportion comparison for the judge: the z-test when every expected cell count is at least 5 (the
 * classic rule), Fisher's exact test below that.
 */
export function compareProportions(eventsA: number, totalA: number, eventsB: number, totalB: number): ProportionPValues & {test: 'two-proportion-z' | 'fisher-exact'} {
  const rate = (eventsA + eventsB) / (totalA + totalB)
  const smallestExpected = Math.min(totalA, totalB) * Math.min(rate, 1 - rate)
  if (smallestExpected >= 5) {
    const {pBGreater, pBLess, pTwoSided} = twoProportionTest(eventsA, totalA, eventsB, totalB)
    return {pBGreater, pBLess, pTwoSided, test: 'two-proportion-z'}
  }
  return {...fisherExactTest(eventsA, totalA, eventsB, totalB), test: 'fisher-exact'}
}

export interface ExceedanceTest extends ProportionPValues {
  /** the pooled quantile both samples are measured against */
  threshold: number
  aAbove: number
  bAbove: number
}

/**
 * Is b's q-quantile higher than a's? Counts how many of each sample exceed the pooled q-quantile and compares
 * the two shares with Fisher's exact test (Mood's median test, generalised to any quantile). Unlike
 * Mann-Whitney, which weighs the whole distribution, it sees a shift confined to the tail: the classic
 * noisy-neighbour symptom.
 */
export function quantileExceedanceTest(a: ArrayLike<number>, b: ArrayLike<number>, q: number): ExceedanceTest | null {
  if (a.length === 0 || b.length === 0) return null
  const pooled = new Float64Array(a.length + b.length)
  pooled.set(a)
  pooled.set(b, a.length)
  const threshold = quantileSorted(pooled.sort(), q)
  const countAbove = (values: ArrayLike<number>) => {
    let count = 0
    for (let i = 0; i < values.length; i++) if (values[i] > threshold) count++
    return count
  }
  const aAbove = countAbove(a)
  const bAbove = countAbove(b)
  return {threshold, aAbove, bAbove, ...fisherExactTest(aAbove, a.length, bAbove, b.length)}
}

export interface ShiftTest {
  test: 'mann-whitney-u' | 'quantile-exceedance'
  pBGreater: number
  pBLess: number
  pTwoSided: number
}

/** Quantiles at or above this level are tested for a tail shift rather than a location shift. */
export const TAIL_QUANTILE = 0.9

/**
 * The shift test that matches a statistic: Mann-Whitney for the centre (mean, median, p50), the
 * quantile-exceedance test for tail quantiles (p90 and above), where Mann-Whitney has next to no power.
 */
export function shiftTest(a: ArrayLike<number>, b: ArrayLike<number>, statistic: StatisticSpec): ShiftTest | null {
  const level = quantileLevelOf(statistic)
  if (level !== null && level >= TAIL_QUANTILE && level < 1) {
    const tail = quantileExceedanceTest(a, b, level)
    return tail && {test: 'quantile-exceedance', pBGreater: tail.pBGreater, pBLess: tail.pBLess, pTwoSided: tail.pTwoSided}
  }
  const mw = mannWhitneyU(a, b)
  return mw && {test: 'mann-whitney-u', pBGreater: mw.pBGreater, pBLess: mw.pBLess, pTwoSided: mw.pTwoSided}
}

// ---------------------------------------------------------------------------------------------------------
// Bootstrap

export interface BootstrapOptions {
  /** resamples; default 2000 */
  iterations?: number
  /** confidence level; default 0.95 */
  level?: number
  rng: Rng
}

/**
 * The statistic of one resample (drawn with replacement, same size) of `values`, as a closure over the sorted
 * sample. Quantiles, min and max never build the resample: the multinomial counts of the sorted values are
 * drawn as a chain of binomials from the nearer end, stopping at the order statistics needed, so p99 of
 * 5,000 values costs ~60 draws instead of a 5,000-value resample and a selection.
 */
export function resampledStatistic(values: ArrayLike<number>, statistic: StatisticSpec, rng: Rng): () => number {
  requireValues(values, 'bootstrap')
  const sorted = sortedCopy(values)
  const n = sorted.length
  if (typeof statistic === 'function') {
    const resample = new Float64Array(n)
    return () => {
      for (let i = 0; i < n; i++) resample[i] = sorted[Math.floor(rng() * n)]
      return statistic(resample)
    }
  }
  if (statistic === 'mean' || statistic === 'sum') {
    const divisor = statistic === 'mean' ? n : 1
    return () => {
      let total = 0
      for (let i = 0; i < n; i++) total += sorted[Math.floor(rng() * n)]
      return total / divisor
    }
  }
  const level = quantileLevelOf(statistic) as number
  const position = (n - 1) * level
  const below = Math.floor(position)
  const fraction = position - below
  const ranks = fraction > 0 ? [below, below + 1] : [below]
  // the binomial walk costs a few transcendental calls per value it passes; past ~n/8 values from the nearer
  // end, tallying a plain resample (one draw per value) and scanning the tallies is cheaper
  const distanceFromNearerEnd = Math.min(ranks[ranks.length - 1] + 1, n - ranks[0])
  const orderStatistics = distanceFromNearerEnd <= n / 8
    ? () => resampledOrderStatistics(sorted, ranks, rng)
    : tallyingOrderStatistics(sorted, ranks, rng)
  return () => {
    const order = orderStatistics()
    return fraction > 0 ? order[0] + fraction * (order[1] - order[0]) : order[0]
  }
}

/** Order statistics of a resample by tallying n uniform draws per sorted value, then a cumulative scan. */
function tallyingOrderStatistics(sorted: Float64Array, ranks: number[], rng: Rng): () => number[] {
  const n = sorted.length
  const tally = new Int32Array(n)
  return () => {
    tally.fill(0)
    for (let i = 0; i < n; i++) tally[Math.floor(rng() * n)]++
    const found = new Array<number>(ranks.length)
    let seen = 0
    let k = 0
    for (let i = 0; i < n && k < ranks.length; i++) {
      seen += tally[i]
      while (k < ranks.length && ranks[k] < seen) found[k++] = sorted[i]
    }
    return found
  }
}

/**
 * Order statistics (0-based ranks, ascending) of one bootstrap resample of a sorted sample, without building
 * it: the count of each sorted value in the resample is Binomial(draws left, 1/values left), walked from the
 * end nearer the ranks until every rank is reached.
 */
export function resampledOrderStatistics(sorted: ArrayLike<number>, ranks: number[], rng: Rng): number[] {
  const n = sorted.length
  const found = new Array<number>(ranks.length)
  let remaining = n
  let seen = 0
  if (ranks[0] + ranks[ranks.length - 1] >= n - 1) {
    let k = ranks.length - 1
    for (let i = n - 1; i >= 0 && k >= 0; i--) {
      const drawn = binomialSample(remaining, 1 / (i + 1), rng)
      remaining -= drawn
      seen += drawn
      while (k >= 0 && n - 1 - ranks[k] < seen) found[k--] = sorted[i]
    }
  } else {
    let k = 0
    for (let i = 0; i < n && k < ranks.length; i++) {
      const drawn = binomialSample(remaining, 1 / (n - i), rng)
      remaining -= drawn
      seen += drawn
      while (k < ranks.length && ranks[k] < seen) found[k++] = sorted[i]
    }
  }
  return found
}

/** Percentile interval of sorted replicates; infinities are clamped so the interval stays JSON-safe. */
function percentileInterval(sortedReplicates: Float64Array, level: number): Interval {
  const alpha = 1 - level
  return {low: quantileSorted(sortedReplicates, alpha / 2), high: quantileSorted(sortedReplicates, 1 - alpha / 2), level}
}

function clampInfinite(x: number): number {
  if (x === Infinity) return Number.MAX_VALUE
  if (x === -Infinity) return -Number.MAX_VALUE
  return x
}

/** fault/baseline − 1; a rise from 0 is +∞ (clamped), 0 to 0 is no change. */
export function relativeChange(baseline: number, fault: number): number {
  if (baseline === 0) return fault === 0 ? 0 : clampInfinite(fault > 0 ? Infinity : -Infinity)
  return fault / baseline - 1
}

export interface ChangeCI {
  /** stat(fault)/stat(baseline) − 1 on the full samples; null when the baseline statistic is 0 */
  change: number | null
  /** percentile bootstrap interval of the change; null when change is null */
  interval: Interval | null
  /** share of resamples where the change was ≤ 0 (≥ 0): a bootstrap p-value for a rise (fall) */
  pRise: number | null
  pFall: number | null
}

/**
 * Percentile bootstrap CI of stat(fault)/stat(baseline) − 1, resampling both windows independently.
 * Throws on an empty window.
 */
export function bootstrapChangeCI(baseline: ArrayLike<number>, fault: ArrayLike<number>, statistic: StatisticSpec, {iterations = 2000, level = 0.95, rng}: BootstrapOptions): ChangeCI {
  const baselineValue = computeStatistic(baseline, statistic)
  const faultValue = computeStatistic(fault, statistic)
  if (baselineValue === 0) return {change: null, interval: null, pRise: null, pFall: null}
  const resampleBaseline = resampledStatistic(baseline, statistic, rng)
  const resampleFault = resampledStatistic(fault, statistic, rng)
  return changeFromReplicates(baselineValue, faultValue, resampleBaseline, resampleFault, iterations, level)
}

/** Values grouped by block id, in block order; blocks with no value are absent. */
export function groupByBlock(values: ArrayLike<number>, blocks: ArrayLike<number>): number[][] {
  const groups = new Map<number, number[]>()
  for (let i = 0; i < values.length; i++) {
    const group = groups.get(blocks[i])
    if (group) group.push(values[i])
    else groups.set(blocks[i], [values[i]])
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g)
}

/**
 * Cluster (block) bootstrap of the relative change: whole blocks are resampled with replacement, so the
 * interval reflects how the statistic varies from block to block (bursts of noise), not only within them.
 */
export function blockBootstrapChangeCI(baseline: number[][], fault: number[][], statistic: StatisticSpec, {iterations = 2000, level = 0.95, rng}: BootstrapOptions): ChangeCI {
  const baselineValue = computeStatistic(baseline.flat(), statistic)
  const faultValue = computeStatistic(fault.flat(), statistic)
  if (baselineValue === 0) return {change: null, interval: null, pRise: null, pFall: null}
  const resample = (groups: number[][]) => {
    const picked: number[] = []
    for (let i = 0; i < groups.length; i++) {
      const group = groups[Math.floor(rng() * groups.length)]
      for (const v of group) picked.push(v)
    }
    return computeStatistic(picked, statistic)
  }
  return changeFromReplicates(baselineValue, faultValue, () => resample(baseline), () => resample(fault), iterations, level)
}

/** The change, its percentile interval and bootstrap p-values from `iterations` draws of each window's statistic. */
function changeFromReplicates(baselineValue: number, faultValue: number, drawBaseline: () => number, drawFault: () => number, iterations: number, level: number): ChangeCI {
  const replicates = new Float64Array(iterations)
  let atOrBelowZero = 0
  let atOrAboveZero = 0
  for (let i = 0; i < iterations; i++) {
    // the baseline is drawn first: a seeded run's numbers stay what they were
    const change = relativeChange(drawBaseline(), drawFault())
    replicates[i] = change
    if (change <= 0) atOrBelowZero++
    if (change >= 0) atOrAboveZero++
  }
  replicates.sort()
  return {
    change: faultValue / baselineValue - 1,
    interval: percentileInterval(replicates, level),
    pRise: (atOrBelowZero + 1) / (iterations + 1),
    pFall: (atOrAboveZero + 1) / (iterations + 1),
  }
}

export interface StatisticCI {
  estimate: number
  interval: Interval
  /** bootstrap replicates of the statistic, sorted */
  replicates: Float64Array
}

/** Percentile bootstrap CI of one sample's statistic. Throws on an empty sample. */
export function bootstrapStatisticCI(values: ArrayLike<number>, statistic: StatisticSpec, {iterations = 2000, level = 0.95, rng}: BootstrapOptions): StatisticCI {
  const estimate = computeStatistic(values, statistic)
  const resample = resampledStatistic(values, statistic, rng)
  const replicates = new Float64Array(iterations)
  for (let i = 0; i < iterations; i++) replicates[i] = resample()
  replicates.sort()
  return {estimate, interval: percentileInterval(replicates, level), replicates}
}

// ---------------------------------------------------------------------------------------------------------
// Steadiness

export interface SteadinessOptions {
  /** largest drift between the halves that still counts as steady, as a fraction (0.25 = 25%) */
  tolerance: number
  /** two-sided significance the drift must reach to count; default 0.01 (strict: a false alarm wastes a run) */
  alpha?: number
  level?: number
  iterations?: number
  rng: Rng
  /** fewer values than this per half and the check is skipped (steady); default 8 */
  minPerHalf?: number
  /** how to name the statistic in the reason, e.g. "p99" */
  label?: string
}

export interface Steadiness {
  steady: boolean
  reason: string
  /** second half vs first half, when tested */
  drift?: number
  pValue?: number
}

/**
 * Did the baseline hold still? Splits the values (in time order) into a first and a second half and calls
 * the baseline unsteady only when all three agree: the statistic drifted by more than the tolerance, the
 * shift test is significant at the strict alpha, and the bootstrap CI of the drift excludes 0. A noisy but
 * stationary baseline passes.
 */
export function baselineSteadiness(values: ArrayLike<number>, statistic: StatisticSpec, options: SteadinessOptions): Steadiness {
  const {tolerance, alpha = 0.01, level = 0.95, iterations = 1000, rng, minPerHalf = 8, label = 'the statistic'} = options
  const half = Math.floor(values.length / 2)
  if (half < minPerHalf) return {steady: true, reason: `too few baseline values (${values.length}) to test steadiness; assumed steady`}
  const first = Array.prototype.slice.call(values, 0, half) as number[]
  const second = Array.prototype.slice.call(values, values.length - half) as number[]
  const {change, interval} = bootstrapChangeCI(first, second, statistic, {iterations, level, rng})
  const pValue = driftPValue(first, second, statistic)
  if (pValue === null || change === null || interval === null) return {steady: true, reason: `baseline ${label} is 0 in its first half; drift not measurable`}
  const significant = pValue < alpha
  const beyondTolerance = Math.abs(change) > tolerance
  const ciExcludesZero = interval.low > 0 || interval.high < 0
  const drift = `baseline ${label} moved ${signedPercent(change)} from its first half to its second (${formatP(pValue)})`
  if (significant && beyondTolerance && ciExcludesZero) {
    return {steady: false, reason: `${drift}, more than the ${signedPercent(tolerance).replace('+', '')} tolerated: the baseline is not steady`, drift: change, pValue}
  }
  return {steady: true, reason: `${drift}: steady`, drift: change, pValue}
}

/**
 * Two-sided p-value of a drift between the halves. For a tail quantile the smaller of the tail test's and
 * Mann-Whitney's: halves leave too few tail values for the tail test alone to see anything, and a baseline
 * that drifts (warm-up, a change of load) usually moves as a whole, which Mann-Whitney sees. The other two
 * conditions (drift beyond tolerance, CI clear of 0) keep the false alarms rare.
 */
function driftPValue(first: number[], second: number[], statistic: StatisticSpec): number | null {
  const shift = shiftTest(first, second, statistic)
  if (shift === null) return null
  if (shift.test === 'mann-whitney-u') return shift.pTwoSided
  const mw = mannWhitneyU(first, second)
  return Math.min(shift.pTwoSided, mw ? mw.pTwoSided : 1)
}

function signedPercent(fraction: number): string {
  const percent = Number((fraction * 100).toPrecision(3))
  return `${percent >= 0 ? '+' : ''}${percent}%`
}
