// Turns the baseline and fault windows of one neighbour's signal into a verdict against its hypothesis, and
// the per-signal verdicts into the experiment's verdict.
//
// Rules, in brief:
// - Relative thresholds (max_increase, max_decrease) compare the windows: change = fault/baseline − 1 with a
//   percentile bootstrap CI, plus a one-sided shift test in the harmful direction. A breach needs all three:
//   the point change beyond the threshold, the shift test significant (p < alpha), and the CI clear of 0.
//   The shift test matches the statistic: Mann-Whitney for the centre (mean, p50) and the quantile-exceedance
//   test for tail quantiles (p90+), where a noisy neighbour typically moves the tail and leaves the bulk, so
//   Mann-Whitney would miss it (it is still reported, with its rank-biserial effect size).
// - Absolute thresholds (max, min) look at the fault window alone: a breach when the value is beyond the bound
//   with confidence (Wilson interval for proportions, bootstrap CI otherwise).
// - Exact facts need no statistics: counted events (unit 'count', e.g. oom_kills, restarts) and the max,
//   last or sum of a window are what was observed, not estimates, so they are compared with the bound as
//   they are: `oom_kills` with max: 0 breaches on the first OOM kill. Such a breach stands however few the
//   intervals; a 'contained' still needs enough of them.
// - Inconclusive when a window is too small, the baseline was not steady (relative thresholds only), or the
//   baseline is 0 and there is no other way to judge.
import {formatLevel, formatP, formatPercent, formatValue} from './format.js'
import {
  baselineSteadiness, blockBootstrapChangeCI, bootstrapChangeCI, bootstrapStatisticCI, computeStatistic, groupByBlock, mannWhitneyU,
  compareProportions, proportionBoundTest, proportionChangeCI, quantileExceedanceTest, quantileLevelOf, TAIL_QUANTILE,
  wilsonInterval,
} from './stats.js'
import type {MannWhitneyResult, Rng, Steadiness, StatisticSpec} from './stats.js'
import type {Efficacy, Interval, SignalInput, SignalVerdict, Verdict, WindowSamples} from './types.js'

export interface MinSamples {
  /** observations per window; a quantile q also needs at least 1/(1 − q) of them (100 for p99) */
  observations: number
  /** measuring intervals per window */
  series: number
  /** trials (e.g. requests) per window */
  proportion: number
}

export const DEFAULT_MIN_SAMPLES: MinSamples = {observations: 30, series: 3, proportion: 30}

export interface JudgeOptions {
  /** significance for a breach; default 0.05 */
  alpha?: number
  /** confidence level of the intervals; default 0.95 */
  level?: number
  /** seeded PRNG for the bootstrap (e.g. seededRng(`${runId}/${neighbor}/${signal}`)) */
  rng: Rng
  /** bootstrap resamples; default 2000 */
  iterations?: number
  minSamples?: Partial<MinSamples>
  /** strict two-sided significance the baseline's drift must reach to call it unsteady; default 0.01 */
  steadinessAlpha?: number
  /** the steadiness check tolerates a drift up to the relative threshold, and at least this; default 0.10 */
  minSteadinessTolerance?: number
}

type ValueStatistic = StatisticSpec | 'last'

type Window =
  | {kind: 'values', values: number[]}
  | {kind: 'proportion', events: number, total: number}

interface Context {
  input: SignalInput
  subject: string
  alpha: number
  level: number
  iterations: number
  rng: Rng
  minSamples: MinSamples
  steadinessAlpha: number
  minSteadinessTolerance: number
  baseline: Window
  fault: Window
  hasAbsoluteThreshold: boolean
  steadiness?: Steadiness
}

/** The outcome of one threshold of the hypothesis. */
interface Check {
  verdict: Verdict
  reason: string
  threshold: string
  change: number | null
  interval: Interval | null
  test: string
  pValue: number | null
  effectSize: number | null
}

// ---------------------------------------------------------------------------------------------------------
// One signal

export function judgeSignal(input: SignalInput, options: JudgeOptions): SignalVerdict {
  const baseline = cleanWindow(input.baseline)
  const fault = cleanWindow(input.fault)
  const summary = {
    neighbor: input.neighbor,
    signal: input.signal,
    statistic: input.statistic,
    unit: input.unit,
    baseline: typeof baseline === 'string' ? null : windowValue(baseline, input.statistic),
    fault: typeof fault === 'string' ? null : windowValue(fault, input.statistic),
    baselineCount: typeof baseline === 'string' ? 0 : windowCount(baseline),
    faultCount: typeof fault === 'string' ? 0 : windowCount(fault),
  }
  const hypothesis = input.hypothesis
  const thresholds = describeThresholds(input)
  const verdictOf = (check: Check): SignalVerdict => ({...summary, ...check})
  const unjudgeable = (reason: string) => verdictOf(inconclusiveCheck(thresholds, reason))

  if (typeof baseline === 'string') return unjudgeable(`the baseline window is unusable: ${baseline}`)
  if (typeof fault === 'string') return unjudgeable(`the fault window is unusable: ${fault}`)
  if (input.baseline.kind !== input.fault.kind) return unjudgeable(`the baseline holds ${input.baseline.kind} but the fault window holds ${input.fault.kind}`)

  const context: Context = {
    input,
    subject: subjectOf(input),
    alpha: options.alpha ?? 0.05,
    level: options.level ?? 0.95,
    iterations: options.iterations ?? 2000,
    rng: options.rng,
    minSamples: {...DEFAULT_MIN_SAMPLES, ...options.minSamples},
    steadinessAlpha: options.steadinessAlpha ?? 0.01,
    minSteadinessTolerance: options.minSteadinessTolerance ?? 0.1,
    baseline,
    fault,
    hasAbsoluteThreshold: hypothesis.max !== undefined || hypothesis.min !== undefined,
  }

  const checks: Check[] = []
  if (hypothesis.max_increase !== undefined) pushIfJudged(checks, relativeCheck(context, 'increase', hypothesis.max_increase))
  if (hypothesis.max_decrease !== undefined) pushIfJudged(checks, relativeCheck(context, 'decrease', hypothesis.max_decrease))
  if (hypothesis.max !== undefined) checks.push(absoluteCheck(context, 'max', hypothesis.max))
  if (hypothesis.min !== undefined) checks.push(absoluteCheck(context, 'min', hypothesis.min))
  if (checks.length === 0) return unjudgeable('the hypothesis sets no threshold')
  return verdictOf(combineChecks(checks, thresholds))
}

function pushIfJudged(checks: Check[], check: Check | null): void {
  if (check !== null) checks.push(check)
}

/** A breach decides; otherwise an inconclusive check does; otherwise every check held. */
function combineChecks(checks: Check[], thresholds: string): Check {
  const deciding = checks.find((c) => c.verdict === 'breach') ?? checks.find((c) => c.verdict === 'inconclusive')
  if (deciding) return {...deciding, threshold: thresholds}
  return {...checks[0], threshold: thresholds, reason: checks.map((c) => c.reason).join('; ')}
}

function inconclusiveCheck(threshold: string, reason: string, partial: Partial<Check> = {}): Check {
  return {verdict: 'inconclusive', reason, threshold, change: null, interval: null, test: 'none', pValue: null, effectSize: null, ...partial}
}

// ---------------------------------------------------------------------------------------------------------
// Windows and statistics

/** Drops non-finite values; returns a string saying why when the window cannot be used at all. */
function cleanWindow(samples: WindowSamples): Window | string {
  if (samples.kind === 'proportion') {
    const {events, total} = samples
    if (!Number.isFinite(events) || !Number.isFinite(total) || events < 0 || total < 0 || events > total) {
      return `invalid proportion ${events}/${total}`
    }
    return {kind: 'proportion', events, total}
  }
  return {kind: 'values', values: samples.values.filter((v) => Number.isFinite(v))}
}

function windowCount(window: Window): number {
  return window.kind === 'proportion' ? window.total : window.values.length
}

function windowValue(window: Window, statistic: SignalInput['statistic']): number | null {
  if (window.kind === 'proportion') return window.total > 0 ? window.events / window.total : null
  return window.values.length > 0 ? valueOf(window.values, statisticSpec(statistic)) : null
}

function statisticSpec(statistic: SignalInput['statistic']): ValueStatistic {
  switch (statistic) {
    case 'p50': return {quantile: 0.5}
    case 'p90': return {quantile: 0.9}
    case 'p95': return {quantile: 0.95}
    case 'p99': return {quantile: 0.99}
    case 'mean':
    case 'rate': return 'mean'
    case 'max': return 'max'
    case 'sum': return 'sum'
    case 'last': return 'last'
  }
}

function valueOf(values: number[], statistic: ValueStatistic): number {
  return statistic === 'last' ? values[values.length - 1] : computeStatistic(values, statistic)
}

/** Counted events and a window's max, last or sum are observed facts, compared as they are. */
function isExactFact(context: Context): boolean {
  const {statistic, unit} = context.input
  return unit === 'count' || statistic === 'max' || statistic === 'last' || statistic === 'sum'
}

function requiredCount(context: Context, window: Window): number {
  const {minSamples, input} = context
  if (window.kind === 'proportion') return minSamples.proportion
  if (input.baseline.kind === 'series') return minSamples.series
  const level = quantileLevelOf(statisticSpec(input.statistic) as StatisticSpec)
  const forTail = level !== null && level > 0 && level < 1 ? Math.ceil(1 / (1 - level) - 1e-9) : 0
  return Math.max(minSamples.observations, forTail)
}

/** Why a window is too small to judge, or null when it is large enough. */
function shortfall(context: Context, which: 'baseline' | 'fault'): string | null {
  const window = context[which]
  const count = windowCount(window)
  const needed = requiredCount(context, window)
  if (count >= needed) return null
  if (count === 0 && which === 'fault' && context.input.fault.kind === 'observations' && windowCount(context.baseline) > 0) {
    return `no successful requests during the fault, so ${context.subject} cannot be measured (the error rate shows what happened)`
  }
  const what = window.kind === 'proportion' ? 'trials' : context.input.fault.kind === 'series' ? 'intervals' : 'samples'
  return `too few ${what} in the ${which} window for ${context.subject}: ${count}, need at least ${needed}`
}

function subjectOf(input: SignalInput): string {
  const name = input.signal.replace(/_/g, ' ')
  if (input.baseline.kind === 'proportion' || input.signal.endsWith(input.statistic)) return name
  return `${name} ${input.statistic}`
}

/** Absolute bounds are parsed as fractions for percentages; samples of unit 'percent' are percentage points. */
function boundInSampleUnits(bound: number, context: Context): number {
  return context.input.unit === 'percent' && context.baseline.kind !== 'proportion' ? bound * 100 : bound
}

function displayUnit(context: Context): SignalInput['unit'] {
  return context.baseline.kind === 'proportion' ? 'ratio' : context.input.unit
}

function describeThresholds(input: SignalInput): string {
  const h = input.hypothesis
  const unit = input.baseline.kind === 'proportion' ? 'ratio' : input.unit
  const absolute = (bound: number) => formatValue(unit === 'percent' ? bound * 100 : bound, unit)
  const parts: string[] = []
  if (h.max_increase !== undefined) parts.push(`max_increase ${formatPercent(h.max_increase)}`)
  if (h.max_decrease !== undefined) parts.push(`max_decrease ${formatPercent(h.max_decrease)}`)
  if (h.max !== undefined) parts.push(`max ${absolute(h.max)}`)
  if (h.min !== undefined) parts.push(`min ${absolute(h.min)}`)
  return parts.join(', ')
}

// ---------------------------------------------------------------------------------------------------------
// Relative thresholds

type Direction = 'increase' | 'decrease'

const VERB: Record<Direction, [string, string]> = {increase: ['rose', 'fell'], decrease: ['fell', 'rose']}

/** null when the baseline is 0 and an absolute threshold of the same hypothesis will judge instead. */
function relativeCheck(context: Context, direction: Direction, limit: number): Check | null {
  const threshold = `max_${direction} ${formatPercent(limit)}`
  const missing = shortfall(context, 'baseline') ?? shortfall(context, 'fault')
  if (missing) return inconclusiveCheck(threshold, missing)
  const {baseline, fault} = context
  if (baseline.kind === 'proportion' && fault.kind === 'proportion') return relativeProportionCheck(context, direction, limit, threshold, baseline, fault)
  if (baseline.kind === 'values' && fault.kind === 'values') {
    const blocked = blockedWindows(context)
    if (blocked) return relativeBlockedCheck(context, direction, limit, threshold, blocked.baseline, blocked.fault)
    return relativeValuesCheck(context, direction, limit, threshold, baseline.values, fault.values)
  }
  return inconclusiveCheck(threshold, 'the windows hold different kinds of samples')
}

function relativeProportionCheck(
  context: Context, direction: Direction, limit: number, threshold: string,
  baseline: {events: number, total: number}, fault: {events: number, total: number},
): Check | null {
  const rateBefore = baseline.events / baseline.total
  const rateDuring = fault.events / fault.total
  const test = compareProportions(baseline.events, baseline.total, fault.events, fault.total)
  const pHarmful = direction === 'increase' ? test.pBGreater : test.pBLess
  const fromTo = `from ${formatValue(rateBefore, 'ratio')} (${baseline.events}/${baseline.total}) to ${formatValue(rateDuring, 'ratio')} (${fault.events}/${fault.total})`
  const common = {threshold, test: test.test, pValue: pHarmful, effectSize: null}
  if (baseline.events === 0) return fromZero(context, direction, rateDuring > 0, pHarmful, `${context.subject} rose ${fromTo}`, common)
  const {change, interval} = proportionChangeCI(baseline.events, baseline.total, fault.events, fault.total, context.level)
  return decideRelative(context, direction, limit, {change: change as number, interval, pHarmful, fromTo, testName: test.test === 'fisher-exact' ? 'Fisher exact test' : 'two-proportion test', ...common})
}

function relativeValuesCheck(context: Context, direction: Direction, limit: number, threshold: string, baseline: number[], fault: number[]): Check | null {
  const named = statisticSpec(context.input.statistic)
  // a sum grows with the window's length; per interval (the mean) it compares windows of different lengths
  const statistic: ValueStatistic = named === 'sum' ? 'mean' : named
  const perInterval = named === 'sum' ? ' per interval' : ''
  const unit = displayUnit(context)
  const before = valueOf(baseline, statistic)
  const during = valueOf(fault, statistic)
  const fromTo = `from ${formatValue(before, unit)} to ${formatValue(during, unit)}${perInterval}`

  if (statistic === 'max' || statistic === 'last') return relativeFactCheck(context, direction, limit, threshold, before, during, fromTo)

  const mw = mannWhitneyU(baseline, fault) as MannWhitneyResult
  const tailLevel = quantileLevelOf(statistic)
  const tail = tailLevel !== null && tailLevel >= TAIL_QUANTILE ? quantileExceedanceTest(baseline, fault, tailLevel) : null
  const pick = <T>(increase: T, decrease: T) => (direction === 'increase' ? increase : decrease)
  const pHarmful = tail ? pick(tail.pBGreater, tail.pBLess) : pick(mw.pBGreater, mw.pBLess)
  const mwNote = tail ? ` (Mann-Whitney ${formatP(pick(mw.pBGreater, mw.pBLess))})` : ''
  const common = {threshold, test: tail ? 'quantile-exceedance' : 'mann-whitney-u', pValue: pHarmful, effectSize: mw.rankBiserial}
  const testName = tail ? `tail test (share above the pooled ${context.input.statistic})` : 'Mann-Whitney'

  if (before === 0) return fromZero(context, direction, during > 0, pHarmful, `${context.subject} rose ${fromTo}`, common)

  const steadiness = steadinessOf(context, baseline, statistic as StatisticSpec)
  if (!steadiness.steady) return inconclusiveCheck(threshold, steadiness.reason, {effectSize: mw.rankBiserial})

  const {change, interval} = bootstrapChangeCI(baseline, fault, statistic as StatisticSpec, {iterations: context.iterations, level: context.level, rng: context.rng})
  return decideRelative(context, direction, limit, {change: change as number, interval, pHarmful, fromTo, testName, testNote: mwNote, ...common})
}

/** Fewer blocks than this per window and the block structure cannot carry a test: judge the observations. */
const MIN_BLOCKS = 8

/** Observations grouped by measuring interval, when both windows say which interval each came from. */
function blockedWindows(context: Context): {baseline: number[][], fault: number[][]} | undefined {
  const {baseline, fault} = context.input
  if (baseline.kind !== 'observations' || fault.kind !== 'observations' || !baseline.blocks || !fault.blocks) return undefined
  const group = (w: {values: number[], blocks?: number[]}) => {
    const keep = w.values.map((v, i) => [v, w.blocks![i]]).filter(([v]) => Number.isFinite(v))
    return groupByBlock(keep.map(([v]) => v), keep.map(([, b]) => b))
  }
  const grouped = {baseline: group(baseline), fault: group(fault)}
  return grouped.baseline.length >= MIN_BLOCKS && grouped.fault.length >= MIN_BLOCKS ? grouped : undefined
}

/**
 * Relative check on observations clustered in time: the change of the statistic over all observations, with a
 * block-bootstrap interval, and a Mann-Whitney test on the statistic of each interval (one value per second,
 * the honest sample size when the machine's noise comes in bursts).
 */
function relativeBlockedCheck(context: Context, direction: Direction, limit: number, threshold: string, baseline: number[][], fault: number[][]): Check | null {
  const statistic = statisticSpec(context.input.statistic)
  if (statistic === 'max' || statistic === 'last' || statistic === 'sum') {
    return relativeValuesCheck(context, direction, limit, threshold, baseline.flat(), fault.flat())
  }
  const unit = displayUnit(context)
  const before = valueOf(baseline.flat(), statistic)
  const during = valueOf(fault.flat(), statistic)
  const fromTo = `from ${formatValue(before, unit)} to ${formatValue(during, unit)}`
  // each interval's own statistic; a tail quantile of a few dozen requests is their upper end, which is what bursts move
  const perBlock = (groups: number[][]) => groups.map((g) => valueOf(g, statistic))
  const mw = mannWhitneyU(perBlock(baseline), perBlock(fault)) as MannWhitneyResult
  const pHarmful = direction === 'increase' ? mw.pBGreater : mw.pBLess
  const common = {threshold, test: 'mann-whitney-u-per-interval', pValue: pHarmful, effectSize: mw.rankBiserial}
  if (before === 0) return fromZero(context, direction, during > 0, pHarmful, `${context.subject} rose ${fromTo}`, common)
  // steadiness on the intervals' own statistics: a burst inside one half is noise, a drift across halves is not
  const steadiness = steadinessOf(context, perBlock(baseline), 'mean', 3)
  if (!steadiness.steady) return inconclusiveCheck(threshold, steadiness.reason, {effectSize: mw.rankBiserial})
  const {change, interval} = blockBootstrapChangeCI(baseline, fault, statistic as StatisticSpec, {iterations: context.iterations, level: context.level, rng: context.rng})
  return decideRelative(context, direction, limit, {
    change: change as number, interval, pHarmful, fromTo,
    testName: `Mann-Whitney over ${baseline.length}+${fault.length} intervals`, testNote: ' (interval-block bootstrap)', ...common,
  })
}

/** The max or last value of a window is a single observation: no resampling, the change is what it is. */
function relativeFactCheck(context: Context, direction: Direction, limit: number, threshold: string, before: number, during: number, fromTo: string): Check | null {
  const common = {threshold, test: 'direct', pValue: null, effectSize: null, interval: null}
  if (before === 0) {
    if (context.hasAbsoluteThreshold) return null
    if (direction === 'decrease' || during <= 0) return {...common, verdict: 'contained', change: null, reason: `${context.subject} was 0 in the baseline and ${formatValue(during, displayUnit(context))} during the fault: no ${direction} from 0`}
    return {...common, verdict: 'breach', change: null, reason: `${context.subject} rose ${fromTo}: any rise from 0 exceeds a relative limit`}
  }
  const change = during / before - 1
  const harmful = direction === 'increase' ? change > limit : change < -limit
  const [harmVerb, otherVerb] = VERB[direction]
  const moved = `${context.subject} ${(direction === 'increase') === (change >= 0) ? harmVerb : otherVerb} ${formatPercent(Math.abs(change))} (${fromTo})`
  return {
    ...common,
    change,
    verdict: harmful ? 'breach' : 'contained',
    reason: harmful ? `${moved}, beyond the ${formatPercent(limit)} allowed (observed values, no test needed)` : `${moved}, within the ${formatPercent(limit)} allowed`,
  }
}

/** Baseline statistic 0: no relative change exists. Defer to an absolute threshold, else any significant rise breaches. */
function fromZero(context: Context, direction: Direction, rose: boolean, pHarmful: number, rise: string, common: Omit<Check, 'verdict' | 'reason' | 'change' | 'interval'>): Check | null {
  if (context.hasAbsoluteThreshold) return null
  const base = {...common, change: null, interval: null}
  if (direction === 'decrease') return {...base, verdict: 'contained', reason: `${context.subject} was 0 in the baseline: it cannot fall`}
  if (!rose) return {...base, verdict: 'contained', reason: `${context.subject} stayed at 0`}
  if (pHarmful < context.alpha) return {...base, verdict: 'breach', reason: `${rise}: any rise from 0 exceeds a relative limit, and it is significant (${formatP(pHarmful)})`}
  return {...base, verdict: 'contained', reason: `${rise}, a rise from 0 but not a significant one (${formatP(pHarmful)})`}
}

interface RelativeEvidence {
  change: number
  interval: Interval | null
  pHarmful: number
  fromTo: string
  testName: string
  testNote?: string
  threshold: string
  test: string
  pValue: number
  effectSize: number | null
}

/** Breach when the point change is beyond the limit, the shift test is significant and the CI is clear of 0. */
const UNDECIDED = 'neither a breach nor containment is shown; longer windows or a higher probe rate would decide'

function decideRelative(context: Context, direction: Direction, limit: number, evidence: RelativeEvidence): Check {
  const {change, interval, pHarmful} = evidence
  const beyondLimit = direction === 'increase' ? change > limit : change < -limit
  const significant = pHarmful < context.alpha
  const ciClear = interval !== null && (direction === 'increase' ? interval.low > 0 : interval.high < 0)
  const breach = beyondLimit && significant && ciClear

  const [harmVerb, otherVerb] = VERB[direction]
  const verb = (direction === 'increase') === (change >= 0) ? harmVerb : otherVerb
  const ci = interval ? `; ${formatLevel(interval.level)} CI ${formatPercent(interval.low, true)} … ${formatPercent(interval.high, true)}` : ''
  const moved = change === 0 ? `${context.subject} was unchanged (${evidence.fromTo}${ci})` : `${context.subject} ${verb} ${formatPercent(Math.abs(change))} (${evidence.fromTo}${ci})`
  const testText = `${evidence.testName} ${formatP(pHarmful)}${evidence.testNote ?? ''}`
  const allowed = `the ${formatPercent(limit)} allowed`
  let reason: string
  if (breach) reason = `${moved}, ${direction === 'increase' ? 'above' : 'below'} ${allowed}; ${testText}`
  else if (!beyondLimit) reason = `${moved}, within ${allowed}`
  else if (!significant) reason = `${moved}, beyond ${allowed} but not significantly (${testText}): ${UNDECIDED}`
  else reason = `${moved}, beyond ${allowed} but the CI reaches 0 (${testText}): ${UNDECIDED}`

  // Beyond the limit without the evidence for a breach is not evidence of containment either: inconclusive.
  const verdict: Verdict = breach ? 'breach' : beyondLimit ? 'inconclusive' : 'contained'
  return {
    verdict, reason, change, interval,
    threshold: evidence.threshold, test: evidence.test, pValue: evidence.pValue, effectSize: evidence.effectSize,
  }
}

/** Computed once per signal: tolerates drift up to the smallest relative limit (floored, so 0% is not a hair trigger). */
function steadinessOf(context: Context, baseline: number[], statistic: StatisticSpec, minPerHalf?: number): Steadiness {
  if (context.steadiness) return context.steadiness
  const h = context.input.hypothesis
  const limits = [h.max_increase, h.max_decrease].filter((x): x is number => x !== undefined)
  const tolerance = Math.max(context.minSteadinessTolerance, Math.min(...limits))
  context.steadiness = baselineSteadiness(baseline, statistic, {
    tolerance, alpha: context.steadinessAlpha, level: context.level, iterations: Math.min(context.iterations, 1000),
    rng: context.rng, label: context.subject, minPerHalf: minPerHalf ?? (context.input.baseline.kind === 'series' ? 3 : 8),
  })
  return context.steadiness
}

// ---------------------------------------------------------------------------------------------------------
// Absolute thresholds

function absoluteCheck(context: Context, side: 'max' | 'min', rawBound: number): Check {
  const bound = boundInSampleUnits(rawBound, context)
  const unit = displayUnit(context)
  const threshold = `${side} ${formatValue(bound, unit)}`
  const {fault, baseline} = context
  if (fault.kind === 'proportion') return absoluteProportionCheck(context, side, bound, threshold, fault)
  if (fault.values.length === 0) return inconclusiveCheck(threshold, shortfall(context, 'fault') ?? `no ${context.subject} samples during the fault`)

  const statistic = statisticSpec(context.input.statistic)
  const during = valueOf(fault.values, statistic)
  const before = baseline.kind === 'values' && baseline.values.length > 0 ? valueOf(baseline.values, statistic) : null
  const change = before !== null && before !== 0 ? during / before - 1 : null
  const beyond = (x: number) => (side === 'max' ? x > bound : x < bound)
  const relation = side === 'max' ? 'above' : 'below'
  const allowed = boundPhrase(side, formatValue(bound, unit))
  const missing = shortfall(context, 'fault')

  if (isExactFact(context)) {
    const common = {threshold, change, interval: null, test: 'direct', pValue: null, effectSize: null}
    const was = `${context.subject} was ${formatValue(during, unit)} during the fault`
    if (beyond(during)) return {...common, verdict: 'breach', reason: `${was}, ${relation} ${allowed} (an observed value, no test needed)`}
    if (missing) return inconclusiveCheck(threshold, missing, {change})
    return {...common, verdict: 'contained', reason: `${was}, ${side === 'max' ? 'within' : 'meeting'} ${allowed}`}
  }

  if (missing) return inconclusiveCheck(threshold, missing, {change})
  const ci = bootstrapStatisticCI(fault.values, statistic as StatisticSpec, {iterations: context.iterations, level: context.level, rng: context.rng})
  // bootstrap p-value: the share of resamples on the allowed side of the bound
  const allowedShare = ci.replicates.filter((x) => (side === 'max' ? x <= bound : x >= bound)).length / ci.replicates.length
  const pValue = Math.max(1 / (ci.replicates.length + 1), allowedShare)
  const breach = side === 'max' ? ci.interval.low > bound : ci.interval.high < bound
  const was = `${context.subject} was ${formatValue(during, unit)} during the fault (${formatLevel(ci.interval.level)} CI ${formatValue(ci.interval.low, unit)} … ${formatValue(ci.interval.high, unit)})`
  const reason = breach ? `${was}, ${relation} ${allowed}`
    : beyond(during) ? `${was}, ${relation} ${allowed} but the CI reaches the bound: ${UNDECIDED}`
      : `${was}, ${side === 'max' ? 'within' : 'meeting'} ${allowed}`
  const verdict: Verdict = breach ? 'breach' : beyond(during) ? 'inconclusive' : 'contained'
  return {verdict, reason, threshold, change, interval: ci.interval, test: 'bootstrap', pValue, effectSize: null}
}

function boundPhrase(side: 'max' | 'min', bound: string): string {
  return side === 'max' ? `the allowed maximum of ${bound}` : `the required minimum of ${bound}`
}

function absoluteProportionCheck(context: Context, side: 'max' | 'min', bound: number, threshold: string, fault: {events: number, total: number}): Check {
  const missing = shortfall(context, 'fault')
  if (missing) return inconclusiveCheck(threshold, missing)
  const rate = fault.events / fault.total
  const interval = wilsonInterval(fault.events, fault.total, context.level)
  const pValue = proportionBoundTest(fault.events, fault.total, bound, side === 'max' ? 'above' : 'below')
  const breach = side === 'max' ? interval.low > bound : interval.high < bound
  const baseline = context.baseline
  const change = baseline.kind === 'proportion' && baseline.events > 0 ? rate / (baseline.events / baseline.total) - 1 : null
  const was = `${context.subject} was ${formatValue(rate, 'ratio')} (${fault.events}/${fault.total}) during the fault (${formatLevel(interval.level)} Wilson CI ${formatValue(interval.low, 'ratio')} … ${formatValue(interval.high, 'ratio')})`
  const relation = side === 'max' ? 'above' : 'below'
  const allowed = boundPhrase(side, formatValue(bound, 'ratio'))
  const beyond = side === 'max' ? rate > bound : rate < bound
  const reason = breach ? `${was}, ${relation} ${allowed}`
    : beyond ? `${was}, ${relation} ${allowed} but the CI reaches the bound: ${UNDECIDED}`
      : `${was}, ${side === 'max' ? 'within' : 'meeting'} ${allowed}`
  const verdict: Verdict = breach ? 'breach' : beyond ? 'inconclusive' : 'contained'
  return {verdict, reason, threshold, change, interval, test: 'wilson', pValue, effectSize: null}
}

// ---------------------------------------------------------------------------------------------------------
// The experiment

/**
 * The experiment's verdict: inconclusive when the fault did not land (the neighbours were not really tested),
 * else breach if any signal breached, else inconclusive if any signal was, else contained.
 */
export function judgeOverall(signals: SignalVerdict[], efficacy: Efficacy): {verdict: Verdict, reason: string} {
  const breaches = signals.filter((s) => s.verdict === 'breach')
  const inconclusive = signals.filter((s) => s.verdict === 'inconclusive')
  if (!efficacy.landed) {
    const measured = `achieved ${efficacy.achieved} of the ${efficacy.asked} ${efficacy.unit} asked (${formatPercent(efficacy.ratio)})`
    const anyway = breaches.length > 0 ? `; ${countOf(breaches.length, 'signal')} breached even so (${breaches.map(label).join(', ')})` : ''
    return {verdict: 'inconclusive', reason: `the fault did not land${efficacy.note ? `: ${efficacy.note}` : ''} (${measured})${anyway}`}
  }
  if (signals.length === 0) return {verdict: 'inconclusive', reason: 'no signal was judged'}
  if (breaches.length > 0) return {verdict: 'breach', reason: summarise(breaches, 'breach')}
  if (inconclusive.length > 0) return {verdict: 'inconclusive', reason: summarise(inconclusive, 'inconclusive signal')}
  const neighbours = new Set(signals.map((s) => s.neighbor)).size
  return {verdict: 'contained', reason: `all ${countOf(signals.length, 'signal')} of ${countOf(neighbours, 'neighbour')} stayed within their thresholds`}
}

function label(signal: SignalVerdict): string {
  return `${signal.neighbor} ${signal.signal}`
}

function summarise(signals: SignalVerdict[], noun: string): string {
  const [first, ...rest] = signals
  const more = rest.length > 0 ? ` (and ${countOf(rest.length, `more ${noun}`)}: ${rest.map(label).join(', ')})` : ''
  return `${label(first)}: ${first.reason}${more}`
}

function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : /(s|ch|sh|x)$/.test(noun) ? 'es' : 's'}`
}
