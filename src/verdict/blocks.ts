// Estimates over blocks. A block is a measuring interval of a few seconds; requests inside one share the machine's
// passing state (a burst elsewhere slows them all), so the block, not the request, is the unit of evidence: every
// estimate here has a standard error from the spread between blocks and degrees of freedom from their number.
// The results feed threeWay() in three-way.ts:
//   p99 (or any per-block statistic) rises at most L      pairedLogRatio (interleaved) or welchLogRatio (baseline
//                                                          blocks vs fault blocks); limit ln(1 + L), harm 'above'
//   ... falls at most D (throughput)                      the same; limit ln(1 - D), harm 'below'
//   a per-block value stays under (over) a bound           blockMean; limit = the bound, harm 'above' ('below')
//   an error rate / slow share rises at most L (relative)  pairedShareRatio; limit ln(1 + L), harm 'above'
//   ... rises at most A (absolute, on - off)               pairedDifference with the totals; limit A, harm 'above'
//   ... stays under a bound during the fault               clusteredProportion; limit = the bound, harm 'above'
//                                                          (optimistic on its upper side when rare bursts own the
//                                                          share: see test/unit/verdict-proportion-simulation.test.ts)
import type {Estimate} from './three-way.js'

export type BlockEstimate = Estimate & {n: number}

/** mean, the standard error of the mean and df = n - 1; se is Infinity under two values (nothing to spread). */
function meanWithSe(values: number[]): BlockEstimate {
  const n = values.length
  if (n === 0) return {estimate: Number.NaN, se: Infinity, df: 0, n}
  let total = 0
  for (const v of values) total += v
  const average = total / n
  if (n < 2) return {estimate: average, se: Infinity, df: 0, n}
  return {estimate: average, se: Math.sqrt(sampleVariance(values, average) / n), df: n - 1, n}
}

function sampleVariance(values: number[], average: number): number {
  let squares = 0
  for (const v of values) squares += (v - average) ** 2
  return squares / (values.length - 1)
}

function checkPaired(on: number[], off: number[]): void {
  if (on.length !== off.length) throw new RangeError(`paired blocks need as many on-blocks as off-blocks, got ${on.length} and ${off.length}`)
}

/**
 * d_j = ln(on_j) - ln(off_j) over pairs where both are > 0 and finite: estimate mean(d), se = sd(d)/sqrt(n), df = n-1.
 * The relative change is exp(estimate) - 1; a threshold max_increase L is compared on ln(1+L).
 */
export function pairedLogRatio(on: number[], off: number[]): BlockEstimate {
  checkPaired(on, off)
  const differences: number[] = []
  for (let j = 0; j < on.length; j++) {
    if (on[j] > 0 && off[j] > 0 && Number.isFinite(on[j]) && Number.isFinite(off[j])) differences.push(Math.log(on[j]) - Math.log(off[j]))
  }
  return meanWithSe(differences)
}

/**
 * Unpaired: Welch on the logs of two samples of block statistics (Welch-Satterthwaite df). Values that are not > 0
 * and finite are left out. n is the number of blocks used on both sides together; nOn and nOff each side's.
 */
export function welchLogRatio(on: number[], off: number[]): BlockEstimate & {nOn: number, nOff: number} {
  const logs = (values: number[]) => values.filter(v => v > 0 && Number.isFinite(v)).map(v => Math.log(v))
  const a = logs(on)
  const b = logs(off)
  const n = a.length + b.length
  const base = {nOn: a.length, nOff: b.length, n}
  if (a.length === 0 || b.length === 0) return {...base, estimate: Number.NaN, se: Infinity, df: 0}
  const meanA = a.reduce((s, v) => s + v, 0) / a.length
  const meanB = b.reduce((s, v) => s + v, 0) / b.length
  const estimate = meanA - meanB
  if (a.length < 2 || b.length < 2) return {...base, estimate, se: Infinity, df: 0}
  const shareA = sampleVariance(a, meanA) / a.length
  const shareB = sampleVariance(b, meanB) / b.length
  const variance = shareA + shareB
  // both sides constant: Welch's df is 0/0; the pooled df is the honest count
  const df = variance > 0 ? variance ** 2 / (shareA ** 2 / (a.length - 1) + shareB ** 2 / (b.length - 1)) : n - 2
  return {...base, estimate, se: Math.sqrt(variance), df}
}

/**
 * The binomial standard error of a share at the Agresti-Coull centre p~ = (e+2)/(N+4), over N+4 trials: what events
 * over N requests could at least vary by if requests were independent. Never 0, so 0 events in 1,000 requests
 * still leave an interval of a few per mille.
 */
export function binomialFloorSe(events: number, total: number): number {
  const centre = (events + 2) / (total + 4)
  return Math.sqrt(centre * (1 - centre) / (total + 4))
}

/**
 * A share of events over clusters (blocks): ratio estimator sum(e)/sum(n), cluster-robust (CR1) se, df = clusters-1;
 * never narrower than the binomial se at Agresti-Coull p~ = (e+2)/(N+4) over the pooled N, so 0 events in 1000
 * requests gives a finite upper bound near 0.3%, not a zero-width interval.
 * Blocks with no requests carry no information and are left out (they still count for nothing in df).
 */
export function clusteredProportion(events: number[], totals: number[]): BlockEstimate & {floored: boolean} {
  if (events.length !== totals.length) throw new RangeError(`one total per block of events, got ${events.length} and ${totals.length}`)
  const kept: number[] = []
  for (let j = 0; j < totals.length; j++) {
    if (!(Number.isFinite(events[j]) && Number.isFinite(totals[j]) && events[j] >= 0 && totals[j] >= events[j])) {
      throw new RangeError(`block ${j}: events ${events[j]} out of ${totals[j]} is not a share`)
    }
    if (totals[j] > 0) kept.push(j)
  }
  const clusters = kept.length
  let eventSum = 0
  let totalSum = 0
  for (const j of kept) {
    eventSum += events[j]
    totalSum += totals[j]
  }
  if (clusters === 0) return {estimate: Number.NaN, se: Infinity, df: 0, n: 0, floored: false}
  const share = eventSum / totalSum
  const floor = binomialFloorSe(eventSum, totalSum)
  if (clusters < 2) return {estimate: share, se: Infinity, df: 0, n: 1, floored: false}
  // CR1: the sandwich variance of a ratio estimator with the small-sample factor G/(G-1)
  let residualSquares = 0
  for (const j of kept) residualSquares += (events[j] - share * totals[j]) ** 2
  const robust = Math.sqrt(clusters / (clusters - 1) * residualSquares) / totalSum
  return {estimate: share, se: Math.max(robust, floor), df: clusters - 1, n: clusters, floored: floor > robust}
}

/**
 * Paired difference of shares (on - off) per pair, for relative or absolute thresholds on error rates: estimate
 * mean(on_j - off_j), se = sd/sqrt(n), df = n - 1 over pairs where both are finite. With the requests behind each
 * share (totals), the se is never narrower than the binomial se of a difference of two Agresti-Coull shares over
 * the pooled counts, so identical zero error rates on both sides do not make a zero-width interval.
 */
export function pairedDifference(on: number[], off: number[], totals?: {on: number[], off: number[]}): BlockEstimate & {floored: boolean} {
  checkPaired(on, off)
  if (totals && (totals.on.length !== on.length || totals.off.length !== off.length)) throw new RangeError('one total per paired share')
  const differences: number[] = []
  let eventsOn = 0
  let eventsOff = 0
  let requestsOn = 0
  let requestsOff = 0
  for (let j = 0; j < on.length; j++) {
    if (!(Number.isFinite(on[j]) && Number.isFinite(off[j]))) continue
    differences.push(on[j] - off[j])
    if (totals) {
      eventsOn += on[j] * totals.on[j]
      requestsOn += totals.on[j]
      eventsOff += off[j] * totals.off[j]
      requestsOff += totals.off[j]
    }
  }
  const result = meanWithSe(differences)
  if (!totals || result.n < 2) return {...result, floored: false}
  const floor = Math.hypot(binomialFloorSe(eventsOn, requestsOn), binomialFloorSe(eventsOff, requestsOff))
  return {...result, se: Math.max(result.se, floor), floored: floor > result.se}
}

/** mean of per-block values with a t interval (values that are not finite are left out) */
export function blockMean(values: number[]): BlockEstimate {
  return meanWithSe(values.filter(v => Number.isFinite(v)))
}

/**
 * The relative change of a share between paired blocks, for a relative threshold on an error rate or on the share of
 * slow requests: ln(sum eOn / sum nOn) - ln(sum eOff / sum nOff) over pairs where both blocks had requests, with a
 * cluster-robust (CR1) se of the linearised log ratio over pairs, df = pairs - 1, never narrower than the binomial
 * se sqrt((1 - p_on)/E_on + (1 - p_off)/E_off). A side with no events at all gets half an event on both sides
 * (Haldane-Anscombe), so the ratio is finite and its se large: no verdict comes from zero counts. Unlike
 * pairedLogRatio over per-block shares, blocks with no events are kept, so rare errors are not thrown away; unlike a
 * one-sample share, bursts on either side cancel in expectation.
 */
export function pairedShareRatio(eventsOn: number[], totalsOn: number[], eventsOff: number[], totalsOff: number[]): BlockEstimate & {floored: boolean} {
  const pairs = eventsOn.length
  if (totalsOn.length !== pairs || eventsOff.length !== pairs || totalsOff.length !== pairs) throw new RangeError('one count of events and of requests per block of each pair')
  const kept: number[] = []
  for (let j = 0; j < pairs; j++) {
    for (const [events, total] of [[eventsOn[j], totalsOn[j]], [eventsOff[j], totalsOff[j]]]) {
      if (!(Number.isFinite(events) && Number.isFinite(total) && events >= 0 && total >= events)) throw new RangeError(`pair ${j}: events ${events} out of ${total} is not a share`)
    }
    if (totalsOn[j] > 0 && totalsOff[j] > 0) kept.push(j)
  }
  const n = kept.length
  let on = 0
  let off = 0
  let requestsOn = 0
  let requestsOff = 0
  for (const j of kept) {
    on += eventsOn[j]
    off += eventsOff[j]
    requestsOn += totalsOn[j]
    requestsOff += totalsOff[j]
  }
  if (n === 0) return {estimate: Number.NaN, se: Infinity, df: 0, n, floored: false}
  const correction = on === 0 || off === 0 ? 0.5 : 0
  const eventsOnAll = on + correction
  const eventsOffAll = off + correction
  const estimate = Math.log(eventsOnAll / requestsOn) - Math.log(eventsOffAll / requestsOff)
  const floor = Math.sqrt((1 - eventsOnAll / requestsOn) / eventsOnAll + (1 - eventsOffAll / requestsOff) / eventsOffAll)
  if (n < 2) return {estimate, se: Infinity, df: 0, n, floored: false}
  let squares = 0
  for (const j of kept) {
    const u = eventsOn[j] / eventsOnAll - totalsOn[j] / requestsOn - (eventsOff[j] / eventsOffAll - totalsOff[j] / requestsOff)
    squares += u * u
  }
  const robust = Math.sqrt(n / (n - 1) * squares)
  return {estimate, se: Math.max(robust, floor), df: n - 1, n, floored: floor > robust}
}
