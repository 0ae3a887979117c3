// The blocks a run measured, and what is derived from them alone: the set a look compares, the dose over every
// fault-on block, the instrument's lag over them. The runner measures blocks; judging.ts judges a BlockSet.
import type {Journal} from '../report/journal.js'
import {formatPercent} from '../verdict/format.js'
import {BREACH_DOSE_FLOOR, breachDoseOnly} from '../verdict/judge.js'
import type {Efficacy} from '../verdict/types.js'
import type {Window} from '../metrics/source.js'
import type {Arm, Design} from './design.js'
import type {BlockSet} from './judging.js'
import type {WorkflowObserver} from './observe.js'
import {withoutLaggedIntervals} from './signals.js'

/** One measured block of the design. */
export interface MeasuredBlock {
  arm: Arm
  /** 0-based */
  pair: number
  from: number
  to: number
  /** fault-on: when the fault was asked for, how long its stressors took to work, whether its dose landed */
  askedAt?: number
  startupMs?: number
  landed?: boolean
  /** short of the dose asked, but enough that a breach at it stands (verdict/judge.ts BREACH_DOSE_FLOOR) */
  partial?: boolean
  dose?: string
  /** when the settle after the block ended (after a fault-on block, the removal's: its episode's counts run to it) */
  settledAt?: number
}

/**
 * The blocks a look compares: interleaved, the pairs whose dose landed (with shortDose, those whose dose was short
 * of the one asked but enough for a breach to stand, too: the run then looks for a breach only); windows, each
 * window cut into blocks.
 */
export function blockSet(design: Design, blocks: MeasuredBlock[], intervalMs: number, shortDose = false): BlockSet {
  const on = blocks.filter((b) => b.arm === 'on')
  if (design.kind === 'windows') {
    const off = blocks.filter((b) => b.arm === 'off')
    // blocks of two intervals at least: a tail quantile of one second's hundred requests is its second-largest value
    const size = Math.max(2 * intervalMs, 2000)
    return {
      on: on.flatMap((b) => cut(b, size)), off: off.flatMap((b) => cut(b, size)),
      episodes: on.map((b) => ({from: b.askedAt ?? b.from, to: b.settledAt ?? b.to})),
      whole: {on: on.map((b) => ({from: b.from, to: b.to})), off: off.map((b) => ({from: b.from, to: b.to}))},
    }
  }
  const set: BlockSet = {on: [], off: [], episodes: []}
  for (const o of on) {
    // a neighbour killed during a fault episode is harm whether or not that block's dose reached its full size (a
    // leak that took the neighbour down with it can be cut short by the same OOM kill): every episode counts events
    set.episodes.push({from: o.askedAt ?? o.from, to: o.settledAt ?? o.to})
    const partner = blocks.find((b) => b.arm === 'off' && b.pair === o.pair)
    if (!partner || !(o.landed || (shortDose && o.partial))) continue
    set.on.push({from: o.from, to: o.to})
    set.off.push({from: partner.from, to: partner.to})
  }
  return set
}

function cut(window: Window, size: number): Window[] {
  const n = Math.max(1, Math.floor((window.to - window.from) / size))
  const step = (window.to - window.from) / n
  return Array.from({length: n}, (_, i) => ({from: window.from + i * step, to: window.from + (i + 1) * step}))
}

/**
 * Every fault-on block's dose, as one: landed when most blocks' did (the pairs whose dose fell short are not judged).
 * With shortDose (the run judged the pairs whose dose was short but enough for a breach), partial: a breach stands.
 */
export function pooledEfficacy(efficacies: Efficacy[], design: Design, shortDose = false): Efficacy | null {
  if (efficacies.length === 0) return null
  // the windows design judges its one fault window whatever its dose: a breach at a short one stands (judge.ts)
  if (design.kind === 'windows') return breachDoseOnly(efficacies[0]) ? {...efficacies[0], partial: true} : efficacies[0]
  if (efficacies.length === 1 && !shortDose) return efficacies[0]
  const landed = efficacies.filter((e) => e.landed).length
  // the blocks whose dose the looks judged: at a short dose, those with enough of it for a breach
  const pooled = shortDose ? efficacies.filter((e) => e.landed || breachDoseOnly(e)) : efficacies
  const asked = pooled.reduce((a, e) => a + e.asked, 0)
  const achieved = pooled.reduce((a, e) => a + e.achieved, 0)
  const last = (shortDose ? pooled : efficacies.filter((e) => e.landed)).at(-1) ?? efficacies.at(-1)!
  const dose = {asked, achieved, unit: last.unit, ratio: asked > 0 ? achieved / asked : 0}
  if (shortDose) {
    return {
      landed: false, partial: true, ...dose,
      note: `landed in full in ${landed} of ${efficacies.length} fault blocks, at least ${formatPercent(BREACH_DOSE_FLOOR)} in the ${pooled.length} judged for a breach only; ${last.note}`,
    }
  }
  return {landed: landed >= 2 && landed >= efficacies.length / 2, ...dose, note: `landed in ${landed} of ${efficacies.length} fault blocks (${last.note})`}
}

/**
 * The instrument's own lag, where the probe measures it: the intervals it lagged in and their requests, counted and
 * judged all the same (a probe starved by the fault lags exactly when the neighbour suffers: leaving them out hid
 * harm, docs/isolation-findings.md); and its mean send lag in each arm's blocks, which every latency carries, so a
 * fault that slows the instrument more than the neighbour shows as a difference between the two.
 */
export function instrumentReport(neighbours: WorkflowObserver[], blocks: MeasuredBlock[]): NonNullable<Journal['design']>['instrument'] {
  return neighbours.flatMap((o) => {
    const stats = o.probe?.stats()
    if (!stats) return []
    let laggedIntervals = 0
    let requestsInLaggedIntervals = 0
    const lag = {on: {sum: 0, n: 0}, off: {sum: 0, n: 0}}
    for (const b of blocks) {
      const filtered = withoutLaggedIntervals(o, b)
      laggedIntervals += filtered.laggedIntervals
      requestsInLaggedIntervals += filtered.requestsInLaggedIntervals
      for (const r of o.probe!.records(b.from, b.to)) {
        if (r.sendLagMs === undefined) continue
        lag[b.arm].sum += r.sendLagMs
        lag[b.arm].n++
      }
    }
    const byArm = lag.on.n > 0 && lag.off.n > 0 ? {sendLagMsByArm: {on: significant(lag.on.sum / lag.on.n), off: significant(lag.off.sum / lag.off.n)}} : {}
    return [{neighbor: o.workflow.name, meanSendLagMs: stats.meanSendLagMs, maxSendLagMs: stats.maxSendLagMs, laggedIntervals, requestsInLaggedIntervals, droppedRequests: requestsInLaggedIntervals, ...byArm}]
  })
}

/** Six significant digits: a block statistic's precision, not float noise, in the journal. */
export function significant(value: number): number {
  return Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(6)) : value
}
