// The toolkit's own metrics, named the Prometheus way: what phase a run is in, whether its fault is active, the
// dose asked and achieved, each signal's values, change and verdict, and runs by result. Served on
// `chaos run --metrics-port N` (127.0.0.1) while runs go on, and pushed to a Pushgateway at the end of each run
// with `--pushgateway URL`. One registry per run, so a push holds only that experiment's series.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {Counter, Gauge, Registry} from 'prom-client'

import type {Journal} from '../report/journal.js'
import type {Phase, RunEvent} from '../run/events.js'
import type {SignalVerdict} from '../verdict/types.js'
import {pushToGateway} from './pushgateway.js'

const PHASES: ReadonlyArray<Phase | 'done'> = ['setup', 'warmup', 'baseline', 'inject', 'recover', 'rollback', 'judge', 'done']
const VERDICTS = ['contained', 'breach', 'inconclusive'] as const

/** The efficacy units of the faults, as metric-name suffixes (base units, Prometheus style). */
const DOSE_UNITS: Record<string, string> = {'bytes': 'bytes', 'cpu-seconds': 'cpu_seconds', 'bits/s': 'bits_per_second'}

/** One run's metrics. */
export class RunMetrics {
  readonly registry = new Registry()
  private readonly phase: Gauge<'experiment' | 'phase'>
  private readonly phaseStarted: Gauge<'experiment' | 'phase'>
  private readonly faultActive: Gauge<'experiment'>
  private readonly doseRatio: Gauge<'experiment'>
  private readonly doseLanded: Gauge<'experiment'>
  private readonly signalValue: Gauge<'experiment' | 'neighbor' | 'signal' | 'phase'>
  private readonly signalChange: Gauge<'experiment' | 'neighbor' | 'signal'>
  private readonly signalVerdict: Gauge<'experiment' | 'neighbor' | 'signal' | 'verdict'>
  private readonly runs: Counter<'experiment' | 'result'>
  private readonly exitCode: Gauge<'experiment'>
  private readonly duration: Gauge<'experiment'>
  private readonly lastRun: Gauge<'experiment'>
  private readonly labels: {experiment: string}

  constructor(readonly experiment: string) {
    const registers = [this.registry]
    this.labels = {experiment}
    this.phase = new Gauge({name: 'chaos_phase', help: 'The phase the run is in: 1 for the current one, 0 for the others', labelNames: ['experiment', 'phase'], registers})
    this.phaseStarted = new Gauge({name: 'chaos_phase_start_timestamp_seconds', help: 'When each phase of the run began', labelNames: ['experiment', 'phase'], registers})
    this.faultActive = new Gauge({name: 'chaos_fault_active', help: 'Whether the fault is being injected (1) or not (0)', labelNames: ['experiment'], registers})
    this.doseRatio = new Gauge({name: 'chaos_dose_ratio', help: 'Dose achieved in the target over dose asked', labelNames: ['experiment'], registers})
    this.doseLanded = new Gauge({name: 'chaos_dose_landed', help: 'Whether the dose was proven to land (1) or not (0)', labelNames: ['experiment'], registers})
    this.signalValue = new Gauge({name: 'chaos_signal_value', help: 'A neighbour signal\'s statistic over a phase, in the signal\'s unit (seconds, ratio, bytes, per second, count)', labelNames: ['experiment', 'neighbor', 'signal', 'phase'], registers})
    this.signalChange = new Gauge({name: 'chaos_signal_change_ratio', help: 'A neighbour signal\'s relative change, fault over baseline minus 1', labelNames: ['experiment', 'neighbor', 'signal'], registers})
    this.signalVerdict = new Gauge({name: 'chaos_signal_verdict', help: 'A neighbour signal\'s verdict: 1 for the verdict it got, 0 for the others', labelNames: ['experiment', 'neighbor', 'signal', 'verdict'], registers})
    this.runs = new Counter({name: 'chaos_runs_total', help: 'Runs by result (contained, breach, inconclusive, aborted, error)', labelNames: ['experiment', 'result'], registers})
    this.exitCode = new Gauge({name: 'chaos_run_exit_code', help: 'Exit code of the last run', labelNames: ['experiment'], registers})
    this.duration = new Gauge({name: 'chaos_run_duration_seconds', help: 'How long the last run took, setup to rollback', labelNames: ['experiment'], registers})
    this.lastRun = new Gauge({name: 'chaos_last_run_timestamp_seconds', help: 'When the last run ended', labelNames: ['experiment'], registers})
    this.faultActive.set(this.labels, 0)
  }

  /** Follows a run as it goes (pass it as the runner's onEvent). */
  readonly onEvent = (event: RunEvent): void => {
    if (event.type !== 'phase') return
    this.enter(event.phase)
    // the fault is injected for the whole inject phase and removed before the next phase begins
    this.faultActive.set(this.labels, event.phase === 'inject' ? 1 : 0)
  }

  /** The run's outcome, from its journal. */
  recordJournal(journal: Journal): void {
    this.enter('done')
    this.faultActive.set(this.labels, 0)
    const efficacy = journal.injection.efficacy
    if (efficacy) {
      const unit = DOSE_UNITS[efficacy.unit] ?? efficacy.unit.replace(/[^a-zA-Z0-9_]/g, '_')
      this.doseGauge(`chaos_dose_asked_${unit}`, 'Dose asked of the fault').set(this.labels, efficacy.asked)
      this.doseGauge(`chaos_dose_achieved_${unit}`, 'Dose measured in the target').set(this.labels, efficacy.achieved)
      this.doseRatio.set(this.labels, efficacy.ratio)
      this.doseLanded.set(this.labels, efficacy.landed ? 1 : 0)
    }
    for (const neighbor of journal.neighbors) {
      for (const s of worstPerSignal(neighbor.signals)) {
        const labels = {...this.labels, neighbor: neighbor.name, signal: s.signal}
        if (s.baseline !== null) this.signalValue.set({...labels, phase: 'baseline'}, s.baseline)
        if (s.fault !== null) this.signalValue.set({...labels, phase: 'inject'}, s.fault)
        if (s.change !== null) this.signalChange.set(labels, s.change)
        for (const verdict of VERDICTS) this.signalVerdict.set({...labels, verdict}, s.verdict === verdict ? 1 : 0)
      }
    }
    this.runs.inc({...this.labels, result: journal.verdict})
    this.exitCode.set(this.labels, journal.exitCode)
    this.duration.set(this.labels, (Date.parse(journal.endedAt) - Date.parse(journal.startedAt)) / 1000)
    this.lastRun.set(this.labels, Date.parse(journal.endedAt) / 1000)
  }

  /** A run that was refused or failed before it had a journal. */
  recordError(exitCode: number): void {
    this.enter('done')
    this.faultActive.set(this.labels, 0)
    this.runs.inc({...this.labels, result: 'error'})
    this.exitCode.set(this.labels, exitCode)
    this.lastRun.set(this.labels, Date.now() / 1000)
  }

  private enter(phase: Phase | 'done'): void {
    for (const p of PHASES) this.phase.set({...this.labels, phase: p}, p === phase ? 1 : 0)
    this.phaseStarted.set({...this.labels, phase}, Date.now() / 1000)
  }

  private doseGauge(name: string, help: string): Gauge<'experiment'> {
    return (this.registry.getSingleMetric(name) as Gauge<'experiment'> | undefined)
      ?? new Gauge({name, help, labelNames: ['experiment'], registers: [this.registry]})
  }
}

const SEVERITY = {breach: 0, inconclusive: 1, contained: 2}

/**
 * One verdict per neighbour and signal, as the labels allow: a signal judged by two entries (a built-in one and a
 * promql one, say) reports its worst, as the experiment's verdict does.
 */
function worstPerSignal(signals: SignalVerdict[]): SignalVerdict[] {
  const worst = new Map<string, SignalVerdict>()
  for (const s of signals) {
    const seen = worst.get(s.signal)
    if (!seen || SEVERITY[s.verdict] < SEVERITY[seen.verdict]) worst.set(s.signal, s)
  }
  return [...worst.values()]
}

export interface OwnMetricsOptions {
  /** serve on 127.0.0.1:port (0: a free port) */
  port?: number
  pushgateway?: string
  /** where warnings and the served URL go */
  log: (line: string) => void
}

/** Serves the current run's metrics and pushes each finished run; what `chaos run` uses. */
export class OwnMetricsReporter {
  private current: RunMetrics | undefined
  private server: http.Server | undefined
  url: string | undefined

  private constructor(private readonly options: OwnMetricsOptions) {}

  static async open(options: OwnMetricsOptions): Promise<OwnMetricsReporter> {
    const reporter = new OwnMetricsReporter(options)
    if (options.port !== undefined) await reporter.listen(options.port)
    return reporter
  }

  begin(experiment: string): RunMetrics {
    this.current = new RunMetrics(experiment)
    return this.current
  }

  /** Records the outcome and pushes it; a push that fails is reported, and changes no verdict. */
  async end(run: RunMetrics, outcome: {journal: Journal} | {exitCode: number}): Promise<void> {
    if ('journal' in outcome) run.recordJournal(outcome.journal)
    else run.recordError(outcome.exitCode)
    if (this.options.pushgateway === undefined) return
    try {
      await pushToGateway(this.options.pushgateway, run.registry, {experiment: run.experiment})
    } catch (error) {
      this.options.log(`pushing the metrics of ${run.experiment} to the Pushgateway failed: ${(error as Error).message}`)
    }
  }

  async close(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private async listen(port: number): Promise<void> {
    const served = await serveRegistry(port, () => this.current?.registry ?? new Registry())
    this.server = served.server
    this.url = `http://127.0.0.1:${(served.server.address() as AddressInfo).port}/metrics`
    this.options.log(`serving the run's metrics on ${this.url}`)
  }
}

/** Serves a registry (or the one current at each request) on 127.0.0.1:PORT/metrics until close(). */
export async function serveRegistry(port: number, registryOf: Registry | (() => Registry)): Promise<{server: http.Server, close(): Promise<void>}> {
  const server = http.createServer((request, response) => {
    if ((request.url ?? '/').split('?')[0] !== '/metrics') {
      response.writeHead(404, {'content-type': 'text/plain'}).end('not found; the metrics are on /metrics\n')
      return
    }
    const registry = typeof registryOf === 'function' ? registryOf() : registryOf
    registry.metrics().then(
      (text) => response.writeHead(200, {'content-type': registry.contentType}).end(text),
      (error: Error) => response.writeHead(500, {'content-type': 'text/plain'}).end(`${error.message}\n`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new Error(`--metrics-port ${port}: ${error.code === 'EADDRINUSE' ? 'the port is taken' : error.message}`)))
    server.listen(port, '127.0.0.1', () => resolve())
  })
  // the runs' own processes keep the CLI alive; the metrics server must not
  server.unref()
  return {
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}
