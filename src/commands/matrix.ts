import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'

import {Args, Command, Flags} from '@oclif/core'

import {exitCodeFor} from '../cli/errors.js'
import {durationFlag} from '../cli/flags.js'
import {handleInterrupts} from '../cli/interrupts.js'
import {loadExperiment} from '../experiment/load.js'
import {interleavedOrder, parseLevels} from '../matrix/order.js'
import {defaultExpectations, matrixPlan, runMatrix, type MatrixEvent} from '../matrix/run-matrix.js'
import {renderMatrix} from '../matrix/table.js'
import {KNOWN_LEVELS, LEVELS, type Level} from '../matrix/types.js'
import {SEPARATE_HOSTS} from '../platforms/host/levels.js'
import {doseWord, writeReport, type MatrixReport} from '../report/formats.js'
import {renderHtml} from '../report/html.js'
import {renderJunit} from '../report/junit.js'
import {renderMarkdown} from '../report/markdown.js'
import {progressPrinter} from '../report/progress.js'
import {cleanup} from '../rollback/cleanup.js'
import {applyOverrides} from '../run/design.js'
import {ExitCode} from '../run/exit-codes.js'
import {FAIL_ON, type FailOn} from '../run/gate.js'
import {runExperiment} from '../run/runner.js'

const duration = durationFlag

export default class Matrix extends Command {
  static override summary = 'Run one experiment at several isolation levels, repeated in a shuffled interleaved order, and compare them'
  static override description = `Each (level, repeat) is one run of the experiment with every workflow at that level. The order is shuffled
in rounds (seeded: --seed replays it) so drift over time cannot favour a level. A level is BREACH when a strict
majority of its repeats breached, CONTAINED when a strict majority were contained, else INCONCLUSIVE.
Under --fail-on mismatch (default) the experiment's own target level must show its expect; other levels inform
(--expect none=breach,cgroup=contained sets them). Exit codes as for run (docs/ci.md).`

  static override examples = [
    '<%= config.bin %> matrix experiments/cpu-hog.yaml --levels none,shared,cgroup',
    '<%= config.bin %> matrix experiments/memory-leak.yaml --levels none,cgroup --repeat 5 --seed 42 --html matrix.html',
  ]

  static override args = {file: Args.string({description: 'experiment file', required: true})}

  static override flags = {
    levels: Flags.string({description: `comma-separated isolation levels to compare (container: platform docker; separate-hosts: platform host, the target alone on a spare host; platform kubernetes: kubernetes.level and the names of kubernetes.levels) [default: ${LEVELS.join(',')}; kubernetes: all its levels]`}),
    repeat: Flags.integer({description: 'runs per level', default: 3, min: 1, max: 50}),
    seed: Flags.string({description: 'seed of the run order (default: random, printed)'}),
    expect: Flags.string({description: 'what each level should show, e.g. none=breach,cgroup=contained (default: the experiment\'s own level expects its expect)'}),
    warmup: duration(0)({description: 'override phases.warmup (settling time before measuring; 0s allowed)'}),
    baseline: duration(1)({description: 'override phases.baseline'}),
    inject: duration(1)({description: 'override phases.inject'}),
    recover: duration(0)({description: 'override phases.recover (0s allowed)'}),
    output: Flags.string({char: 'o', description: 'write the matrix result (with every journal) as JSON here'}),
    json: Flags.boolean({description: 'print the matrix result as JSON on stdout (progress stays on stderr)'}),
    junit: Flags.string({description: 'write a JUnit XML report here (one testsuite per level)'}),
    html: Flags.string({description: 'write a self-contained HTML report here'}),
    markdown: Flags.string({description: 'write a Markdown summary here'}),
    'fail-on': Flags.string({description: 'what fails the exit code (docs/ci.md)', options: [...FAIL_ON], default: 'mismatch'}),
    'dry-run': Flags.boolean({description: 'print the plan and the order; start nothing'}),
    quiet: Flags.boolean({char: 'q', description: 'no live progress'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Matrix)
    const refuse = (message: string, code: number = ExitCode.Invalid): never => {
      process.stderr.write(`${message}\n`)
      return this.exit(code)
    }
    let experiment
    try {
      experiment = await loadExperiment(args.file)
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      return refuse(message, code)
    }
    // platform kubernetes names its levels (the experiment's own pods, and kubernetes.levels)
    const kubeLevels = experiment.platform === 'kubernetes' ? [experiment.kubernetes?.level ?? 'stated', ...Object.keys(experiment.kubernetes?.levels ?? {})] : undefined
    // platform host adds the VM boundary: the target alone on a spare host
    const known = kubeLevels ?? (experiment.platform === 'host' ? [...KNOWN_LEVELS, SEPARATE_HOSTS] : KNOWN_LEVELS)
    const parsedLevels = parseLevels(flags.levels ?? (kubeLevels ?? LEVELS).join(','), known)
    if ('error' in parsedLevels) return refuse(parsedLevels.error)
    const {levels} = parsedLevels
    const parsedExpect = flags.expect === undefined ? undefined : parseExpectations(flags.expect, levels)
    if (parsedExpect && 'error' in parsedExpect) return refuse(parsedExpect.error)
    const expectations = parsedExpect?.expectations
    applyOverrides(experiment, {warmup: flags.warmup, baseline: flags.baseline || undefined, inject: flags.inject || undefined, recover: flags.recover})
    const failOn = flags['fail-on'] as FailOn
    const seed = flags.seed ?? randomBytes(4).toString('hex')

    let currentRunId: string | undefined
    const printRun = flags.quiet ? undefined : progressPrinter()
    const onEvent = (event: MatrixEvent) => {
      if (event.type === 'plan') process.stderr.write(`${event.lines.join('\n')}\n`)
      else if (event.type === 'run-start') {
        currentRunId = event.runId
        process.stderr.write(`\n== [${event.index}/${event.total}] ${event.slot.level}, repeat ${event.slot.repetition} (run ${event.runId})\n`)
      } else if (event.type === 'run') printRun?.(event.event)
      else if (event.type === 'run-end') {
        const r = event.run
        process.stderr.write(`   ${r.level}#${r.repetition}: ${r.journal ? `${r.journal.verdict.toUpperCase()}, dose ${r.journal.injection.efficacy ? doseWord(r.journal.injection.efficacy) : 'not injected'}` : `not run: ${r.error?.message}`}\n`)
      }
    }

    if (flags['dry-run']) {
      // the plan of the whole matrix, and each level's own plan: a level this machine cannot make is refused now
      const options = {experiment, file: args.file, levels, repeat: flags.repeat, seed, failOn}
      process.stdout.write(`${matrixPlan(options, interleavedOrder(levels, flags.repeat, seed), expectations ?? defaultExpectations(experiment, levels)).join('\n')}\n`)
      let code: number = ExitCode.Matched
      for (const level of levels) {
        try {
          const journal = await runExperiment({experiment: structuredClone(experiment), file: args.file, dryRun: true, levelOverride: level})
          process.stdout.write(`\n[${level}]\n${journal.plan.join('\n')}\n`)
        } catch (error) {
          const refused = exitCodeFor(error)
          process.stdout.write(`\n[${level}] ${refused.message}\n`)
          code = Math.max(code, refused.code)
        }
      }
      process.stdout.write('nothing was started (dry run)\n')
      if (code !== 0) this.exit(code)
      return
    }

    const interrupts = handleInterrupts('removing the fault, rolling back, and starting no more runs', () => cleanup({runId: currentRunId, sweep: false}))
    let result
    try {
      result = await runMatrix({experiment, file: args.file, levels, repeat: flags.repeat, seed, failOn, expectations, signal: interrupts.signal, onEvent})
    } finally {
      interrupts.dispose()
    }

    const report: MatrixReport = {kind: 'matrix', matrix: result}
    if (flags.output) writeFileSync(flags.output, `${JSON.stringify(result, null, 2)}\n`)
    if (flags.junit) writeReport(flags.junit, renderJunit(report))
    if (flags.html) writeReport(flags.html, renderHtml(report))
    if (flags.markdown) writeReport(flags.markdown, renderMarkdown(report))
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    else process.stdout.write(`\n${experiment.metadata.name}: isolation matrix\n${renderMatrix(result)}\n`)
    if (result.exitCode !== 0) this.exit(result.exitCode)
  }
}

function parseExpectations(text: string, levels: Level[]): {expectations: Partial<Record<Level, 'contained' | 'breach'>>} | {error: string} {
  const expectations: Partial<Record<Level, 'contained' | 'breach'>> = {}
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [level, verdict] = part.split('=').map((s) => s.trim())
    if (!levels.includes(level as Level)) return {error: `--expect: ${JSON.stringify(level)} is not one of the levels run (${levels.join(', ')})`}
    if (verdict !== 'contained' && verdict !== 'breach') return {error: `--expect: expected LEVEL=contained or LEVEL=breach, got ${JSON.stringify(part)}`}
    expectations[level as Level] = verdict
  }
  return {expectations}
}
