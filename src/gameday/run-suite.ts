// Runs a game-day suite once: its steps in order, the experiments of a parallel group at the same time, and
// (with stopOnBreach) nothing more after an experiment breached when it was expected to contain the fault.
// No oclif here; the command prints the events and writes the reports and the history.
import {exitCodeFor} from '../cli/errors.js'
import {doseWord, type NotRun, type RunsReport} from '../report/formats.js'
import type {Journal, RunVerdict} from '../report/journal.js'
import type {RunEvent} from '../run/events.js'
import {ExitCode} from '../run/exit-codes.js'
import {journalExitCode, worseExitCode, type FailOn} from '../run/gate.js'
import {newRunId, runExperiment, type RunOptions} from '../run/runner.js'
import type {Suite, SuiteItem} from './suite.js'

export type SuiteEvent =
  | {type: 'step', index: number, total: number, parallel: boolean, names: string[]}
  | {type: 'run', item: SuiteItem, runId: string, event: RunEvent}
  | {type: 'done', item: SuiteItem, journal?: Journal, error?: string}

export interface SuiteRunOptions {
  suite: Suite
  failOn: FailOn
  signal?: AbortSignal
  onEvent?: (event: SuiteEvent) => void
  /** the run loop; replaced in unit tests */
  run?: (options: RunOptions) => Promise<Journal>
}

export interface SuiteRunResult {
  suite: string
  file: string
  startedAt: string
  endedAt: string
  journals: Journal[]
  notRun: NotRun[]
  /** the experiment whose unexpected breach stopped the suite */
  stoppedAfter?: string
  interrupted: boolean
  verdict: RunVerdict
  exitCode: number
}

export async function runSuite(options: SuiteRunOptions): Promise<SuiteRunResult> {
  const {suite, failOn} = options
  const emit = options.onEvent ?? (() => undefined)
  const run = options.run ?? runExperiment
  const startedAt = new Date().toISOString()
  const journals: Journal[] = []
  const notRun: NotRun[] = []
  let stoppedAfter: string | undefined

  for (const [index, step] of suite.steps.entries()) {
    const interrupted = options.signal?.aborted === true
    if (stoppedAfter || interrupted) {
      const reason = interrupted ? 'not run: the suite was interrupted' : `not run: stopOnBreach after ${stoppedAfter} breached`
      for (const item of step.items) notRun.push({name: item.experiment.metadata.name, file: item.file, reason, exitCode: interrupted ? ExitCode.Aborted : ExitCode.Matched})
      continue
    }
    emit({type: 'step', index: index + 1, total: suite.steps.length, parallel: step.parallel, names: step.items.map((i) => i.experiment.metadata.name)})
    const runOne = async (item: SuiteItem) => {
      const runId = newRunId()
      try {
        const journal = await run({
          experiment: structuredClone(item.experiment), file: item.path, runId, levelOverride: item.level, signal: options.signal,
          onEvent: (event) => emit({type: 'run', item, runId, event}),
        })
        emit({type: 'done', item, journal})
        return journal
      } catch (error) {
        const {code, message} = exitCodeFor(error)
        notRun.push({name: item.experiment.metadata.name, file: item.file, reason: `could not run: ${message}`, exitCode: code})
        emit({type: 'done', item, error: message})
        return undefined
      }
    }
    // a step that is not a parallel group holds one experiment
    const results = step.parallel ? await Promise.all(step.items.map(runOne)) : [await runOne(step.items[0])]
    for (const journal of results) if (journal) journals.push(journal)
    const unexpected = results.find((j) => j && j.verdict === 'breach' && j.expect === 'contained')
    if (suite.stopOnBreach && unexpected) stoppedAfter = unexpected.experiment.name
  }

  const interrupted = options.signal?.aborted === true
  let exitCode: number = ExitCode.Matched
  for (const journal of journals) exitCode = worseExitCode(exitCode, journalExitCode(journal, failOn))
  for (const n of notRun) exitCode = worseExitCode(exitCode, n.exitCode)
  if (interrupted) exitCode = worseExitCode(exitCode, ExitCode.Aborted)
  return {
    suite: suite.name, file: suite.file, startedAt, endedAt: new Date().toISOString(), journals, notRun, interrupted,
    ...(stoppedAfter ? {stoppedAfter} : {}),
    verdict: suiteVerdict(journals, interrupted), exitCode,
  }
}

/** The suite as one word: breach if any experiment breached, else inconclusive if any was, else contained. */
function suiteVerdict(journals: Journal[], interrupted: boolean): RunVerdict {
  if (interrupted) return 'aborted'
  if (journals.some((j) => j.verdict === 'breach')) return 'breach'
  if (journals.length === 0 || journals.some((j) => j.verdict !== 'contained')) return 'inconclusive'
  return 'contained'
}

/** The suite run as the report renderers take it. */
export function suiteReport(result: SuiteRunResult, failOn: FailOn, run?: number): RunsReport {
  const stopped = result.stoppedAfter ? `; stopped after ${result.stoppedAfter} breached (stopOnBreach)` : ''
  return {
    kind: 'runs', title: `game day ${result.suite}`, journals: result.journals, notRun: result.notRun, failOn,
    subtitle: `${result.file}${run ? `, suite run ${run}` : ''}, started ${result.startedAt}: ${result.verdict.toUpperCase()}, exit code ${result.exitCode}${stopped}`,
  }
}

/** One line per experiment: what the suite run showed. */
export function suiteSummaryRows(result: SuiteRunResult, failOn: FailOn): string[][] {
  const rows = result.journals.map((j) => [
    j.experiment.name + (j.experiment.levelOverride ? ` (${j.experiment.levelOverride})` : ''), j.verdict.toUpperCase(), j.expect,
    j.injection.efficacy ? `${doseWord(j.injection.efficacy)} (${Math.round(j.injection.efficacy.ratio * 100)}%)` : 'not injected',
    String(journalExitCode(j, failOn)),
  ])
  for (const n of result.notRun) rows.push([n.name, 'NOT RUN', '-', n.reason, String(n.exitCode)])
  return rows
}
