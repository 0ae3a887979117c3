// A look during a run: every signal judged over the blocks measured so far at one look's boundary, with an
// external source's view checked against the toolkit's own probe, and recorded for the journal.
import type {Experiment} from '../experiment/schema.js'
import {hypothesesFor, type MeasurementSource} from '../metrics/source.js'
import type {LookRecord} from '../report/journal.js'
import {blockSet, type MeasuredBlock, significant} from './blocks.js'
import type {Design} from './design.js'
import {breachOnly, type Extract, look, type LookResult} from './judging.js'
import type {WorkflowObserver} from './observe.js'
import {extractSignal} from './signals.js'

export interface LookContext {
  experiment: Experiment
  design: Design
  /** the blocks measured so far, in order */
  blocks: MeasuredBlock[]
  /** the target's first, then the neighbours' */
  observers: WorkflowObserver[]
  source?: MeasurementSource
  extract: Extract
  /** the planned looks made so far; a planned look (index >= 0) is appended */
  looks: LookRecord[]
  /**
   * Set by the runner when no fault block's dose landed in full but each had enough for a breach to stand: the
   * looks then judge those pairs, for a breach only (verdict/judge.ts BREACH_DOSE_FLOOR). Its text says the dose.
   */
  shortDose?: string
}

/** Judges every signal over the blocks so far at boundary z; index -1 is an unplanned look that is not recorded. */
export async function lookAt(ctx: LookContext, index: number, z: number, why: string): Promise<LookResult> {
  const {experiment, design, blocks, observers, source, extract, looks} = ctx
  const set = blockSet(design, blocks, experiment.phases.interval, ctx.shortDose !== undefined)
  if (source) await source.collect([...set.on, ...set.off, ...set.episodes, ...(set.whole ? [...set.whole.on, ...set.whole.off] : [])])
  const neighbours = observers.slice(1).map((o) => ({name: o.workflow.name, hypotheses: hypothesesFor(o.workflow.name, experiment.hypothesis)}))
  const judged = look(neighbours, set, design.kind === 'interleaved', z, extract)
  const result = ctx.shortDose === undefined ? judged : breachOnly(judged, ctx.shortDose)
  // with an external source, the toolkit's own probe's view of the same blocks beside each signal it can give:
  // a Prometheus pipeline that disagrees with it (scrape gaps, coarse buckets) shows here
  if (source) {
    const probed = neighbours.filter((n) => observers.find((o) => o.workflow.name === n.name)?.probe)
      .map((n) => ({...n, hypotheses: n.hypotheses.filter((h) => h.promql === undefined)}))
    // over the very requests the source counted: its histogram holds those counted between two scrapes, whenever
    // they were sent, not those sent between a window's edges
    const own = look(probed, set, design.kind === 'interleaved', z, (neighbor, h, w) => {
      const observer = observers.find((o) => o.workflow.name === neighbor)!
      const covered = source.covered?.(neighbor, h, w)
      return covered ? extractSignal(observer, h.signal, covered, experiment.phases.interval, 'observed') : extractSignal(observer, h.signal, w, experiment.phases.interval)
    })
    for (const n of probed) {
      const verdicts = result.signals.get(n.name) ?? []
      n.hypotheses.forEach((h, i) => {
        const mine = own.signals.get(n.name)?.[i]
        const theirs = verdicts.find((v) => v.signal === h.signal)
        if (mine && theirs && mine.test !== 'none') theirs.crossCheck = {source: 'embedded', baseline: mine.baseline, fault: mine.fault, verdict: mine.verdict, reason: mine.reason}
      })
    }
  }
  if (index >= 0) {
    // every look's block statistics are the last one's, less its newest blocks: the last look keeps them
    for (const earlier of looks) for (const s of earlier.signals) delete s.blocks
    looks.push({
      look: index + 1, pairs: design.kind === 'windows' ? 1 : set.on.length, z: Number.isFinite(z) ? z : null, why, decision: result.decision,
      corrected: result.corrected,
      signals: [...result.signals].flatMap(([n, v]) => v.map((s, i) => {
        const noise = result.noise.get(n)?.[i]
        const values = result.blocks.get(n)?.[i]
        return {
          neighbor: n, signal: s.signal, verdict: s.verdict, change: s.change,
          ...(noise ? {noise: {sd: noise.sd, margin: noise.margin}} : {}),
          ...(values && values.on.length > 0 ? {blocks: {on: values.on.map(significant), off: values.off.map(significant)}} : {}),
        }
      })),
    })
  }
  return result
}
