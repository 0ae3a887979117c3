// One estimand, one interval, three outcomes. A hypothesis bounds the harm a fault may do ("p99 rises by at most
// 50%"): the verdict says BREACH only when the whole interval lies beyond that limit, CONTAINED only when the whole
// interval lies within it, and INCONCLUSIVE when the interval straddles it. This is Schuirmann's (1987) two
// one-sided tests: each wrong verdict happens at most alpha of the time, the worst case being a true change equal
// to the limit, where a rule on the point estimate errs about half the time.
import {studentTCdf, studentTQuantile} from './sequential.js'
import {normalCdf, normalSf} from './stats.js'
import type {Interval, Verdict} from './types.js'

/** An estimate with its standard error; df = Infinity for a z statistic. */
export interface Estimate {
  estimate: number
  se: number
  df: number
}

export interface ThreeWay {
  verdict: Verdict
  /** estimate ± t_{df}(Phi(z)) * se, level = 1 - 2*(1 - Phi(z)) */
  interval: Interval
  /** one-sided p of H0 "harm within the limit" (small = evidence of breach), from the t distribution */
  pBreach: number
  /** one-sided p of H0 "harm beyond the limit" (small = evidence of containment) */
  pContained: number
}

/**
 * A standard error of exactly 0 says every block agreed to the last digit. From two or three blocks that is luck or
 * a coarse measurement, not certainty, so it gives no verdict; from this many degrees of freedom (five blocks or
 * more agreeing exactly, e.g. a memory limit read as the same byte count every block) the point is the interval.
 */
export const MIN_DF_FOR_EXACT = 4

// A run asks for the same few (z, df) pairs again and again (one z per look, df growing by the blocks of a look),
// and each quantile costs a root search: remember them.
const criticalCache = new Map<string, number>()

/** t_df(Phi(z)): the t quantile with the one-sided tail probability of the normal at z */
export function criticalT(z: number, df: number): number {
  const key = `${z}|${df}`
  let critical = criticalCache.get(key)
  if (critical === undefined) {
    if (criticalCache.size >= 4096) criticalCache.clear()
    critical = -studentTQuantile(normalSf(z), df)
    criticalCache.set(key, critical)
  }
  return critical
}

/**
 * harm 'above': the harmful side is estimate > limit (an increase); 'below': estimate < limit (a fall, or a min bound).
 * breach when the whole interval is beyond the limit, contained when the whole interval is within it, else
 * inconclusive (two one-sided tests, Schuirmann 1987). z is the look's critical value (1.645 for a single look).
 *
 * The z of a group-sequential look is carried to the t scale by its tail probability: the interval uses
 * t_df(Phi(z)), so a look that may spend 0.5% uses the t quantile at 0.5%, not z itself.
 *
 * Without information there is no verdict: a non-finite estimate or se, df <= 0, or se = 0 with fewer than
 * MIN_DF_FOR_EXACT degrees of freedom give INCONCLUSIVE with both p-values 1 (and an infinite interval where the se is
 * unknown). With se = 0 and enough df the interval is the point: beyond the limit is a breach (pBreach 0), within it
 * contained (pContained 0), on it inconclusive.
 */
export function threeWay(est: Estimate, limit: number, harm: 'above' | 'below', z: number): ThreeWay {
  if (!(z > 0) || !Number.isFinite(limit)) throw new RangeError(`threeWay needs z > 0 and a finite limit, got z = ${z}, limit = ${limit}`)
  const level = 1 - 2 * (1 - normalCdf(z))
  const {estimate, se, df} = est
  const nothing: ThreeWay = {verdict: 'inconclusive', interval: {low: -Infinity, high: Infinity, level}, pBreach: 1, pContained: 1}
  if (!Number.isFinite(estimate) || !(se >= 0) || !(df > 0) || se === Infinity) return nothing
  if (se === 0) {
    if (!(df >= MIN_DF_FOR_EXACT)) return {...nothing, interval: {low: estimate, high: estimate, level}}
    const beyond = harm === 'above' ? estimate > limit : estimate < limit
    const within = harm === 'above' ? estimate < limit : estimate > limit
    return {
      verdict: beyond ? 'breach' : within ? 'contained' : 'inconclusive',
      interval: {low: estimate, high: estimate, level},
      pBreach: beyond ? 0 : 1,
      pContained: within ? 0 : 1,
    }
  }
  const critical = criticalT(z, df)
  const low = estimate - critical * se
  const high = estimate + critical * se
  // t of the estimate against the limit, positive on the harmful side
  const t = harm === 'above' ? (estimate - limit) / se : (limit - estimate) / se
  const pBreach = studentTCdf(-t, df)
  const pContained = studentTCdf(t, df)
  const lowerBeyond = harm === 'above' ? low > limit : high < limit
  const upperWithin = harm === 'above' ? high < limit : low > limit
  return {
    verdict: lowerBeyond ? 'breach' : upperWithin ? 'contained' : 'inconclusive',
    interval: {low, high, level},
    pBreach,
    pContained,
  }
}

/**
 * Holm's step-down over breach p-values: which claims stand at family-wise level alpha. Sorted ascending, the i-th
 * smallest (0-based) stands if it and every smaller one is <= alpha / (m - i). NaN never stands.
 */
export function holm(pValues: number[], alpha: number): boolean[] {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`)
  const m = pValues.length
  const order = pValues.map((p, i) => ({p: Number.isNaN(p) ? Infinity : p, i})).sort((a, b) => a.p - b.p)
  const stands = new Array<boolean>(m).fill(false)
  for (let rank = 0; rank < m; rank++) {
    if (!(order[rank].p <= alpha / (m - rank))) break
    stands[order[rank].i] = true
  }
  return stands
}
