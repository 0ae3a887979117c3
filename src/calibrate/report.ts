// The arithmetic of a calibration, from the journals of its runs: how often A/A runs breached (with an exact
// interval), how noisy the pairs were per signal, and how many pairs (and seconds on this machine) the
// hypotheses need to be shown contained at no change under the design's boundaries.
import type {Journal} from '../report/journal.js'
import {incompleteBeta, studentTQuantile} from '../verdict/sequential.js'
import {median, normalQuantile} from '../verdict/stats.js'
import {criticalT} from '../verdict/three-way.js'
import {isLatency, type ShiftDose} from './shift.js'

export interface Interval95 {
  low: number
  high: number
}

/** The exact (Clopper-Pearson) interval of a binomial share: k events in n trials, two-sided at level. */
export function clopperPearson(k: number, n: number, level = 0.95): Interval95 {
  if (!(Number.isInteger(k) && Number.isInteger(n) && n > 0 && k >= 0 && k <= n)) throw new RangeError(`clopperPearson needs 0 <= k <= n, n > 0 integers, got ${k} of ${n}`)
  const tail = (1 - level) / 2
  return {
    low: k === 0 ? 0 : betaQuantile(tail, k, n - k + 1),
    high: k === n ? 1 : betaQuantile(1 - tail, k + 1, n - k),
  }
}

/** The p-quantile of Beta(a, b), by bisection on the regularized incomplete beta. */
export function betaQuantile(p: number, a: number, b: number): number {
  let low = 0
  let high = 1
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2
    if (incompleteBeta(middle, a, b) < p) low = middle
    else high = middle
  }
  return (low + high) / 2
}

/** One signal's noise from one run's last look: the sd of one pair's contribution, the margin to the threshold. */
export interface NoiseSample {
  sd: number
  margin: number
  pairs: number
}

export interface SignalNoise {
  neighbor: string
  signal: string
  /** pooled over the runs, weighted by their degrees of freedom (pairs - 1) */
  sd: number
  /** the mean distance from no change to the threshold, on the same scale (0 or less: never contained at no change) */
  margin: number
  runs: number
}

/** Pools one signal's noise over runs: sd by degrees of freedom, the margin as the mean. */
export function poolNoise(samples: NoiseSample[]): {sd: number, margin: number, runs: number} | undefined {
  const usable = samples.filter((s) => s.pairs >= 2 && Number.isFinite(s.sd) && Number.isFinite(s.margin))
  if (usable.length === 0) return undefined
  const df = usable.reduce((a, s) => a + s.pairs - 1, 0)
  const sd = Math.sqrt(usable.reduce((a, s) => a + (s.pairs - 1) * s.sd ** 2, 0) / df)
  return {sd, margin: usable.reduce((a, s) => a + s.margin, 0) / usable.length, runs: usable.length}
}

export interface Need {
  /** pairs at the look that would decide */
  pairs: number
  /** within the design's planned looks (else extrapolated at the last look's boundary, beyond the budget) */
  withinPlan: boolean
}

/**
 * The first look at which a run whose true change is 0 shows "contained": its interval's upper end,
 * estimate + t_{n-1}(Phi(z_k)) × sd/√n, falls below the margin. assurance 0.5 is the median run (estimate 0);
 * 0.9 asks the estimate to sit at its 90th percentile too. Beyond the planned looks the last look's boundary is
 * kept, pair by pair, up to 10,000 pairs.
 */
export function pairsNeeded(noise: {sd: number, margin: number}, looks: {pairs: number, z: number}[], assurance = 0.5): Need | undefined {
  if (!(noise.margin > 0) || !(noise.sd >= 0) || looks.length === 0) return undefined
  const q = assurance === 0.5 ? 0 : normalQuantile(assurance)
  const decides = (n: number, z: number) => n >= 2 && (criticalT(z, n - 1) + q) * noise.sd / Math.sqrt(n) < noise.margin
  for (const look of looks) if (decides(look.pairs, look.z)) return {pairs: look.pairs, withinPlan: true}
  const last = looks.at(-1)!
  for (let n = last.pairs + 1; n <= 10_000; n++) if (decides(n, last.z)) return {pairs: n, withinPlan: false}
  return undefined
}

export interface Expectation {
  /** the signal that needs the most pairs (or that no number of pairs shows contained: then no median) */
  limiting?: {neighbor: string, signal: string}
  median?: Need & {seconds: number}
  ninety?: Need & {seconds: number}
}

/** Every signal must be shown contained: the run needs what its noisiest signal needs. */
export function expectDecision(noise: SignalNoise[], looks: {pairs: number, z: number}[], secondsPerPair: number): Expectation {
  const at = (assurance: number) => {
    let worst: {need?: Need, signal: SignalNoise} | undefined
    for (const signal of noise) {
      const need = pairsNeeded(signal, looks, assurance)
      if (!need) return {need: undefined, signal}
      if (!worst || need.pairs > worst.need!.pairs) worst = {need, signal}
    }
    return worst
  }
  const half = at(0.5)
  const ninety = at(0.9)
  const withSeconds = (need: Need | undefined) => need && {...need, seconds: need.pairs * secondsPerPair}
  return {
    limiting: half && {neighbor: half.signal.neighbor, signal: half.signal.signal},
    median: withSeconds(half?.need),
    ninety: withSeconds(ninety?.need),
  }
}

// ---------------------------------------------------------------------------------------------------------
// From journals

/** Seconds one pair took in a run: from its first block's start to its last block's end, over the pairs measured. */
export function secondsPerPair(journal: Journal): number | undefined {
  const blocks = journal.design?.blocks ?? []
  if (blocks.length < 2) return undefined
  const pairs = Math.max(...blocks.map((b) => b.pair))
  return (Date.parse(blocks.at(-1)!.end) - Date.parse(blocks[0].start)) / 1000 / pairs
}

/** The usable pairs at the look that decided, or undefined when none did. */
export function decisionPairs(journal: Journal): number | undefined {
  const decided = journal.design?.looks.find((l) => l.decision !== 'undecided')
  return decided?.pairs
}

/** Each signal's noise at the run's last look that estimated it. */
export function noiseSamples(journal: Journal): Map<string, NoiseSample> {
  const found = new Map<string, NoiseSample>()
  for (const look of journal.design?.looks ?? []) {
    for (const s of look.signals) {
      if (s.noise) found.set(`${s.neighbor}/${s.signal}`, {sd: s.noise.sd, margin: s.noise.margin, pairs: look.pairs})
    }
  }
  return found
}

/** A relative change's interval (a ratio or difference test, not an absolute bound or an observed fact). */
function relativeTest(test: string): boolean {
  return /ratio|difference/.test(test)
}

export interface AaSummary {
  runs: number
  verdicts: Record<'contained' | 'breach' | 'inconclusive' | 'aborted', number>
  /** runs in which the null dose did not land: inconclusive for that reason, reported, not hidden */
  doseNotLanded: {count: number, notes: string[]}
  falseBreach: {count: number, of: number, interval: Interval95, level: number}
  decisionPairs: {median: number | null, values: number[]}
  secondsPerPair: number | null
  noise: SignalNoise[]
  /** A/A runs whose final interval of a relative change held 0, per signal */
  coverage: {neighbor: string, signal: string, covered: number, of: number, levels: number[]}[]
}

export function summariseAa(journals: Journal[]): AaSummary {
  const verdicts = {contained: 0, breach: 0, inconclusive: 0, aborted: 0}
  for (const j of journals) verdicts[j.verdict]++
  const notLanded = journals.filter((j) => j.injection.efficacy !== null && !j.injection.efficacy.landed)
  const judged = journals.filter((j) => j.verdict !== 'aborted')
  const breaches = judged.filter((j) => j.verdict === 'breach').length
  const pairs = journals.map(decisionPairs).filter((p): p is number => p !== undefined)
  const seconds = journals.map(secondsPerPair).filter((s): s is number => s !== undefined)
  const byKey = new Map<string, NoiseSample[]>()
  for (const j of journals) for (const [key, sample] of noiseSamples(j)) byKey.set(key, [...(byKey.get(key) ?? []), sample])
  const noise: SignalNoise[] = []
  for (const [key, samples] of byKey) {
    const pooled = poolNoise(samples)
    const [neighbor, signal] = splitKey(key)
    if (pooled) noise.push({neighbor, signal, ...pooled})
  }
  const coverage = new Map<string, AaSummary['coverage'][number]>()
  for (const j of journals) {
    for (const n of j.neighbors) {
      for (const s of n.signals) {
        if (!s.interval || !relativeTest(s.test)) continue
        const key = `${n.name}/${s.signal}`
        const entry = coverage.get(key) ?? {neighbor: n.name, signal: s.signal, covered: 0, of: 0, levels: []}
        entry.of++
        if (s.interval.low <= 0 && s.interval.high >= 0) entry.covered++
        entry.levels.push(s.interval.level)
        coverage.set(key, entry)
      }
    }
  }
  return {
    runs: journals.length,
    verdicts,
    doseNotLanded: {count: notLanded.length, notes: notLanded.map((j) => j.injection.efficacy!.note)},
    falseBreach: {count: breaches, of: judged.length, interval: judged.length ? clopperPearson(breaches, judged.length) : {low: 0, high: 1}, level: 0.95},
    decisionPairs: {median: pairs.length ? median(pairs) : null, values: pairs},
    secondsPerPair: seconds.length ? median(seconds) : null,
    noise,
    coverage: [...coverage.values()],
  }
}

/**
 * The A/A runs of several calibrations as one count: the verdict's promise (at most 5% false breaches) is one design
 * shared by every experiment, and no one file's 20 runs can bound it below 17%, so the runs of several experiments'
 * own files, each a real run of the runner at its null dose, are pooled, with the exact interval of the pooled rate
 * and each signal's coverage of no change.
 */
export interface PooledAa {
  calibrations: number
  verdicts: AaSummary['verdicts']
  doseNotLanded: number
  falseBreach: {count: number, of: number, interval: Interval95}
  coverage: {signal: string, covered: number, of: number}[]
}

export function poolAa(summaries: Pick<AaSummary, 'verdicts' | 'doseNotLanded' | 'falseBreach' | 'coverage'>[]): PooledAa {
  const verdicts = {contained: 0, breach: 0, inconclusive: 0, aborted: 0}
  let count = 0
  let of = 0
  let notLanded = 0
  const coverage = new Map<string, {signal: string, covered: number, of: number}>()
  for (const s of summaries) {
    for (const v of Object.keys(verdicts) as (keyof typeof verdicts)[]) verdicts[v] += s.verdicts[v] ?? 0
    count += s.falseBreach.count
    of += s.falseBreach.of
    notLanded += s.doseNotLanded.count
    for (const entry of s.coverage ?? []) {
      const pooled = coverage.get(entry.signal) ?? {signal: entry.signal, covered: 0, of: 0}
      pooled.covered += entry.covered
      pooled.of += entry.of
      coverage.set(entry.signal, pooled)
    }
  }
  return {
    calibrations: summaries.length,
    verdicts,
    doseNotLanded: notLanded,
    falseBreach: {count, of, interval: of ? clopperPearson(count, of) : {low: 0, high: 1}},
    coverage: [...coverage.values()],
  }
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('/')
  return [key.slice(0, at), key.slice(at + 1)]
}

export interface SpikeRun {
  runId: string
  verdict: Journal['verdict']
  dose: string
  /** the run's own estimate of each signal's change on the slowed neighbour, with its interval */
  signals: {signal: string, change: number | null, interval: {low: number, high: number, level: number} | null, verdict: string}[]
}

export function spikeRun(journal: Journal, neighbor: string): SpikeRun {
  const n = journal.neighbors.find((x) => x.name === neighbor)
  return {
    runId: journal.runId,
    verdict: journal.verdict,
    dose: journal.injection.efficacy?.note ?? 'not injected',
    signals: (n?.signals ?? []).map((s) => ({
      signal: s.signal, change: s.change, verdict: s.verdict,
      interval: s.interval && relativeTest(s.test) ? s.interval : null,
    })),
  }
}

/** One signal of the shifted neighbour over the runs of one shift: how often each verdict came, against its threshold. */
export interface ShiftSignal {
  signal: string
  /** the hypothesis's max_increase, or null when the signal has no relative bound (its verdicts are listed, not rated) */
  threshold: number | null
  verdicts: {breach: number, contained: number, inconclusive: number}
  /** judged runs (not aborted), with the exact 95% intervals of the breach and the contained shares */
  of: number
  breach: Interval95
  contained: Interval95
  /** each run's estimate of the change (the A/A noise plus the exact shift) */
  changes: (number | null)[]
  /** the change the runs saw, pooled over their pairs (the exact shift on top of the null dose's own effect) */
  realised: Realised | null
}

/** A change measured over the pairs of several runs, with its 95% interval clustered by run. */
export interface Realised {
  change: number
  low: number
  high: number
  pairs: number
  runs: number
}

/**
 * One run's pairs for a neighbour's signal, as its last look judged them: ln(fault-on block / its fault-off
 * neighbour) per usable pair (the last look holds every pair). Empty when the run recorded none.
 */
export function pairLogRatios(journal: Journal, neighbor: string, signal: string): number[] {
  const found = journal.design?.looks?.at(-1)?.signals.find((s) => s.neighbor === neighbor && s.signal === signal)
  return found?.blocks ? found.blocks.on.map((v, i) => Math.log(v / found.blocks!.off[i])).filter(Number.isFinite) : []
}

/**
 * The change the runs really saw on a latency signal: the mean over every pair of every run (each run's last look)
 * of ln(fault-on / fault-off), its 95% interval clustered by run, since the pairs of one run share its machine
 * state. The shift multiplies the fault-on readings exactly, but on top of whatever the null dose itself does to
 * the neighbour: nothing measurable on a quiet machine, not nothing on a busy one (2026-12-05, row 8 loaded), where
 * runs "at the threshold" may truly be beyond it. Null with fewer than two runs that kept their pairs.
 */
export function realisedChange(journals: Journal[], neighbor: string, signal: string): Realised | null {
  const runs = journals.map((j) => pairLogRatios(j, neighbor, signal)).filter((r) => r.length > 0)
  if (runs.length < 2) return null
  const all = runs.flat()
  const mean = all.reduce((a, b) => a + b, 0) / all.length
  // the cluster-robust (CR0) variance of a mean: each run's summed residuals, squared
  const se = Math.sqrt(runs.reduce((a, r) => a + r.reduce((b, x) => b + x - mean, 0) ** 2, 0)) / all.length
  const t = studentTQuantile(0.975, runs.length - 1)
  return {change: Math.exp(mean) - 1, low: Math.exp(mean - t * se) - 1, high: Math.exp(mean + t * se) - 1, pairs: all.length, runs: runs.length}
}

/**
 * The change a shift's verdicts are rated at, for a signal of this threshold: the shift asked, or the threshold or
 * twice it, the nearest the realised change's interval reaches within a tenth of (within that band the error
 * rates barely move), else the realised change itself. So the shift asked is kept on a quiet machine, where the null dose
 * does nothing; a shift asked below the threshold to make up for the null dose's own effect on a busy one is rated
 * at the threshold once its runs realised it there; and runs beyond it are rated where they were.
 */
export function ratedShift(shift: number, realised: Realised | null, threshold?: number): number {
  if (!realised || shift <= 0) return shift
  const reaches = (x: number) => realised.low <= 1.1 * x && realised.high >= 0.9 * x
  const reached = [shift, ...(threshold && threshold > 0 ? [threshold, 2 * threshold] : [])].filter(reaches)
  if (reached.length === 0) return realised.change
  // the nearest of those its interval reaches
  return reached.reduce((best, x) => (Math.abs(x - realised.change) < Math.abs(best - realised.change) ? x : best))
}

export interface ShiftSummary {
  neighbor: string
  /** the exact relative change asked, +0.25 for ×1.25 */
  shift: number
  runs: number
  verdicts: Record<Journal['verdict'], number>
  signals: ShiftSignal[]
  runIds: string[]
  /** what the fault-on blocks started: the null dose, or nothing (--shift-dose none); absent in older files: null */
  dose?: ShiftDose
}

export function summariseShift(journals: Journal[], neighbor: string, shift: number, hypotheses: {signal: string, max_increase?: number}[], dose: ShiftDose = 'null'): ShiftSummary {
  const verdicts = {contained: 0, breach: 0, inconclusive: 0, aborted: 0}
  for (const j of journals) verdicts[j.verdict]++
  const judged = journals.filter((j) => j.verdict !== 'aborted')
  const signals: ShiftSignal[] = hypotheses.filter((h) => isLatency(h.signal)).map((h) => {
    const found = judged.map((j) => j.neighbors.find((n) => n.name === neighbor)?.signals.find((s) => s.signal === h.signal))
    const count = (v: string) => found.filter((s) => s?.verdict === v).length
    const breach = count('breach')
    const contained = count('contained')
    const of = judged.length
    const share = (k: number) => (of > 0 ? clopperPearson(k, of) : {low: 0, high: 1})
    return {
      signal: h.signal, threshold: h.max_increase ?? null,
      verdicts: {breach, contained, inconclusive: of - breach - contained}, of,
      breach: share(breach), contained: share(contained),
      changes: found.map((s) => s?.change ?? null),
      realised: realisedChange(judged, neighbor, h.signal),
    }
  })
  return {neighbor, shift, runs: journals.length, verdicts, signals, runIds: journals.map((j) => j.runId), dose}
}

/**
 * Which verdict is wrong at this shift for a signal whose bound is a rise of at most threshold: below it a breach,
 * above it a contained, at it both (the change is neither wholly within nor wholly beyond); power is the breach share
 * at twice the threshold or more.
 */
export function shiftRelation(shift: number, threshold: number): {at: string, wrong: ('breach' | 'contained')[], power: boolean} {
  const ratio = shift / threshold
  const close = (x: number) => Math.abs(ratio - x) < 1e-9
  const at = close(1) ? 'at the threshold' : close(2) ? 'twice the threshold' : `${Number(ratio.toPrecision(3))}× the threshold`
  if (close(1)) return {at, wrong: ['breach', 'contained'], power: false}
  return ratio < 1 ? {at, wrong: ['breach'], power: false} : {at, wrong: ['contained'], power: ratio >= 2 - 1e-9}
}
