import {writeFileSync} from 'node:fs'

import {Args, Command, Flags} from '@oclif/core'

import {exitCodeFor} from '../cli/errors.js'
import {durationFlag} from '../cli/flags.js'
import {handleInterrupts} from '../cli/interrupts.js'
import {loadExperiment} from '../experiment/load.js'
import {type Experiment, KubeSettings} from '../experiment/schema.js'
import {withPrometheusUrl} from '../metrics/prometheus/config.js'
import {PlanError} from '../platforms/platform.js'
import {writeReport, type RunsReport} from '../report/formats.js'
import {renderHtml} from '../report/html.js'
import type {Journal} from '../report/journal.js'
import {renderJunit} from '../report/junit.js'
import {renderMarkdown} from '../report/markdown.js'
import {progressPrinter} from '../report/progress.js'
import {renderVerdict} from '../report/table.js'
import {cleanup} from '../rollback/cleanup.js'
import {ExitCode} from '../run/exit-codes.js'
import {FAIL_ON, journalExitCode, worseExitCode, type FailOn} from '../run/gate.js'
import {applyOverrides, type PhaseOverrides} from '../run/design.js'
import {newRunId, runExperiment} from '../run/runner.js'

const duration = durationFlag

export default class Run extends Command {
  static override summary = 'Run experiments: baseline, inject one fault into the target, measure the neighbours, judge'
  static override description = `Exit codes: 0 the outcome matched expect; 1 it did not; 2 invalid experiment or usage (nothing started);
3 aborted or interrupted (rollback done); 4 inconclusive; 5 rollback incomplete (something was left behind).`

  static override examples = [
    '<%= config.bin %> run experiments/memory-leak.yaml',
    '<%= config.bin %> run experiments/cpu-hog.yaml --inject 20s --output journal.json',
    '<%= config.bin %> run experiments/*.yaml --dry-run',
  ]

  static override strict = false
  static override args = {file: Args.string({description: 'experiment file(s)', required: true})}

  static override flags = {
    output: Flags.string({char: 'o', description: 'write the JSON journal here (with several files: FILE is suffixed with the experiment name)'}),
    warmup: duration(0)({description: 'override phases.warmup (settling time before the baseline, not measured)'}),
    baseline: duration(1)({description: 'override phases.baseline (and run the windows design: one baseline, one fault window)'}),
    inject: duration(1)({description: 'override phases.inject (and run the windows design unless --design says otherwise)'}),
    recover: duration(0)({description: 'override phases.recover'}),
    budget: duration(5000)({description: 'override verdict.budget: the most measuring time before an undecided run says inconclusive'}),
    design: Flags.string({description: 'override verdict.design: interleaved fault-on/fault-off pairs, or one baseline and one fault window', options: ['interleaved', 'windows']}),
    level: Flags.string({description: 'run every workflow at this isolation level instead of its own: none, shared, cgroup (container: platform docker); platform kubernetes: a name of kubernetes.levels'}),
    'dry-run': Flags.boolean({description: 'print the plan and start nothing'}),
    json: Flags.boolean({description: 'print the journal as JSON on stdout (progress stays on stderr)'}),
    quiet: Flags.boolean({char: 'q', description: 'no live progress'}),
    junit: Flags.string({description: 'write a JUnit XML report here (one testsuite per experiment)'}),
    html: Flags.string({description: 'write a self-contained HTML report with charts here'}),
    markdown: Flags.string({description: 'write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)'}),
    prometheus: Flags.string({description: 'measure the neighbours with this Prometheus (PromQL), overriding the experiment\'s metrics: (see docs/prometheus.md)'}),
    'metrics-port': Flags.integer({description: 'serve the toolkit\'s own metrics on 127.0.0.1:N during the run (0: any free port, printed)', min: 0, max: 65_535}),
    pushgateway: Flags.string({description: 'push each run\'s metrics to this Pushgateway at its end (job "chaos", grouped by experiment)'}),
    context: Flags.string({description: 'platform kubernetes: use this kubeconfig context (overrides kubernetes.context and $CHAOS_KUBE_CONTEXT)'}),
    mechanism: Flags.string({description: 'platform kubernetes: how the fault enters the target pod (overrides kubernetes.mechanism)', options: ['ephemeral-container', 'helper-pod']}),
    'fail-on': Flags.string({description: 'what fails the exit code: mismatch with expect (default), any breach, or anything but contained (see docs/ci.md)', options: [...FAIL_ON], default: 'mismatch'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Run)
    for (const [name, ms, min] of [['warmup', flags.warmup, 0], ['baseline', flags.baseline, 3000], ['inject', flags.inject, 3000], ['recover', flags.recover, 0]] as const) {
      if (ms !== undefined && (ms < min || ms > 3_600_000)) {
        process.stderr.write(`--${name} ${ms / 1000}s is out of range (${min / 1000}s to 1h)\n`)
        this.exit(ExitCode.Invalid)
      }
    }
    const files = argv as string[]
    // Every file is checked before any run starts: bad input starts nothing.
    const experiments = []
    for (const file of files) {
      try {
        const experiment = await loadExperiment(file)
        applyOverrides(experiment, {...flags, design: flags.design as PhaseOverrides['design']})
        if (flags.prometheus !== undefined) {
          try {
            experiment.metrics = withPrometheusUrl(experiment.metrics, flags.prometheus)
          } catch (error) {
            throw new PlanError((error as Error).message)
          }
        }
        for (const flag of ['context', 'mechanism'] as const) {
          if (flags[flag] !== undefined && experiment.platform !== 'kubernetes') throw new PlanError(`${file}: --${flag} is for platform kubernetes; this experiment is platform ${experiment.platform}`, 2)
        }
        if (flags.mechanism !== undefined) experiment.kubernetes = {...(experiment.kubernetes ?? KubeSettings.parse({})), mechanism: flags.mechanism as 'helper-pod' | 'ephemeral-container'}
        if (flags.context !== undefined) {
          experiment.kubernetes = {...(experiment.kubernetes ?? KubeSettings.parse({})), context: flags.context}
        }
        experiments.push({file, experiment})
      } catch (error) {
        const {code, message} = exitCodeFor(error)
        process.stderr.write(`${message}\n`)
        this.exit(code)
      }
    }

    let currentRunId: string | undefined
    const interrupts = handleInterrupts('removing the fault and rolling back', () => cleanup({runId: currentRunId, sweep: false}))

    // loaded only when asked for: the CLI's start-up path stays light
    let ownMetrics: import('../metrics/own-metrics.js').OwnMetricsReporter | undefined
    if (flags['metrics-port'] !== undefined || flags.pushgateway !== undefined) {
      const {OwnMetricsReporter} = await import('../metrics/own-metrics.js')
      try {
        ownMetrics = await OwnMetricsReporter.open({port: flags['metrics-port'], pushgateway: flags.pushgateway, log: (line) => process.stderr.write(`${line}\n`)})
      } catch (error) {
        process.stderr.write(`${(error as Error).message}\n`)
        this.exit(ExitCode.Invalid)
      }
    }

    const journals: Journal[] = []
    let exitCode: number = ExitCode.Matched
    try {
      for (const {file, experiment} of experiments) {
        if (interrupts.signal.aborted) break
        currentRunId = newRunId()
        // a dry run prints its plan once, on stdout
        const progress = flags.quiet || flags['dry-run'] ? undefined : progressPrinter()
        const runMetrics = flags['dry-run'] ? undefined : ownMetrics?.begin(experiment.metadata.name)
        let journal: Journal
        try {
          journal = await runExperiment({
            experiment, file, runId: currentRunId, dryRun: flags['dry-run'], signal: interrupts.signal,
            levelOverride: flags.level,
            registry: runMetrics?.registry, metricsPort: runMetrics ? flags['metrics-port'] : undefined,
            onEvent: runMetrics ? (event) => {
              runMetrics.onEvent(event)
              progress?.(event)
            } : progress,
          })
        } catch (error) {
          const {code, message} = exitCodeFor(error)
          process.stderr.write(`${file}: ${message}\n`)
          exitCode = worseExitCode(exitCode, code)
          if (runMetrics) await ownMetrics!.end(runMetrics, {exitCode: code})
          continue
        }
        if (runMetrics) await ownMetrics!.end(runMetrics, {journal})
        journals.push(journal)
        if (flags.output) writeFileSync(experiments.length > 1 ? suffixed(flags.output, experiment.metadata.name) : flags.output, `${JSON.stringify(journal, null, 2)}\n`)
        if (flags['dry-run']) process.stdout.write(`${[...journal.plan, ...(await calibratedExpectation(experiment))].join('\n')}\nnothing was started (dry run)\n`)
        else if (!flags.json) process.stdout.write(`\n${experiment.metadata.name}\n${renderVerdict(journal)}\n`)
        // a dry run's journal only says whether the plan was accepted
        exitCode = worseExitCode(exitCode, flags['dry-run'] ? journal.exitCode : journalExitCode(journal, flags['fail-on'] as FailOn))
      }
    } finally {
      interrupts.dispose()
      await ownMetrics?.close()
    }
    if (!flags['dry-run'] && journals.length > 0) {
      const report: RunsReport = {kind: 'runs', title: journals.map((j) => j.experiment.name).join(', '), journals, failOn: flags['fail-on'] as FailOn}
      if (flags.junit) writeReport(flags.junit, renderJunit(report))
      if (flags.html) writeReport(flags.html, renderHtml(report))
      if (flags.markdown) writeReport(flags.markdown, renderMarkdown(report))
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(journals.length === 1 ? journals[0] : journals, null, 2)}\n`)
    if (exitCode !== 0) this.exit(exitCode)
  }
}

/** With a calibration of this experiment at hand (chaos calibrate), the expected time to a decision. */
async function calibratedExpectation(experiment: Experiment): Promise<string[]> {
  const {expectedDecision, readCalibration} = await import('../calibrate/store.js')
  const calibration = readCalibration(experiment.metadata.name)
  return calibration ? expectedDecision(calibration, experiment) : []
}

function suffixed(file: string, name: string): string {
  return file.endsWith('.json') ? `${file.slice(0, -5)}.${name}.json` : `${file}.${name}`
}
