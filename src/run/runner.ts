// The run loop: plan, set up, baseline, inject, recover, judge, and always roll back. It runs without oclif;
// commands only show its events and print its journal.
import {randomBytes} from 'node:crypto'

import {Registry} from 'prom-client'

import type {Experiment, IsolationSpec} from '../experiment/schema.js'
import {driverFor} from '../faults/index.js'
import type {ActiveFault, InjectWindow} from '../faults/fault.js'
import {PlanError, type Platform} from '../platforms/platform.js'
import {createPlatform} from '../platforms/registry.js'
import type {Journal, PhaseSpan, TimelinePoint} from '../report/journal.js'
import {RunLedger} from '../rollback/ledger.js'
import {TargetLock, targetKey} from '../rollback/lock.js'
import {judgeOverall, judgeSignal} from '../verdict/judge.js'
import {seededRng} from '../verdict/stats.js'
import type {Efficacy, SignalVerdict} from '../verdict/types.js'
import {ExitCode} from './exit-codes.js'
import {abortState, firedCondition} from './abort.js'
import {embeddedSourceLost, WorkflowObserver} from './observe.js'
import {recordingLauncher} from './stressor-events.js'
import {extractSignal} from './signals.js'
import {hypothesesFor, type Extracted, type Window} from '../metrics/source.js'
import {openMeasurementSource} from '../metrics/source-registry.js'
import {serveRegistry} from '../metrics/own-metrics.js'
import type {Phase, RunEvent} from './events.js'
import {VERSION} from './version.js'

export interface RunOptions {
  experiment: Experiment
  file?: string
  /** print the plan and start nothing */
  dryRun?: boolean
  levelOverride?: IsolationSpec['level'] | (string & {})
  onEvent?: (event: RunEvent) => void
  /** aborting it interrupts the run: the fault is removed at once, the journal still written, exit 3 */
  signal?: AbortSignal
  runId?: string
  /** where the probes register their latency histograms (the caller's --metrics-port registry) */
  registry?: Registry
  /** the port the caller already serves `registry` on, if any: it replaces metrics.toolkit.port */
  metricsPort?: number
}

/** Stressors outlive the inject phase by at most this much if the toolkit cannot stop them. */
const DEADLINE_GRACE_MS = 3000

export function newRunId(): string {
  return randomBytes(4).toString('hex')
}

export async function runExperiment(options: RunOptions): Promise<Journal> {
  const {experiment} = options
  const runId = options.runId ?? newRunId()
  const emit = options.onEvent ?? (() => undefined)
  const log = (line: string) => emit({type: 'log', line})
  const startedAt = new Date()
  const platform = await createPlatform({experiment, runId, levelOverride: options.levelOverride})
  const driver = driverFor(experiment.fault)
  const journal = emptyJournal(options, runId, startedAt, platform)

  // Everything that can be refused is refused here, before anything exists.
  const source = await openMeasurementSource(experiment)
  const planLines = [`run ${runId}: ${experiment.metadata.name}`, ...(await platform.plan()), ...(source ? await source.plan() : [])]
  // where the target exists before setup (pods a selector chose), the fault is planned, and refused, now
  let faultLine = platform.targetKnownAtPlan ? driver.plan(experiment.fault, experiment, platform) : undefined
  if (faultLine) planLines.push(faultLine)
  emit({type: 'plan', lines: planLines})
  journal.plan = planLines
  const totalMs = experiment.phases.warmup + experiment.phases.baseline + experiment.phases.inject + experiment.phases.recover
  if (totalMs > experiment.safety.maxDuration) {
    throw new PlanError(`the phases add up to ${Math.round(totalMs / 1000)}s, above safety.maxDuration (${experiment.safety.maxDuration / 1000}s); raise safety.maxDuration if you mean it`)
  }
  if (options.dryRun) {
    if (!faultLine) journal.plan.push(`fault ${experiment.fault.type} (planned after setup)`)
    journal.verdict = 'inconclusive'
    journal.reason = 'dry run: nothing was started'
    journal.exitCode = ExitCode.Matched
    journal.endedAt = new Date().toISOString()
    return journal
  }

  // Prometheus reads the probes' latency histograms back from the toolkit: serve them where it scrapes
  const toolkitPort = experiment.metrics.source === 'prometheus' && experiment.metrics.latency === 'probe' && experiment.neighbors.some((n) => n.probe)
    ? experiment.metrics.toolkit.port : undefined
  const registry = options.registry ?? (toolkitPort === undefined ? undefined : new Registry())
  let endpoint: {close(): Promise<void>} | undefined
  // a caller that serves the registry already (--metrics-port) is where Prometheus scrapes the toolkit
  if (registry && toolkitPort !== undefined && options.metricsPort === undefined) {
    try {
      endpoint = await serveRegistry(toolkitPort, registry)
    } catch (error) {
      throw new PlanError(`metrics.toolkit.port: cannot serve the probe's histograms on 127.0.0.1:${toolkitPort} for Prometheus to scrape (${(error as Error).message}); another run may hold it`, 4)
    }
  }
  const lock = TargetLock.acquire(targetKey(experiment.metadata.name, experiment.target), runId)
  let ledger: RunLedger
  try {
    ledger = new RunLedger(runId, experiment.metadata.name, options.file)
  } catch (error) {
    lock.release()
    await endpoint?.close()
    throw error
  }
  const observers: WorkflowObserver[] = []
  let fault: ActiveFault | undefined
  let injectWindow: InjectWindow | undefined
  const phases: {baseline?: Window, inject?: Window, recover?: Window} = {}
  const aborted = () => options.signal?.aborted === true || journal.abort !== undefined
  /** why the measurement source cannot be trusted (not answering, not measuring): no fault, or no more of it */
  let measurementLost: string | undefined

  try {
    emit({type: 'phase', phase: 'setup'})
    await platform.setup(ledger, log)
    if (!faultLine) {
      faultLine = driver.plan(experiment.fault, experiment, platform)
      journal.plan.push(faultLine)
      log(faultLine)
    }
    for (const workflow of [platform.target, ...platform.neighbors]) observers.push(new WorkflowObserver(workflow, experiment.phases.interval, registry))
    for (const o of observers) o.start()
    const tick = (phase: Phase) => (elapsedMs: number, durationMs: number) => {
      for (const o of observers) o.sample()
      emit({type: 'tick', phase, elapsedMs, durationMs, dose: phase === 'inject' ? fault?.progress() : undefined, neighbors: liveFigures(observers.slice(1), experiment.phases.interval)})
    }
    const interval = experiment.phases.interval

    emit({type: 'phase', phase: 'warmup', durationMs: experiment.phases.warmup})
    await waitPhase(experiment.phases.warmup, interval, options.signal, tick('warmup'))

    if (!aborted()) {
      emit({type: 'phase', phase: 'baseline', durationMs: experiment.phases.baseline})
      const from = Date.now()
      await waitPhase(experiment.phases.baseline, interval, options.signal, tick('baseline'))
      phases.baseline = {from, to: Date.now()}
      if (source && !aborted()) measurementLost = await source.checkBeforeInjecting(phases.baseline)
      measurementLost ??= platform.lost?.()
    }

    if (!aborted() && !measurementLost) {
      emit({type: 'phase', phase: 'inject', durationMs: experiment.phases.inject})
      const from = Date.now()
      fault = await driver.start(experiment.fault, {
        experiment, platform, runId, log,
        launchStressor: recordingLauncher(platform, from, (line) => journal.injection.events.push(line)),
        deadline: from + experiment.phases.inject + DEADLINE_GRACE_MS,
      })
      // the dose is measured from the moment the stressors are working, not from when they were asked for
      const before = observers[0].sample()
      const abortInject = new AbortController()
      const injectSignal = options.signal ? AbortSignal.any([options.signal, abortInject.signal]) : abortInject.signal
      const state = abortState(observers.slice(1))
      const injectTick = tick('inject')
      const stopWatching = source?.watch(interval, (reason) => {
        measurementLost = reason
        log(`${reason}: removing the fault now`)
        abortInject.abort()
      })
      await waitPhase(experiment.phases.inject - (Date.now() - from), interval, injectSignal, (elapsed, total) => {
        injectTick(elapsed, total)
        const fired = firedCondition(experiment.safety.abort, observers.slice(1), state)
        if (fired) {
          journal.abort = {reason: fired}
          log(`${fired}: removing the fault now`)
          abortInject.abort()
        }
        const lost = platform.lost?.() ?? (source ? undefined : embeddedSourceLost(observers.slice(1), interval))
        if (lost && !measurementLost) {
          measurementLost = lost
          log(`${lost}: removing the fault now`)
          abortInject.abort()
        }
      })
      stopWatching?.()
      const after = observers[0].sample()
      await fault.stop()
      const to = Date.now()
      phases.inject = {from, to}
      const injected = observers[0].samplesBetween(from, to)
      injectWindow = {
        startedAt: before.t, endedAt: after.t, before, after,
        peakMemoryBytes: Math.max(...injected.map((s) => s.memoryBytes ?? 0)),
        // the target's own cgroup holds only it: a process box, or a container the experiment created
        ownBox: ['cgroup', 'container'].includes(options.levelOverride ?? experiment.target.isolation.level) && (experiment.target.run !== undefined || experiment.target.image !== undefined),
      }
      journal.injection.efficacy = fault.efficacy(injectWindow)
      log(`dose: ${journal.injection.efficacy.note}`)
      fault = undefined
    }

    if (!aborted() && !measurementLost && experiment.phases.recover > 0) {
      emit({type: 'phase', phase: 'recover', durationMs: experiment.phases.recover})
      const from = Date.now()
      await waitPhase(experiment.phases.recover, interval, options.signal, tick('recover'))
      phases.recover = {from, to: Date.now()}
    }
  } finally {
    // Always: the fault first (it is what hurts), then the measurement, then everything the platform made.
    emit({type: 'phase', phase: 'rollback'})
    const rollbackStart = Date.now()
    if (fault) await fault.stop().catch((error: Error) => log(`stopping the fault failed: ${error.message}`))
    await Promise.all(observers.map((o) => o.stop()))
    let leftovers: string[]
    try {
      leftovers = await platform.teardown()
    } catch (error) {
      leftovers = [`teardown failed: ${(error as Error).message}`]
    }
    ledger.close()
    lock.release()
    journal.rollback = {complete: leftovers.length === 0, leftovers, durationMs: Date.now() - rollbackStart}
  }

  emit({type: 'phase', phase: 'judge'})
  const judged = phases.baseline && phases.inject && !measurementLost ? [phases.baseline, phases.inject] : undefined
  try {
    if (source && judged) await source.collect(judged)
  } finally {
    await endpoint?.close()
  }
  journal.phases = {baseline: span(phases.baseline), inject: span(phases.inject), recover: span(phases.recover)}
  journal.target = {name: platform.target.name, boundary: platform.target.boundary, unexpectedExits: platform.target.unexpectedExits(), lastExit: platform.target.lastExit()}
  journal.neighbors = observers.slice(1).map((observer) => {
    const name = observer.workflow.name
    const extract = (h: Experiment['hypothesis'][number], w: Window) => source ? source.extract(name, h, w) : extractSignal(observer, h.signal, w, experiment.phases.interval)
    const signals = judged
      ? hypothesesFor(name, experiment.hypothesis).map((h) => {
        const verdict = judgeOne(name, extract, h, judged[0], judged[1], seededRng(`${runId}/${name}/${h.signal}`))
        // the probe's view of the same run beside an external source's, where the probe can give the signal
        if (source && h.promql === undefined && observer.probe) {
          const own = judgeOne(name, (x, w) => extractSignal(observer, x.signal, w, experiment.phases.interval), h, judged[0], judged[1], seededRng(`${runId}/${name}/${h.signal}`))
          if (own.test !== 'none') verdict.crossCheck = {source: 'embedded', baseline: own.baseline, fault: own.fault, verdict: own.verdict, reason: own.reason}
        }
        return verdict
      })
      : []
    const stats = observer.probe?.stats()
    return {
      name,
      boundary: observer.workflow.boundary,
      unexpectedExits: observer.workflow.unexpectedExits(),
      lastExit: observer.workflow.lastExit(),
      signals,
      probe: stats && {sent: stats.sent, ok: stats.ok, errors: stats.errors, timeouts: stats.timeouts, meanSendLagMs: stats.meanSendLagMs},
      timeline: timeline(observer, experiment.phases.interval),
    }
  })
  conclude(journal, experiment, aborted(), injectWindow === undefined, measurementLost)
  journal.endedAt = new Date().toISOString()
  return journal
}

function judgeOne(neighbor: string, extract: (h: Experiment['hypothesis'][number], w: Window) => Extracted, hypothesis: Experiment['hypothesis'][number], baseline: Window, inject: Window, rng: () => number): SignalVerdict {
  const base = extract(hypothesis, baseline)
  const during = extract(hypothesis, inject)
  if ('unavailable' in base || 'unavailable' in during) {
    return {
      neighbor, signal: hypothesis.signal, statistic: 'mean', unit: 'count',
      baseline: null, fault: null, baselineCount: 0, faultCount: 0, change: null, interval: null, test: 'none',
      pValue: null, effectSize: null, threshold: describeThreshold(hypothesis), verdict: 'inconclusive',
      reason: 'unavailable' in base ? base.unavailable : (during as {unavailable: string}).unavailable,
    }
  }
  return judgeSignal({
    neighbor, signal: hypothesis.signal, statistic: base.statistic, unit: base.unit,
    baseline: base.samples, fault: during.samples, hypothesis,
  }, {rng})
}

export function describeThreshold(h: Experiment['hypothesis'][number]): string {
  const parts: string[] = []
  if (h.max_increase !== undefined) parts.push(`rise <= ${Math.round(h.max_increase * 100)}%`)
  if (h.max_decrease !== undefined) parts.push(`fall <= ${Math.round(h.max_decrease * 100)}%`)
  if (h.max !== undefined) parts.push(`<= ${h.max}`)
  if (h.min !== undefined) parts.push(`>= ${h.min}`)
  return parts.join(', ')
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

/** Waits out a phase, sampling every interval; ends early when the run is interrupted. */
async function waitPhase(durationMs: number, intervalMs: number, signal: AbortSignal | undefined, onTick: (elapsedMs: number, durationMs: number) => void): Promise<void> {
  const start = Date.now()
  let next = start + intervalMs
  while (!signal?.aborted) {
    const now = Date.now()
    if (now >= start + durationMs) break
    await sleep(Math.max(0, Math.min(next, start + durationMs) - now), signal)
    if (Date.now() >= next) {
      onTick(Date.now() - start, durationMs)
      next += intervalMs
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

function liveFigures(observers: WorkflowObserver[], intervalMs: number) {
  const now = Date.now()
  return observers.map((o) => {
    const recent = o.probe?.records(now - 5 * intervalMs, now) ?? []
    const latencies = recent.filter((r) => r.ok).map((r) => r.latencySeconds).sort((a, b) => a - b)
    return {
      name: o.workflow.name,
      p99: latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] : undefined,
      errors: recent.filter((r) => !r.ok).length,
      requests: recent.length,
    }
  })
}

function timeline(observer: WorkflowObserver, intervalMs: number): TimelinePoint[] {
  const samples = observer.samples
  if (samples.length === 0) return []
  const points: TimelinePoint[] = []
  for (let i = 1; i < samples.length; i++) {
    const from = samples[i - 1].t
    const to = samples[i].t
    const records = observer.probe?.records(from, to) ?? []
    const ok = records.filter((r) => r.ok).map((r) => r.latencySeconds).sort((a, b) => a - b)
    points.push({
      t: to,
      requests: observer.probe ? records.length : undefined,
      errors: observer.probe ? records.length - ok.length : undefined,
      p50: ok.length ? ok[Math.floor(ok.length * 0.5)] : undefined,
      p99: ok.length ? ok[Math.min(ok.length - 1, Math.floor(ok.length * 0.99))] : undefined,
      cpuSeconds: samples[i].cpuSeconds,
      memoryBytes: samples[i].memoryBytes,
    })
  }
  void intervalMs
  return points
}

function span(window: Window | undefined): PhaseSpan | undefined {
  return window && {start: new Date(window.from).toISOString(), end: new Date(window.to).toISOString()}
}

function emptyJournal(options: RunOptions, runId: string, startedAt: Date, platform: Platform): Journal {
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
