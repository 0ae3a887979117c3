// One neighbour's signal judged over blocks: fault-on blocks against fault-off blocks, with the three-way rule.
//
// - The unit is the block (a few seconds of measuring), never the request: requests close in time share the
//   machine's passing state, so a window's effective sample size is its number of blocks.
// - A relative threshold is judged on the change of the block statistic: with interleaved pairs, the mean over
//   pairs of ln(on) − ln(off) (a burst elsewhere lands on either arm as often); with two windows, Welch on the logs.
// - BREACH when the whole interval lies beyond the threshold, CONTAINED when the whole interval lies within it,
//   INCONCLUSIVE otherwise (two one-sided tests). Each wrong verdict is then at most alpha at a true change equal
//   to the threshold, and the interval's level follows the look's alpha-spending boundary, so looking again as
//   data arrive keeps that promise.
// - Exact facts (counted events, a window's max, last or sum) are observed, not estimated: compared as they are.
import type {HypothesisSpec} from '../experiment/schema.js'
import {blockMean, clusteredProportion, pairedDifference, pairedLogRatio, welchLogRatio} from './blocks.js'
import {formatLevel, formatP, formatPercent, formatValue} from './format.js'
import {computeStatistic, mean, normalSf, type StatisticSpec} from './stats.js'
import {threeWay, type Estimate, type ThreeWay} from './three-way.js'
import type {Interval, SignalInput, SignalVerdict, Verdict, WindowSamples} from './types.js'

export interface BlockJudgeInput {
  neighbor: string
  signal: SignalInput['signal']
  statistic: SignalInput['statistic']
  unit: SignalInput['unit']
  hypothesis: HypothesisSpec
  /** one entry per fault-on block and per fault-off block; with paired, on[i] and off[i] are one pair */
  on: WindowSamples[]
  off: WindowSamples[]
  paired: boolean
  /** the look's one-sided critical value (normalQuantile(1 - alpha) for a single look) */
  z: number
}

/**
 * The noise behind an estimate, on the scale its threshold is judged on: sd is the spread of one pair's (or one
 * block's) contribution (se × √blocks), margin the distance from "no change" to the threshold on its harmless side
 * (0 or less: the fault-off blocks are already beyond an absolute bound). chaos calibrate turns them into the pairs
 * a run needs to show containment at no change.
 */
export interface Noise {
  sd: number
  margin: number
  blocks: number
}

/**
 * A signal's verdict, with the one-sided p-value of its breach claim (null for an observed fact), its noise, and
 * the block statistics it was judged on (with paired blocks, on[i] and off[i] are one pair), for the journal.
 */
export type BlockVerdict = SignalVerdict & {pBreach: number | null, noise: Noise | null, blocks?: {on: number[], off: number[]}}

interface Check {
  verdict: Verdict
  reason: string
  change: number | null
  interval: Interval | null
  test: string
  pBreach: number | null
  noise?: Noise
}

export function judgeBlocks(input: BlockJudgeInput): BlockVerdict {
  const pooledOn = pooled(input.on, input.statistic)
  const pooledOff = pooled(input.off, input.statistic)
  const summary = {
    neighbor: input.neighbor, signal: input.signal, statistic: input.statistic, unit: input.unit,
    baseline: pooledOff.value, fault: pooledOn.value, baselineCount: pooledOff.count, faultCount: pooledOn.count,
    threshold: describeThresholds(input), effectSize: null,
  }
  const h = input.hypothesis
  const checks: Check[] = []
  if (input.on.length === 0) {
    checks.push(undecided('no fault block was measured'))
  } else {
    if (h.max_increase !== undefined) checks.push(relative(input, 'increase', h.max_increase))
    if (h.max_decrease !== undefined) checks.push(relative(input, 'decrease', h.max_decrease))
    if (h.max !== undefined) checks.push(absolute(input, 'max', h.max))
    if (h.min !== undefined) checks.push(absolute(input, 'min', h.min))
  }
  const deciding = checks.find((c) => c.verdict === 'breach') ?? checks.find((c) => c.verdict === 'inconclusive')
  const chosen = deciding ?? {...checks[0], reason: checks.map((c) => c.reason).join('; ')}
  const breachPs = checks.map((c) => c.pBreach).filter((p): p is number => p !== null)
  // the check that needs the most blocks to decide is the signal's noise
  const hardness = (n: Noise) => (n.margin > 0 ? n.sd / n.margin : Infinity)
  const noisiest = checks.map((c) => c.noise).filter((n): n is Noise => n !== undefined).sort((a, b) => hardness(b) - hardness(a))[0]
  return {
    ...summary, verdict: chosen.verdict, reason: chosen.reason, change: chosen.change, interval: chosen.interval, test: chosen.test,
    pValue: chosen.pBreach, pBreach: chosen.verdict === 'breach' ? chosen.pBreach : breachPs.length ? Math.min(...breachPs) : null,
    noise: noisiest ?? null, blocks: values(input),
  }
}

function noiseOf(est: Estimate, blocks: number, margin: number): Noise | undefined {
  const sd = est.se * Math.sqrt(blocks)
  return Number.isFinite(sd) && Number.isFinite(margin) ? {sd, margin, blocks} : undefined
}

function undecided(reason: string): Check {
  return {verdict: 'inconclusive', reason, change: null, interval: null, test: 'none', pBreach: null}
}

// ---------------------------------------------------------------------------------------------------------
// Block statistics

function spec(statistic: SignalInput['statistic']): StatisticSpec | 'last' {
  switch (statistic) {
    case 'p50': return {quantile: 0.5}
    case 'p90': return {quantile: 0.9}
    case 'p95': return {quantile: 0.95}
    case 'p99': return {quantile: 0.99}
    case 'mean': case 'rate': return 'mean'
    case 'max': return 'max'
    case 'sum': return 'sum'
    case 'last': return 'last'
  }
}

/** The statistic of one block, or undefined when the block holds nothing. */
export function blockValue(samples: WindowSamples, statistic: SignalInput['statistic']): number | undefined {
  if (samples.kind === 'proportion') return samples.total > 0 ? samples.events / samples.total : undefined
  const values = samples.values.filter((v) => Number.isFinite(v))
  if (values.length === 0) return undefined
  const s = spec(statistic)
  return s === 'last' ? values[values.length - 1] : computeStatistic(values, s)
}

/** The statistic over every block of an arm together, for the table (baseline, fault). */
function pooled(blocks: WindowSamples[], statistic: SignalInput['statistic']): {value: number | null, count: number} {
  if (blocks.length === 0) return {value: null, count: 0}
  if (blocks[0].kind === 'proportion') {
    const events = blocks.reduce((a, b) => a + (b.kind === 'proportion' ? b.events : 0), 0)
    const total = blocks.reduce((a, b) => a + (b.kind === 'proportion' ? b.total : 0), 0)
    return {value: total > 0 ? events / total : null, count: total}
  }
  const values = blocks.flatMap((b) => (b.kind === 'proportion' ? [] : b.values.filter((v) => Number.isFinite(v))))
  if (values.length === 0) return {value: null, count: 0}
  const s = spec(statistic)
  // sum and last of a series are per block: the arm's is their sum, or the last block's
  const value = s === 'last' ? values[values.length - 1] : computeStatistic(values, s)
  return {value, count: values.length}
}

/** Counted events, and a window's max, last or sum, are observed facts, compared as they are. */
function isExactFact(input: BlockJudgeInput): boolean {
  return input.unit === 'count' || input.statistic === 'max' || input.statistic === 'last' || input.statistic === 'sum'
}

/** Usable pairs (paired), or each arm's usable blocks (unpaired). */
function values(input: BlockJudgeInput): {on: number[], off: number[]} {
  const on = input.on.map((b) => blockValue(b, input.statistic))
  const off = input.off.map((b) => blockValue(b, input.statistic))
  if (input.paired) {
    const keep = on.map((v, i) => v !== undefined && off[i] !== undefined)
    return {on: on.filter((_, i) => keep[i]) as number[], off: off.filter((_, i) => keep[i]) as number[]}
  }
  return {on: on.filter((v): v is number => v !== undefined), off: off.filter((v): v is number => v !== undefined)}
}

// ---------------------------------------------------------------------------------------------------------
// Relative thresholds

const VERB = {increase: ['rose', 'fell'], decrease: ['fell', 'rose']} as const

function subject(input: BlockJudgeInput): string {
  const name = input.signal.replace(/_/g, ' ')
  return input.on[0]?.kind === 'proportion' || input.signal.endsWith(input.statistic) ? name : `${name} ${input.statistic}`
}

function displayUnit(input: BlockJudgeInput): SignalInput['unit'] {
  return input.on[0]?.kind === 'proportion' ? 'ratio' : input.unit
}

function relative(input: BlockJudgeInput, direction: 'increase' | 'decrease', limit: number): Check {
  const what = subject(input)
  const unit = displayUnit(input)
  const before = pooled(input.off, input.statistic).value
  const during = pooled(input.on, input.statistic).value
  if (before === null || during === null) return undecided(`${what}: no samples in the ${before === null ? 'fault-off' : 'fault-on'} blocks`)
  const fromTo = `from ${formatValue(before, unit)} to ${formatValue(during, unit)}`

  if (isExactFact(input)) {
    if (before === 0) {
      if (direction === 'decrease' || during <= 0) return {verdict: 'contained', reason: `${what} was 0 without the fault and ${formatValue(during, unit)} with it: no ${direction} from 0`, change: null, interval: null, test: 'direct', pBreach: null}
      return {verdict: 'breach', reason: `${what} rose ${fromTo}: any rise from 0 exceeds a relative limit (observed values)`, change: null, interval: null, test: 'direct', pBreach: null}
    }
    const change = during / before - 1
    const harmful = direction === 'increase' ? change > limit : change < -limit
    return {
      verdict: harmful ? 'breach' : 'contained', change, interval: null, test: 'direct', pBreach: null,
      reason: `${what} ${movedWord(direction, change)} ${formatPercent(Math.abs(change))} (${fromTo}), ${harmful ? 'beyond' : 'within'} the ${formatPercent(limit)} allowed (observed values, no test needed)`,
    }
  }

  const {on, off} = values(input)
  if (on.length < 2 || off.length < 2) return undecided(`too few blocks for ${what}: ${on.length} fault-on and ${off.length} fault-off, need at least 2 each`)
  const kind = input.on[0].kind
  const harm = direction === 'increase' ? 'above' : 'below'
  if (kind === 'proportion') {
    // a relative limit on a share: the change of the share against L times the fault-off share
    const total = (b: WindowSamples) => (b.kind === 'proportion' ? b.total : 0)
    // the pairs values() kept: both blocks held requests
    const kept = input.on.map((b, i) => i).filter((i) => total(input.on[i]) > 0 && total(input.off[i]) > 0)
    const est = input.paired
      ? pairedDifference(on, off, {on: kept.map((i) => total(input.on[i])), off: kept.map((i) => total(input.off[i]))})
      : unpairedDifference(on, off)
    if (before === 0) return fromZero(input, direction, est, fromTo)
    const bound = (direction === 'increase' ? 1 : -1) * limit * before
    const tw = threeWay(est, bound, harm, input.z)
    const change = during / before - 1
    return {...decided(input, tw, direction, limit, change, relativeInterval(tw.interval, before), fromTo, input.paired ? 'paired-difference-t' : 'welch-difference'), noise: noiseOf(est, on.length, Math.abs(bound))}
  }
  const positive = on.every((v) => v > 0) && off.every((v) => v > 0)
  if (!positive) {
    // zeros (a rate that stopped, a throttling count at rest): the ratio of the arms' means by the delta method
    if (mean(off) === 0) return fromZero(input, direction, input.paired ? pairedDifference(on, off) : unpairedDifference(on, off), fromTo)
    const est = ratioOfMeans(on, off, input.paired)
    const logLimit = Math.log(direction === 'increase' ? 1 + limit : 1 - limit)
    const tw = threeWay(est, logLimit, harm, input.z)
    return {...decided(input, tw, direction, limit, Math.exp(est.estimate) - 1, expInterval(tw.interval), fromTo, input.paired ? 'paired-ratio-of-means-t' : 'welch-ratio-of-means'), noise: noiseOf(est, on.length, Math.abs(logLimit))}
  }
  const est = input.paired ? pairedLogRatio(on, off) : welchLogRatio(on, off)
  const logLimit = Math.log(direction === 'increase' ? 1 + limit : 1 - limit)
  const tw = threeWay(est, logLimit, harm, input.z)
  return {...decided(input, tw, direction, limit, Math.exp(est.estimate) - 1, expInterval(tw.interval), fromTo, input.paired ? 'paired-log-ratio-t' : 'welch-log-ratio'), noise: noiseOf(est, on.length, Math.abs(logLimit))}
}

function movedWord(direction: 'increase' | 'decrease', change: number): string {
  const [harmVerb, otherVerb] = VERB[direction]
  return (direction === 'increase') === (change >= 0) ? harmVerb : otherVerb
}

function expInterval(interval: Interval): Interval {
  return {low: Math.exp(interval.low) - 1, high: Math.exp(interval.high) - 1, level: interval.level}
}

function relativeInterval(interval: Interval, before: number): Interval {
  return {low: interval.low / before, high: interval.high / before, level: interval.level}
}

const UNDECIDED = 'the interval reaches across the threshold: measuring longer would decide'

function decided(input: BlockJudgeInput, tw: ThreeWay, direction: 'increase' | 'decrease', limit: number, change: number, interval: Interval, fromTo: string, test: string): Check {
  const what = subject(input)
  const ci = `${formatLevel(interval.level)} CI ${formatPercent(interval.low, true)} … ${formatPercent(interval.high, true)}`
  const moved = `${what} ${movedWord(direction, change)} ${formatPercent(Math.abs(change))} (${fromTo}; ${ci})`
  const allowed = `the ${formatPercent(limit)} allowed`
  const blocks = input.paired ? `${input.on.length} interleaved pairs` : `${input.on.length}+${input.off.length} blocks`
  const reason = tw.verdict === 'breach' ? `${moved}: the whole interval is beyond ${allowed} (${blocks}, ${formatP(tw.pBreach)})`
    : tw.verdict === 'contained' ? `${moved}: the whole interval is within ${allowed} (${blocks})`
      : `${moved}; ${UNDECIDED} (${allowed}, ${blocks})`
  return {verdict: tw.verdict, reason, change, interval, test, pBreach: tw.pBreach}
}

/** No relative change exists from 0: a rise shown beyond doubt breaches, none shown is not a containment either. */
function fromZero(input: BlockJudgeInput, direction: 'increase' | 'decrease', est: Estimate, fromTo: string): Check {
  const what = subject(input)
  if (direction === 'decrease') return {verdict: 'contained', reason: `${what} was 0 without the fault: it cannot fall`, change: null, interval: null, test: 'direct', pBreach: null}
  if (est.estimate <= 0 && est.se === 0) return {verdict: 'contained', reason: `${what} stayed at 0`, change: null, interval: null, test: 'direct', pBreach: null}
  const tw = threeWay(est, 0, 'above', input.z)
  if (tw.verdict === 'breach') return {verdict: 'breach', reason: `${what} rose ${fromTo}: any rise from 0 exceeds a relative limit, and this one is shown (${formatP(tw.pBreach)})`, change: null, interval: null, test: 't', pBreach: tw.pBreach}
  return undecided(`${what} rose ${fromTo}, a rise from 0 not shown beyond doubt (${formatP(tw.pBreach)}); measuring longer would decide`)
}

function unpairedDifference(on: number[], off: number[]): Estimate {
  const a = blockMean(on)
  const b = blockMean(off)
  const se = Math.sqrt(a.se ** 2 + b.se ** 2)
  return {estimate: a.estimate - b.estimate, se, df: welchDf(a.se, a.df, b.se, b.df)}
}

function welchDf(seA: number, dfA: number, seB: number, dfB: number): number {
  const num = (seA ** 2 + seB ** 2) ** 2
  const den = (seA ** 4) / Math.max(dfA, 1) + (seB ** 4) / Math.max(dfB, 1)
  return den > 0 ? num / den : Math.max(1, dfA + dfB)
}

/** ln(mean on / mean off) with a delta-method standard error (paired: the pairs' linearised differences). */
function ratioOfMeans(on: number[], off: number[], paired: boolean): Estimate {
  const mOn = mean(on)
  const mOff = mean(off)
  if (paired) {
    const d = on.map((v, i) => v / mOn - off[i] / mOff)
    const md = mean(d)
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - md) ** 2, 0) / (d.length - 1))
    return {estimate: Math.log(mOn / mOff), se: sd / Math.sqrt(d.length), df: d.length - 1}
  }
  const a = blockMean(on.map((v) => v / mOn))
  const b = blockMean(off.map((v) => v / mOff))
  return {estimate: Math.log(mOn / mOff), se: Math.sqrt(a.se ** 2 + b.se ** 2), df: welchDf(a.se, a.df, b.se, b.df)}
}

// ---------------------------------------------------------------------------------------------------------
// Absolute thresholds

function absolute(input: BlockJudgeInput, side: 'max' | 'min', rawBound: number): Check {
  const unit = displayUnit(input)
  // bounds are parsed as fractions for percentages; samples of unit 'percent' are percentage points
  const bound = input.unit === 'percent' && input.on[0]?.kind !== 'proportion' ? rawBound * 100 : rawBound
  const what = subject(input)
  const during = pooled(input.on, input.statistic).value
  if (during === null) return undecided(`no ${what} samples during the fault`)
  const beyond = (x: number) => (side === 'max' ? x > bound : x < bound)
  const allowed = side === 'max' ? `the allowed maximum of ${formatValue(bound, unit)}` : `the required minimum of ${formatValue(bound, unit)}`
  const relation = side === 'max' ? 'above' : 'below'

  if (isExactFact(input)) {
    // a count over every fault block, or the max, last or sum the fault blocks reached: what was observed
    const was = `${what} was ${formatValue(during, unit)} during the fault (${input.on.length} fault block${input.on.length === 1 ? '' : 's'})`
    if (beyond(during)) return {verdict: 'breach', reason: `${was}, ${relation} ${allowed} (an observed value, no test needed)`, change: null, interval: null, test: 'direct', pBreach: null}
    return {verdict: 'contained', reason: `${was}, ${side === 'max' ? 'within' : 'meeting'} ${allowed}`, change: null, interval: null, test: 'direct', pBreach: null}
  }

  const harm = side === 'max' ? 'above' : 'below'
  if (input.on[0].kind === 'proportion') {
    const events = input.on.map((b) => (b.kind === 'proportion' ? b.events : 0))
    const totals = input.on.map((b) => (b.kind === 'proportion' ? b.total : 0))
    const total = totals.reduce((a, b) => a + b, 0)
    if (total === 0) return undecided(`no requests during the fault, so ${what} cannot be measured`)
    const est = clusteredProportion(events, totals)
    // where the binomial floor is the wider (no block differs from the others: no errors at all, say), the
    // interval is the binomial one, which needs no small-sample t correction for the number of blocks
    const tw = threeWay(est.floored ? {...est, df: Number.POSITIVE_INFINITY} : est, bound, harm, input.z)
    const offShare = pooled(input.off, input.statistic).value
    const was = `${what} was ${formatValue(during, 'ratio')} (${events.reduce((a, b) => a + b, 0)}/${total}) during the fault (${formatLevel(tw.interval.level)} CI ${formatValue(Math.max(0, tw.interval.low), 'ratio')} … ${formatValue(tw.interval.high, 'ratio')}, blocks as clusters)`
    return {...absoluteCheck(tw, was, relation, allowed, 'clustered-proportion'), noise: offShare === null ? undefined : noiseOf(est, est.n, side === 'max' ? bound - offShare : offShare - bound)}
  }
  const on = input.on.map((b) => blockValue(b, input.statistic)).filter((v): v is number => v !== undefined)
  if (on.length < 2) return undecided(`too few fault blocks for ${what}: ${on.length}, need at least 2`)
  if (on.every((v) => v === on[0])) {
    // every block read the same value (throttling at exactly 0, say): there is no spread to estimate, and nothing
    // uncertain about where the blocks were; compared as observed
    const was = `${what} was ${formatValue(on[0], unit)} in every one of ${on.length} fault blocks`
    return beyond(on[0])
      ? {verdict: 'breach', reason: `${was}, ${relation} ${allowed} (observed values, no test needed)`, change: null, interval: null, test: 'direct', pBreach: null}
      : {verdict: 'contained', reason: `${was}, ${side === 'max' ? 'within' : 'meeting'} ${allowed}`, change: null, interval: null, test: 'direct', pBreach: null}
  }
  // latencies are judged on logs (their blocks' spread is multiplicative); other values as they are
  const logs = input.on[0].kind === 'observations' && on.every((v) => v > 0) && bound > 0
  const scale = (v: number) => (logs ? Math.log(v) : v)
  const est = blockMean(on.map(scale))
  const tw = threeWay(est, scale(bound), harm, input.z)
  const off = input.off.map((b) => blockValue(b, input.statistic)).filter((v): v is number => v !== undefined && (!logs || v > 0))
  const interval = logs ? {low: Math.exp(tw.interval.low), high: Math.exp(tw.interval.high), level: tw.interval.level} : tw.interval
  const was = `${what} was ${formatValue(during, unit)} during the fault (${formatLevel(interval.level)} CI of the blocks' ${logs ? 'geometric ' : ''}mean ${formatValue(interval.low, unit)} … ${formatValue(interval.high, unit)})`
  const offMean = mean(off.map(scale))
  const noise = off.length > 0 ? noiseOf(est, est.n, side === 'max' ? scale(bound) - offMean : offMean - scale(bound)) : undefined
  return {...absoluteCheck({...tw, interval}, was, relation, allowed, logs ? 'block-log-mean-t' : 'block-mean-t'), noise}
}

function absoluteCheck(tw: ThreeWay, was: string, relation: string, allowed: string, test: string): Check {
  const reason = tw.verdict === 'breach' ? `${was}: wholly ${relation} ${allowed}`
    : tw.verdict === 'contained' ? `${was}: wholly within ${allowed}`
      : `${was}; ${UNDECIDED} (${allowed})`
  return {verdict: tw.verdict, reason, change: null, interval: tw.interval, test, pBreach: tw.pBreach}
}

function describeThresholds(input: BlockJudgeInput): string {
  const h = input.hypothesis
  const unit = input.on[0]?.kind === 'proportion' ? 'ratio' : input.unit
  const absolute = (bound: number) => formatValue(unit === 'percent' ? bound * 100 : bound, unit)
  const parts: string[] = []
  if (h.max_increase !== undefined) parts.push(`max_increase ${formatPercent(h.max_increase)}`)
  if (h.max_decrease !== undefined) parts.push(`max_decrease ${formatPercent(h.max_decrease)}`)
  if (h.max !== undefined) parts.push(`max ${absolute(h.max)}`)
  if (h.min !== undefined) parts.push(`min ${absolute(h.min)}`)
  return parts.join(', ')
}

/** The nominal one-sided alpha of a look's boundary. */
export function lookAlpha(z: number): number {
  return normalSf(z)
}
