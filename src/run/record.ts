// The journal of a run: opened empty before anything starts, and filled at the end from what was measured,
// the last look's verdicts and how the run ended.
import type {Experiment} from '../experiment/schema.js'
import type {Platform} from '../platforms/platform.js'
import type {Journal, LookRecord, PhaseSpan} from '../report/journal.js'
import {judgeOverall} from '../verdict/judge.js'
import type {Efficacy} from '../verdict/types.js'
import type {Window} from '../metrics/source.js'
import {instrumentReport, type MeasuredBlock, pooledEfficacy} from './blocks.js'
import type {Design} from './design.js'
import {ExitCode} from './exit-codes.js'
import type {LookResult} from './judging.js'
import {timeline, type WorkflowObserver} from './observe.js'
import {VERSION} from './version.js'

/** What the journal needs from the experiment's caller (RunOptions' part of it). */
export interface JournalOrigin {
  experiment: Experiment
  file?: string
  levelOverride?: string
}

export function emptyJournal(options: JournalOrigin, runId: string, startedAt: Date, platform: Platform): Journal {
  const {experiment} = options
  return {
    schemaVersion: 1,
    runId,
    tool: {name: 'chaos', version: VERSION},
    experiment: {name: experiment.metadata.name, description: experiment.metadata.description, file: options.file, levelOverride: options.levelOverride},
    platform: platform.name,
    startedAt: startedAt.toISOString(),
    endedAt: startedAt.toISOString(),
    verdict: 'inconclusive',
    reason: '',
    expect: experiment.expect,
    exitCode: ExitCode.Inconclusive,
    plan: [],
    phases: {},
    injection: {fault: experiment.fault, efficacy: null, events: []},
    target: {name: experiment.target.name, boundary: '', unexpectedExits: 0},
    neighbors: [],
    rollback: {complete: true, leftovers: [], durationMs: 0},
  }
}

/** How the measuring went: what the journal is filled from once the platform is torn down. */
export interface RunOutcome {
  experiment: Experiment
  design: Design
  platform: Platform
  /** the target's first, then the neighbours' */
  observers: WorkflowObserver[]
  blocks: MeasuredBlock[]
  looks: LookRecord[]
  lastLook?: LookResult
  stoppedBecause: string
  efficacies: Efficacy[]
  /** the pairs judged were those whose dose was short but enough for a breach (runner.ts, verdict/judge.ts) */
  shortDose: boolean
  aborted: boolean
  /** why the measurement source could not be trusted, if it could not */
  measurementLost?: string
}

/** Fills the journal from the outcome: phases, dose, design, target, each neighbour's verdicts; then the verdict. */
export function completeJournal(journal: Journal, outcome: RunOutcome): Journal {
  const {experiment, design, platform, observers, blocks, looks, lastLook, stoppedBecause, efficacies, shortDose, measurementLost} = outcome
  const on = blocks.filter((b) => b.arm === 'on')
  const off = blocks.filter((b) => b.arm === 'off')
  journal.phases = {
    ...journal.phases,
    baseline: off[0] && span(off[0]),
    inject: on.length ? span({from: on[0].from, to: on.at(-1)!.to}) : undefined,
  }
  journal.injection.efficacy = pooledEfficacy(efficacies, design, shortDose)
  journal.design = {
    kind: design.kind, blockMs: design.blockMs, ...(design.episodic ? {episodic: true} : {}), settleMs: design.settleMs, budgetMs: design.budgetMs, alpha: design.alpha, spending: design.spending,
    maxPairs: design.maxPairs, plannedLooks: design.looks.map((l) => l.pairs),
    blocks: blocks.map((b) => ({arm: b.arm, pair: b.pair + 1, start: new Date(b.from).toISOString(), end: new Date(b.to).toISOString(), startupMs: b.startupMs, landed: b.landed, ...(b.partial ? {partial: true} : {})})),
    looks, stoppedBecause,
    instrument: instrumentReport(observers.slice(1), blocks),
  }
  journal.target = {name: platform.target.name, boundary: platform.target.boundary, unexpectedExits: platform.target.unexpectedExits(), lastExit: platform.target.lastExit()}
  journal.neighbors = observers.slice(1).map((observer) => {
    const name = observer.workflow.name
    const signals = measurementLost || !lastLook ? [] : lastLook.signals.get(name) ?? []
    const stats = observer.probe?.stats()
    return {
      name,
      boundary: observer.workflow.boundary,
      unexpectedExits: observer.workflow.unexpectedExits(),
      lastExit: observer.workflow.lastExit(),
      signals,
      probe: stats && {sent: stats.sent, ok: stats.ok, errors: stats.errors, timeouts: stats.timeouts, meanSendLagMs: stats.meanSendLagMs},
      timeline: timeline(observer),
    }
  })
  conclude(journal, experiment, outcome.aborted, on.length === 0, measurementLost)
  journal.endedAt = new Date().toISOString()
  return journal
}

export function span(window: Window | undefined): PhaseSpan | undefined {
  return window && {start: new Date(window.from).toISOString(), end: new Date(window.to).toISOString()}
}


function conclude(journal: Journal, experiment: Experiment, aborted: boolean, notInjected: boolean, measurementLost?: string): void {
  const signals = journal.neighbors.flatMap((n) => n.signals)
  const efficacy: Efficacy = journal.injection.efficacy ?? {landed: false, asked: 0, achieved: 0, unit: '', ratio: 0, note: 'the fault was never injected'}
  if (aborted) {
    journal.verdict = 'aborted'
    journal.reason = journal.abort?.reason ?? 'interrupted; the fault was removed'
    journal.exitCode = ExitCode.Aborted
  } else if (measurementLost) {
    journal.verdict = 'inconclusive'
    journal.reason = notInjected ? measurementLost : `${measurementLost}; the fault was removed and there is no verdict`
    journal.exitCode = ExitCode.Inconclusive
  } else {
    const overall = notInjected ? {verdict: 'inconclusive' as const, reason: efficacy.note} : judgeOverall(signals, efficacy)
    journal.verdict = overall.verdict
    journal.reason = overall.reason
    journal.exitCode = overall.verdict === 'inconclusive' ? ExitCode.Inconclusive
      : overall.verdict === experiment.expect ? ExitCode.Matched : ExitCode.Mismatched
  }
  if (!journal.rollback.complete) {
    journal.exitCode = ExitCode.RollbackIncomplete
    journal.reason += `; rollback incomplete: ${journal.rollback.leftovers.join(', ')}`
  }
}
