import {join} from 'node:path'

import {Args, Command, Flags} from '@oclif/core'

import {exitCodeFor} from '../cli/errors.js'
import {handleInterrupts} from '../cli/interrupts.js'
import {recordSuiteRun} from '../gameday/history.js'
import {runSuite, suiteReport, suiteSummaryRows, type SuiteEvent, type SuiteRunResult} from '../gameday/run-suite.js'
import {checkSchedule, runOnSchedule} from '../gameday/schedule.js'
import {loadSuite, type Suite} from '../gameday/suite.js'
import {writeReport} from '../report/formats.js'
import {renderHtml} from '../report/html.js'
import {renderJunit} from '../report/junit.js'
import {renderMarkdown} from '../report/markdown.js'
import {progressPrinter} from '../report/progress.js'
import {renderTable, renderVerdict} from '../report/table.js'
import {cleanup} from '../rollback/cleanup.js'
import type {RunEvent} from '../run/events.js'
import {ExitCode} from '../run/exit-codes.js'
import {FAIL_ON, worseExitCode, type FailOn} from '../run/gate.js'

export default class GameDay extends Command {
  static override summary = 'Run a suite of experiments (a game day), once or on a schedule, with a history of results'
  static override description = `The suite's experiments run in order; those in a "parallel: true" group run at the same time. With
stopOnBreach the suite stops after an experiment breached when it was expected to contain the fault.
--schedule "CRON" keeps running the suite (croner syntax; six fields for seconds), one run at a time, until
--max-runs runs or an interrupt; each suite run gets a directory in --history with every journal and its JUnit,
HTML and Markdown, and a line in history.jsonl. Exit code: the worst suite run's, under --fail-on (docs/ci.md).`

  static override examples = [
    '<%= config.bin %> gameday experiments/gameday.yaml --junit junit.xml --html gameday.html',
    '<%= config.bin %> gameday experiments/gameday.yaml --schedule "0 3 * * *" --history /var/lib/chaos/gameday',
  ]

  static override args = {suite: Args.string({description: 'suite file (kind: GameDay)', required: true})}

  static override flags = {
    schedule: Flags.string({description: 'run on this cron schedule (e.g. "0 3 * * *"; six fields for seconds) instead of once'}),
    'max-runs': Flags.integer({description: 'with --schedule: end after this many suite runs', min: 1}),
    history: Flags.string({description: 'directory of the history: one directory per suite run and history.jsonl (default with --schedule: chaos-gameday/SUITE)'}),
    junit: Flags.string({description: 'write the latest suite run\'s JUnit XML here'}),
    html: Flags.string({description: 'write the latest suite run\'s HTML report here'}),
    markdown: Flags.string({description: 'write the latest suite run\'s Markdown summary here'}),
    'fail-on': Flags.string({description: 'what fails the exit code (docs/ci.md)', options: [...FAIL_ON], default: 'mismatch'}),
    'dry-run': Flags.boolean({description: 'check the suite and print its steps (and the next scheduled times); start nothing'}),
    quiet: Flags.boolean({char: 'q', description: 'no live progress'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(GameDay)
    const refuse = (message: string, code: number = ExitCode.Invalid): never => {
      process.stderr.write(`${message}\n`)
      return this.exit(code)
    }
    if (flags['max-runs'] !== undefined && !flags.schedule) return refuse('--max-runs needs --schedule')
    let suite: Suite
    try {
      suite = await loadSuite(args.suite)
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      return refuse(message, code)
    }
    let firstRun: Date | null = null
    if (flags.schedule) {
      try {
        firstRun = checkSchedule(flags.schedule)
      } catch (error) {
        return refuse((error as Error).message)
      }
    }
    const failOn = flags['fail-on'] as FailOn
    const steps = suite.steps.map((step, i) => `  ${i + 1}. ${step.parallel ? 'in parallel: ' : ''}${step.items.map((item) => `${item.experiment.metadata.name} (${item.path}${item.level ? `, level ${item.level}` : ''})`).join(', ')}`)
    const plan = [`game day ${suite.name}: ${suite.steps.length} step(s)${suite.stopOnBreach ? ', stopOnBreach' : ''}`, ...steps]
    if (flags.schedule) plan.push(`schedule "${flags.schedule}", first run ${firstRun?.toISOString() ?? 'never'}${flags['max-runs'] ? `, ${flags['max-runs']} run(s)` : ', until interrupted'}`)
    if (flags['dry-run']) {
      process.stdout.write(`${plan.join('\n')}\nnothing was started (dry run)\n`)
      return
    }
    process.stderr.write(`${plan.join('\n')}\n`)
    const historyDir = flags.history ?? (flags.schedule ? join('chaos-gameday', suite.name) : undefined)

    const running = new Set<string>()
    const interrupts = handleInterrupts('removing any fault, rolling back, and ending the game day', () => Promise.all([...running].map((runId) => cleanup({runId, sweep: false}))))
    let worst: number = ExitCode.Matched
    const runOnce = async (n: number) => {
      process.stderr.write(`\n=== game day ${suite.name}, suite run ${n} (${new Date().toISOString()})\n`)
      const result = await runSuite({suite, failOn, signal: interrupts.signal, onEvent: this.printer(flags.quiet, running)})
      worst = worseExitCode(worst, result.exitCode)
      this.report(result, failOn, n, flags, historyDir)
    }

    try {
      if (flags.schedule) {
        await runOnSchedule({
          pattern: flags.schedule, maxRuns: flags['max-runs'], signal: interrupts.signal, task: runOnce,
          onWaiting: (next) => process.stderr.write(`next suite run: ${next ? next.toISOString() : 'none scheduled'}\n`),
          onSkipped: () => process.stderr.write('a scheduled run was skipped: the previous one is still going\n'),
        })
      } else {
        await runOnce(1)
      }
    } finally {
      interrupts.dispose()
    }
    if (worst !== 0) this.exit(worst)
  }

  /** Progress: the live printer for one experiment at a time; prefixed lines (no live ticks) for parallel groups. */
  private printer(quiet: boolean, running: Set<string>): (event: SuiteEvent) => void {
    const printers = new Map<string, (event: RunEvent) => void>()
    let parallel = false
    return (event) => {
      if (event.type === 'step') {
        parallel = event.parallel
        process.stderr.write(`\n== step ${event.index}/${event.total}${event.parallel ? ' (parallel)' : ''}: ${event.names.join(', ')}\n`)
      } else if (event.type === 'run') {
        running.add(event.runId)
        if (quiet) return
        if (!parallel) {
          if (!printers.has(event.runId)) printers.set(event.runId, progressPrinter())
          printers.get(event.runId)!(event.event)
        } else if (event.event.type === 'phase' || event.event.type === 'log') {
          const text = event.event.type === 'phase' ? `== ${event.event.phase}` : event.event.line
          process.stderr.write(`[${event.item.experiment.metadata.name}] ${text}\n`)
        }
      } else if (event.type === 'done') {
        const name = event.item.experiment.metadata.name
        if (event.journal) {
          running.delete(event.journal.runId)
          process.stdout.write(`\n${name}\n${renderVerdict(event.journal)}\n`)
        } else {
          process.stderr.write(`${name}: ${event.error}\n`)
        }
      }
    }
  }

  private report(result: SuiteRunResult, failOn: FailOn, n: number, flags: {junit?: string, html?: string, markdown?: string}, historyDir?: string): void {
    const report = suiteReport(result, failOn, n)
    const rendered = {junit: renderJunit(report), html: renderHtml(report), markdown: renderMarkdown(report)}
    if (flags.junit) writeReport(flags.junit, rendered.junit)
    if (flags.html) writeReport(flags.html, rendered.html)
    if (flags.markdown) writeReport(flags.markdown, rendered.markdown)
    let where = ''
    if (historyDir) {
      const line = recordSuiteRun(historyDir, result, failOn, rendered)
      where = `\nhistory: ${join(historyDir, line.dir)} (history.jsonl run ${line.run})`
    }
    const table = renderTable(['experiment', 'verdict', 'expected', 'dose', 'exit'], suiteSummaryRows(result, failOn))
    const stopped = result.stoppedAfter ? `\nstopped after ${result.stoppedAfter} breached (stopOnBreach)` : ''
    process.stdout.write(`\ngame day ${result.suite}, suite run ${n}: ${result.verdict.toUpperCase()}\n${table}${stopped}${where}\nexit code ${result.exitCode} (--fail-on ${failOn})\n`)
  }
}
