// Aggregates a matrix's runs per level. The rules (docs/reports.md, "The isolation matrix"):
// - a repeat counts as breach / contained / inconclusive by its own verdict; a run that could not start counts
//   as inconclusive; a repeat whose dose did not land makes every one of its signals inconclusive too;
// - a level (and each of its signals) is BREACH when a strict majority of its planned repeats breached,
//   CONTAINED when a strict majority were contained, INCONCLUSIVE otherwise (a split, or mostly inconclusive);
//   ABORTED when none of its repeats finished;
// - the change is shown as the median over the repeats, their range, and a pooled estimate: a random-effects
//   (DerSimonian-Laird) mean of the log-ratios for relative thresholds, whose interval widens when the repeats
//   disagree; the pooled proportion with its Wilson interval for rates; the total for counts.
import {isRelativeThreshold} from '../report/formats.js'
import type {Journal, RunVerdict} from '../report/journal.js'
import {gateExitCode, type FailOn} from '../run/gate.js'
import {attributable} from '../verdict/judge.js'
import {median, twoSidedZ, wilsonInterval} from '../verdict/stats.js'
import type {SignalVerdict, Verdict} from '../verdict/types.js'
import type {Level, LevelAggregate, MatrixRun, PooledEstimate, SignalAggregate, VerdictCounts} from './types.js'

const LEVEL = 0.95

export interface AggregateOptions {
  levels: readonly Level[]
  repeat: number
  /** what each level is expected to show under --fail-on mismatch */
  expectations: Partial<Record<Level, 'contained' | 'breach'>>
  failOn: FailOn
}

export function aggregateLevels(runs: readonly MatrixRun[], options: AggregateOptions): LevelAggregate[] {
  return options.levels.map((level) => aggregateLevel(level, runs.filter((r) => r.level === level).sort((a, b) => a.repetition - b.repetition), options))
}

function aggregateLevel(level: Level, runs: MatrixRun[], options: AggregateOptions): LevelAggregate {
  const planned = options.repeat
  const counts = {contained: 0, breach: 0, inconclusive: 0, aborted: 0, error: 0}
  let doseLanded = 0
  for (const run of runs) {
    if (run.error) {
      counts.error++
      counts.inconclusive++
      continue
    }
    const journal = run.journal!
    if (journal.verdict === 'aborted') counts.aborted++
    else counts[journal.verdict]++
    if (journal.injection.efficacy?.landed) doseLanded++
  }
  const completed = counts.contained + counts.breach + counts.inconclusive - counts.error
  const verdict: RunVerdict = completed === 0 && counts.error === 0 ? 'aborted' : majority(counts, planned)
  const journals = runs.flatMap((r) => (r.journal && r.journal.verdict !== 'aborted' ? [r.journal] : []))
  const rollbackComplete = runs.every((r) => r.journal?.rollback.complete !== false)
  const expect = options.expectations[level]
  return {
    level, planned, completed, counts, doseLanded, verdict,
    reason: levelReason(verdict, counts, planned, doseLanded, runs),
    ...(expect ? {expect} : {}),
    rollbackComplete,
    exitCode: gateExitCode({verdict, expect, rollbackComplete}, options.failOn),
    signals: aggregateSignals(journals, planned),
  }
}

/** Strict majority of the planned repeats, so a level cannot be called on half of them. */
export function majority(counts: VerdictCounts, planned: number): Verdict {
  if (counts.breach * 2 > planned) return 'breach'
  if (counts.contained * 2 > planned) return 'contained'
  return 'inconclusive'
}

function levelReason(verdict: RunVerdict, counts: LevelAggregate['counts'], planned: number, doseLanded: number, runs: MatrixRun[]): string {
  const tally = describeCounts(counts, planned)
  const dose = `dose landed in ${doseLanded}/${planned}`
  if (verdict === 'aborted') return `no repeat finished (${counts.aborted} aborted)`
  const refused = runs.find((r) => r.error)?.error
  const why = refused ? `; refused: ${refused.message}` : ''
  if (verdict === 'inconclusive') return `no majority of ${planned}: ${tally}; ${dose}${why}`
  return `${tally}; ${dose}${why}`
}

/** "3/3 breach", "2/3 breach, 1/3 inconclusive". */
export function describeCounts(counts: Partial<Record<RunVerdict | 'error', number>>, planned: number): string {
  const order: (RunVerdict)[] = ['breach', 'contained', 'inconclusive', 'aborted']
  const parts = order.filter((v) => (counts[v] ?? 0) > 0).map((v) => `${counts[v]}/${planned} ${v}`)
  return parts.length > 0 ? parts.join(', ') : `0/${planned} ran`
}

// ---------------------------------------------------------------------------------------------------------
// Signals

function aggregateSignals(journals: Journal[], planned: number): SignalAggregate[] {
  // every (neighbour, signal) judged in any repeat, in the order the first repeat judged them
  const keys: {neighbor: string, signal: SignalVerdict['signal']}[] = []
  for (const journal of journals) {
    for (const s of journal.neighbors.flatMap((n) => n.signals)) {
      if (!keys.some((k) => k.neighbor === s.neighbor && k.signal === s.signal)) keys.push({neighbor: s.neighbor, signal: s.signal})
    }
  }
  return keys.map((key) => {
    const perRepeat = journals.map((journal) => ({
      journal,
      verdict: journal.neighbors.find((n) => n.name === key.neighbor)?.signals.find((s) => s.signal === key.signal),
    }))
    const present = perRepeat.filter((p): p is {journal: Journal, verdict: SignalVerdict} => p.verdict !== undefined)
    return aggregateSignal(present, planned)
  })
}

export function aggregateSignal(repeats: {journal: Journal, verdict: SignalVerdict}[], planned: number): SignalAggregate {
  const first = repeats[0].verdict
  const relative = isRelativeThreshold(first.threshold)
  const counts: VerdictCounts = {contained: 0, breach: 0, inconclusive: 0}
  for (const {journal, verdict} of repeats) counts[attributable(journal.injection.efficacy, verdict.verdict) ? verdict.verdict : 'inconclusive']++
  const values = repeats.map(({verdict}) => (relative ? observedChange(verdict) : verdict.fault))
  const measured = values.filter((v): v is number => v !== null && Number.isFinite(v))
  const verdicts = repeats.map((r) => r.verdict)
  return {
    neighbor: first.neighbor,
    signal: first.signal,
    unit: first.unit,
    threshold: first.threshold,
    measure: relative ? 'change' : 'value',
    values,
    median: measured.length > 0 ? median(measured) : null,
    range: measured.length > 0 ? {low: Math.min(...measured), high: Math.max(...measured)} : null,
    pooled: relative ? poolChanges(verdicts) : first.unit === 'ratio' ? poolProportions(verdicts) : first.unit === 'count' ? poolCounts(verdicts) : poolValues(verdicts),
    counts,
    verdict: majority(counts, planned),
  }
}

/** The change the judge reported, or the one observed when it declined to report one (an unsteady baseline). */
function observedChange(s: SignalVerdict): number | null {
  if (s.change !== null) return s.change
  if (s.baseline !== null && s.fault !== null && s.baseline > 0) return s.fault / s.baseline - 1
  return null
}

// ---------------------------------------------------------------------------------------------------------
// Pooling: each repeat gives an estimate and a 95% interval; the standard error is read back from the interval.

interface Estimate {
  y: number
  se: number
}

/** DerSimonian-Laird random-effects mean: the between-repeat variance widens the interval when repeats disagree. */
export function randomEffects(estimates: Estimate[], level = LEVEL): {mean: number, low: number, high: number} | null {
  const usable = estimates.filter((e) => Number.isFinite(e.y) && Number.isFinite(e.se) && e.se > 0)
  if (usable.length === 0) return null
  const w = usable.map((e) => 1 / e.se ** 2)
  const sumW = w.reduce((a, b) => a + b, 0)
  const fixed = usable.reduce((a, e, i) => a + w[i] * e.y, 0) / sumW
  const q = usable.reduce((a, e, i) => a + w[i] * (e.y - fixed) ** 2, 0)
  const c = sumW - w.reduce((a, b) => a + b * b, 0) / sumW
  const tau2 = usable.length > 1 && c > 0 ? Math.max(0, (q - (usable.length - 1)) / c) : 0
  const wStar = usable.map((e) => 1 / (e.se ** 2 + tau2))
  const sumStar = wStar.reduce((a, b) => a + b, 0)
  const mean = usable.reduce((a, e, i) => a + wStar[i] * e.y, 0) / sumStar
  const half = twoSidedZ(level) / Math.sqrt(sumStar)
  return {mean, low: mean - half, high: mean + half}
}

function poolChanges(verdicts: SignalVerdict[]): PooledEstimate | null {
  const z = twoSidedZ(LEVEL)
  const estimates = verdicts.flatMap((s) => {
    if (s.change === null || !s.interval || s.change <= -1 || s.interval.low <= -1 || !(s.interval.high > s.interval.low)) return []
    return [{y: Math.log1p(s.change), se: (Math.log1p(s.interval.high) - Math.log1p(s.interval.low)) / (2 * z)}]
  })
  const pooled = randomEffects(estimates)
  if (!pooled) return null
  return {
    estimate: Math.expm1(pooled.mean),
    interval: {low: Math.expm1(pooled.low), high: Math.expm1(pooled.high), level: LEVEL},
    method: 'random-effects log-ratio',
    repeats: estimates.length,
  }
}

function poolProportions(verdicts: SignalVerdict[]): PooledEstimate | null {
  const usable = verdicts.filter((s) => s.fault !== null && s.faultCount > 0)
  if (usable.length === 0) return null
  const events = usable.reduce((a, s) => a + Math.round(s.fault! * s.faultCount), 0)
  const total = usable.reduce((a, s) => a + s.faultCount, 0)
  return {estimate: events / total, interval: wilsonInterval(events, total, LEVEL), method: 'pooled proportion', repeats: usable.length}
}

function poolCounts(verdicts: SignalVerdict[]): PooledEstimate | null {
  const usable = verdicts.filter((s) => s.fault !== null)
  if (usable.length === 0) return null
  return {estimate: usable.reduce((a, s) => a + s.fault!, 0), interval: null, method: 'total', repeats: usable.length}
}

function poolValues(verdicts: SignalVerdict[]): PooledEstimate | null {
  const z = twoSidedZ(LEVEL)
  const estimates = verdicts.flatMap((s) => (s.fault !== null && s.interval && s.interval.high > s.interval.low
    ? [{y: s.fault, se: (s.interval.high - s.interval.low) / (2 * z)}] : []))
  const pooled = randomEffects(estimates)
  if (!pooled) return null
  return {estimate: pooled.mean, interval: {low: pooled.low, high: pooled.high, level: LEVEL}, method: 'random-effects', repeats: estimates.length}
}
