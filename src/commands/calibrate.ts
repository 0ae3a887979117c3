import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Args, Command, Flags} from '@oclif/core'

import {SHIFT_DOSES, type ShiftDose} from '../calibrate/shift.js'
import {exitCodeFor} from '../cli/errors.js'
import {durationFlag} from '../cli/flags.js'
import {handleInterrupts} from '../cli/interrupts.js'
import {loadExperiment} from '../experiment/load.js'
import {parsePercent} from '../experiment/units.js'
import {progressPrinter} from '../report/progress.js'
import {cleanup} from '../rollback/cleanup.js'
import {applyOverrides} from '../run/design.js'
import {ExitCode} from '../run/exit-codes.js'

export default class Calibrate extends Command {
  static override summary = 'Measure how the verdict behaves on this machine: A/A runs with a null dose, spike-ins of a known slowdown'
  static override description = `Runs the experiment's own workflows through the real runner: --runs A/A runs with its fault at a dose too
small to matter, then --spikes runs in which each fault-on block holds a neighbour to a CPU quota (--quota cores,
process platform, a neighbour in a box of its own), then for each --shift, --shift-runs runs at the null dose in which
the neighbour's latencies in the fault-on blocks are read multiplied by (1 + shift): a change of exactly that size on
the run's own noise, to rate the verdict at the threshold and at twice it (any platform). Prints the false-breach count with its exact interval, the noise
between blocks per signal, the pairs a decision took, and the pairs and seconds the hypotheses need here; writes the
calibration as JSON (default ~/.local/state/chaos/calibration/NAME.json), which chaos run --dry-run then reads.
Exit codes: 0 calibrated; 2 invalid experiment or usage; 3 interrupted; 4 a run failed to start; 5 rollback incomplete.`

  static override examples = [
    '<%= config.bin %> calibrate experiments/memory-leak.yaml',
    '<%= config.bin %> calibrate experiments/cpu-hog.yaml --runs 10 --spikes 3 --quota 0.2 --output cpu-hog.calibration.json',
    '<%= config.bin %> calibrate experiments/memory-leak.yaml --runs 20 --spikes 0 --shift 25% --shift 50% --shift-runs 20',
    '<%= config.bin %> calibrate experiments/memory-leak.yaml --runs 1 --spikes 0 --shift 25% --shift-runs 36 --shift-dose none',
  ]

  static override args = {file: Args.string({description: 'experiment file', required: true})}

  static override flags = {
    runs: Flags.integer({description: 'A/A runs (the fault at its null dose)', default: 5, min: 1, max: 200}),
    spikes: Flags.integer({description: 'spike-in runs (a CPU quota on a neighbour during the fault-on blocks); 0 for none', default: 2, min: 0, max: 50}),
    quota: Flags.string({description: 'the spike-in\'s CPU quota on the neighbour, in cores', default: '0.1'}),
    neighbor: Flags.string({description: 'the neighbour the spike-in slows or the shift reads (default: the first with a probe; for --shift, with a latency hypothesis)'}),
    shift: Flags.string({description: 'an exact rise, e.g. 25%: runs at the null dose whose neighbour\'s fault-on latencies are read × (1 + shift); repeat for several', multiple: true}),
    'shift-runs': Flags.integer({description: 'runs per --shift', default: 5, min: 1, max: 200}),
    'shift-dose': Flags.string({description: 'what the shifted runs\' fault-on blocks start: null, the fault at its null dose (the whole runner); none, nothing, so the shift is the whole change even where the null dose itself costs something (a busy machine)', options: [...SHIFT_DOSES], default: 'null'}),
    // a count made in parts must be made alike: runs at a threshold mostly go on to the budget, so its parts need one
    budget: durationFlag(5000)({description: 'override verdict.budget for every run: the most measuring time before an undecided run says inconclusive'}),
    output: Flags.string({char: 'o', description: 'write the calibration here instead of the state directory'}),
    journals: Flags.string({description: 'also write every run\'s journal into this directory (RUNID.json)'}),
    json: Flags.boolean({description: 'print the calibration as JSON on stdout'}),
    verbose: Flags.boolean({char: 'v', description: 'live progress of every run'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Calibrate)
    const quota = Number(flags.quota)
    if (!Number.isFinite(quota)) {
      process.stderr.write(`--quota: expected a number of cores such as 0.2, got ${JSON.stringify(flags.quota)}\n`)
      return this.exit(ExitCode.Invalid)
    }
    const shifts = (flags.shift ?? []).map((text) => ({text, value: parsePercent(text)}))
    const badShift = shifts.find((s) => s.value === undefined)
    if (badShift) {
      process.stderr.write(`--shift: expected a percentage such as 25%, got ${JSON.stringify(badShift.text)}\n`)
      return this.exit(ExitCode.Invalid)
    }
    let experiment
    try {
      experiment = await loadExperiment(args.file)
      applyOverrides(experiment, {budget: flags.budget})
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      process.stderr.write(`${message}\n`)
      return this.exit(code)
    }
    // the core is loaded only for this command
    const {calibrate, renderCalibration} = await import('../calibrate/run-calibration.js')
    const {writeCalibration} = await import('../calibrate/store.js')
    let currentRunId: string | undefined
    const interrupts = handleInterrupts('removing the fault and rolling back', () => cleanup({runId: currentRunId, sweep: false}))
    let result
    try {
      result = await calibrate({
        experiment, file: args.file, runs: flags.runs, spikes: flags.spikes, quota, neighbor: flags.neighbor, signal: interrupts.signal,
        shifts: shifts.map((s) => s.value!), shiftRuns: flags['shift-runs'], shiftDose: flags['shift-dose'] as ShiftDose,
        onLine: (line) => process.stderr.write(`${line}\n`),
        onEvent: flags.verbose ? progressPrinter() : undefined,
        onRunId: (id) => {
          currentRunId = id
        },
      })
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      process.stderr.write(`${message}\n`)
      return this.exit(code)
    } finally {
      interrupts.dispose()
    }
    const {calibration, journals} = result
    const written = writeCalibration(calibration, flags.output)
    const all = [...journals.aa, ...journals.spike, ...journals.shift]
    if (flags.journals) {
      mkdirSync(flags.journals, {recursive: true})
      for (const journal of all) writeFileSync(join(flags.journals, `${journal.runId}.json`), `${JSON.stringify(journal, null, 2)}\n`)
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(calibration, null, 2)}\n`)
    else process.stdout.write(`\n${renderCalibration(calibration)}\ncalibration written to ${written}\n`)
    if (all.some((j) => !j.rollback.complete)) this.exit(ExitCode.RollbackIncomplete)
    if (interrupts.signal.aborted) this.exit(ExitCode.Aborted)
  }
}
