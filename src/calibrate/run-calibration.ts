// chaos calibrate: the experiment's own workflows through the real runner, first with its fault at a dose too
// small to matter (A/A: what the verdict says when nothing should change), then with a known slowdown applied to
// a neighbour itself (spike-in: what the run sees of a change that is there). Runs without oclif.
import {cpus, hostname, loadavg} from 'node:os'

import type {Experiment} from '../experiment/schema.js'
import {formatBytes} from '../experiment/units.js'
import {driverFor} from '../faults/index.js'
import {describeForkDose} from '../faults/process-exhaustion.js'
import type {Journal} from '../report/journal.js'
import {planDesign, SETTLES_PER_PAIR} from '../run/design.js'
import type {RunEvent} from '../run/events.js'
import {newRunId, runExperiment} from '../run/runner.js'
import {formatPercent} from '../verdict/format.js'
import {hypothesesFor} from '../metrics/source.js'
import {expectDecision, ratedShift, shiftRelation, spikeRun, summariseAa, summariseShift, type ShiftSummary} from './report.js'
import {nothingInjected, planShift, shiftFactor, shiftReading, type ShiftDose} from './shift.js'
import {planSpike, spikeInjector} from './spike.js'
import {type Calibration, describeNeed} from './store.js'

export interface CalibrateOptions {
  experiment: Experiment
  file?: string
  /** A/A runs */
  runs: number
  /** spike-in runs (0: none) */
  spikes: number
  /** the spike-in's CPU quota on the neighbour, in cores */
  quota: number
  /** the neighbour to slow (default: the first with a probe; for a shift, the first with a latency hypothesis) */
  neighbor?: string
  /** exact shifts of the neighbour's fault-on latencies (+0.25 for ×1.25), each run shiftRuns times at the null dose */
  shifts?: number[]
  shiftRuns?: number
  /** what the shifted runs' fault-on blocks start: the fault's null dose (default), or nothing */
  shiftDose?: ShiftDose
  signal?: AbortSignal
  /** one line per finished run */
  onLine?: (line: string) => void
  /** each run's events, and its id before it starts (for Ctrl-C clean-up) */
  onEvent?: (event: RunEvent) => void
  onRunId?: (runId: string) => void
}

export interface CalibrationResult {
  calibration: Calibration
  journals: {aa: Journal[], spike: Journal[], shift: Journal[]}
}

export async function calibrate(options: CalibrateOptions): Promise<CalibrationResult> {
  const {experiment} = options
  const line = options.onLine ?? (() => undefined)
  // everything refusable is refused before the first run starts
  const spike = options.spikes > 0 ? planSpike(experiment, options.quota, options.neighbor) : undefined
  const shiftRuns = options.shiftRuns ?? 0
  const shiftDose = options.shiftDose ?? 'null'
  const shift = options.shifts?.length && shiftRuns > 0 ? planShift(experiment, options.shifts, options.neighbor) : undefined
  const nullDose = driverFor(experiment.fault).nullDose(experiment.fault)
  const aaExperiment: Experiment = {...experiment, fault: nullDose}
  const design = planDesign(experiment, 'calibration')

  const run = async (label: string, what: Omit<Parameters<typeof runExperiment>[0], 'runId'>) => {
    const runId = newRunId()
    options.onRunId?.(runId)
    const journal = await runExperiment({...what, runId, file: options.file, signal: options.signal, onEvent: options.onEvent})
    line(`${label} ${runId}: ${journal.verdict} (${journal.design?.stoppedBecause ?? journal.reason})${journal.injection.efficacy && !journal.injection.efficacy.landed ? `; dose did not land: ${journal.injection.efficacy.note}` : ''}`)
    return journal
  }

  const aa: Journal[] = []
  for (let i = 0; i < options.runs && !options.signal?.aborted; i++) aa.push(await run(`A/A ${i + 1}/${options.runs}`, {experiment: aaExperiment}))
  const spikes: Journal[] = []
  if (spike) {
    const injector = spikeInjector(spike)
    for (let i = 0; i < options.spikes && !options.signal?.aborted; i++) spikes.push(await run(`spike-in ${i + 1}/${options.spikes}`, {experiment, injector}))
  }
  const shifted: Journal[] = []
  const shiftSummaries: ShiftSummary[] = []
  for (const by of shift?.shifts ?? []) {
    const reading = shiftReading(shift!.neighbor, by, shiftDose)
    const injector = shiftDose === 'none' ? nothingInjected : undefined
    const these: Journal[] = []
    for (let i = 0; i < shiftRuns && !options.signal?.aborted; i++) these.push(await run(`shift ${formatPercent(by, true)} ${i + 1}/${shiftRuns}`, {experiment: aaExperiment, reading, injector}))
    shifted.push(...these)
    shiftSummaries.push(summariseShift(these, shift!.neighbor, by, hypothesesFor(shift!.neighbor, experiment.hypothesis), shiftDose))
  }

  const summary = summariseAa(aa)
  const calibration: Calibration = {
    schemaVersion: 1,
    experiment: {name: experiment.metadata.name, file: options.file},
    createdAt: new Date().toISOString(),
    machine: {hostname: hostname(), cpus: cpus().length, loadAverage: loadavg().map((l) => Math.round(l * 100) / 100)},
    design: {blockMs: design.blockMs, settleMs: design.settleMs, settlesPerPair: SETTLES_PER_PAIR, budgetMs: design.budgetMs, alpha: design.alpha, spending: design.spending, looks: design.looks},
    nullDose,
    aa: {...summary, runIds: aa.map((j) => j.runId)},
    needs: summary.secondsPerPair === null ? {} : expectDecision(summary.noise, design.looks, summary.secondsPerPair),
    spike: spike ? {neighbor: spike.neighbor, quota: spike.cores, breaches: spikes.filter((j) => j.verdict === 'breach').length, runs: spikes.map((j) => spikeRun(j, spike.neighbor))} : null,
    ...(shift ? {shift: shiftSummaries} : {}),
  }
  return {calibration, journals: {aa, spike: spikes, shift: shifted}}
}

/** The calibration as a person reads it. */
export function renderCalibration(c: Calibration): string {
  const out: string[] = []
  const aa = c.aa
  out.push(`calibration of ${c.experiment.name} on ${c.machine.hostname} (${c.machine.cpus} CPUs, load ${c.machine.loadAverage.join(' ')})`)
  out.push(`null dose: ${describeDose(c.nullDose)}`)
  out.push(`A/A runs: ${aa.runs}: ${aa.verdicts.contained} contained, ${aa.verdicts.breach} breach, ${aa.verdicts.inconclusive} inconclusive${aa.verdicts.aborted ? `, ${aa.verdicts.aborted} aborted` : ''}`)
  if (aa.doseNotLanded.count > 0) out.push(`  the null dose did not land in ${aa.doseNotLanded.count} of them (so those are inconclusive by design): ${[...new Set(aa.doseNotLanded.notes)].join('; ')}`)
  const fb = aa.falseBreach
  out.push(`false breaches: ${fb.count} of ${fb.of} (95% CI ${formatPercent(fb.interval.low)} … ${formatPercent(fb.interval.high)}, Clopper-Pearson)`)
  out.push(`pairs to a decision: ${aa.decisionPairs.median === null ? 'no A/A run was decided' : `median ${aa.decisionPairs.median} (${aa.decisionPairs.values.join(', ')})`}`)
  if (aa.secondsPerPair !== null) out.push(`one pair took ${aa.secondsPerPair.toFixed(1)} s here (two blocks of ${c.design.blockMs / 1000} s, ${(c.design.settlesPerPair ?? 1) === 1 ? 'a settle' : `${c.design.settlesPerPair} settles`} of ${c.design.settleMs / 1000} s, starting and stopping the stressors)`)
  if (aa.noise.length > 0) {
    out.push('noise between blocks (sd of one pair on the scale the signal is judged on; margin = distance from no change to the threshold):')
    const width = Math.max(...aa.noise.map((n) => `${n.neighbor} ${n.signal}`.length))
    for (const n of aa.noise) out.push(`  ${`${n.neighbor} ${n.signal}`.padEnd(width)}  sd ${n.sd.toFixed(3)}  margin ${n.margin.toFixed(3)}  sd/margin ${(n.sd / n.margin).toFixed(2)}  (${n.runs} run${n.runs === 1 ? '' : 's'})`)
  }
  for (const cov of aa.coverage) out.push(`coverage: ${cov.neighbor} ${cov.signal}: the final interval held no change in ${cov.covered} of ${cov.of} A/A runs (levels ${[...new Set(cov.levels.map((l) => formatPercent(l)))].join(', ')})`)
  out.push(`needs: ${aa.secondsPerPair === null ? 'unknown: no A/A run measured a pair' : describeNeed(c.needs, c.design.budgetMs)}`)
  if (c.spike) {
    out.push(`spike-in: neighbour ${c.spike.neighbor} held to ${c.spike.quota} CPU (asked quota) in each fault-on block; ${c.spike.breaches} of ${c.spike.runs.length} runs breached`)
    for (const r of c.spike.runs) {
      const signals = r.signals.map((s) => `${s.signal} ${s.change === null ? '-' : formatPercent(s.change, true)}${s.interval ? ` [${formatPercent(s.interval.level)} CI ${formatPercent(s.interval.low, true)} … ${formatPercent(s.interval.high, true)}]` : ''} ${s.verdict}`)
      out.push(`  run ${r.runId}: ${r.verdict}; realised at quota ${c.spike.quota} CPU: ${signals.join('; ') || 'no signals judged'}`)
    }
  }
  for (const s of c.shift ?? []) out.push(...renderShift(s))
  return out.join('\n')
}

function renderShift(s: ShiftSummary): string[] {
  const ci = (i: {low: number, high: number}) => `95% CI ${formatPercent(i.low)} … ${formatPercent(i.high)}`
  const out = [`shift ${formatPercent(s.shift, true)} (neighbour ${s.neighbor}'s fault-on latencies read ${shiftFactor(s.shift)}, exact, ${s.dose === 'none' ? 'nothing injected' : 'at the null dose'}): ${s.runs} runs: ${s.verdicts.contained} contained, ${s.verdicts.breach} breach, ${s.verdicts.inconclusive} inconclusive`]
  for (const g of s.signals) {
    const counts = `${g.verdicts.breach} breach, ${g.verdicts.contained} contained, ${g.verdicts.inconclusive} inconclusive of ${g.of}`
    if (g.threshold === null || !(g.threshold > 0)) {
      out.push(`  ${g.signal} (no relative bound): ${counts}`)
      continue
    }
    // rated at the change the runs really saw when the null dose's own effect moved it off the shift asked
    const at = ratedShift(s.shift, g.realised ?? null, g.threshold)
    const relation = shiftRelation(at, g.threshold)
    const rated = [
      ...relation.wrong.map((v) => `${v} (wrong) ${g.verdicts[v]}/${g.of}, ${ci(g[v])}`),
      ...(relation.power ? [`power ${g.verdicts.breach}/${g.of}, ${ci(g.breach)}`] : []),
    ]
    const realised = g.realised ? `; realised ${formatPercent(g.realised.change, true)} (${ci(g.realised)}, ${g.realised.pairs} pairs of ${g.realised.runs} runs)${at === s.shift ? '' : ', off the shift asked: rated there'}` : ''
    out.push(`  ${g.signal} (max_increase ${formatPercent(g.threshold)}: ${relation.at}): ${counts}; ${rated.join('; ')}${realised}`)
  }
  return out
}

function describeDose(fault: Calibration['nullDose']): string {
  switch (fault.type) {
    case 'cpu-hog': return `cpu-hog ${fault.cores} cores in ${fault.workers} worker`
    case 'memory-leak': return `memory-leak ${formatBytes(fault.rate)}/s up to ${'bytes' in fault.limit ? formatBytes(fault.limit.bytes) : formatPercent(fault.limit.fraction)}`
    case 'disk-fill': return `disk-fill ${'bytes' in fault.size ? formatBytes(fault.size.bytes) : formatPercent(fault.size.fraction)}`
    case 'network-flood': return `network-flood ${fault.rate === undefined ? 'unbounded' : `${Math.round(fault.rate / 1000)} kbit/s`} over ${fault.connections} connection(s)`
    case 'process-exhaustion': return `process-exhaustion ${describeForkDose(fault)}`
    case 'io-saturation': return `io-saturation ${formatBytes(fault.blockSize)} writes, ${fault.depth} in flight, over ${formatBytes(fault.size)}${fault.rate === undefined ? '' : ` at ${formatBytes(fault.rate)}/s`}`
  }
}
