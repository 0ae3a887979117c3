// The run loop: plan, set up, baseline, inject, recover, judge, and always roll back. It runs without oclif;
// commands only show its events and print its journal.
import {randomBytes} from 'node:crypto'

import {Registry} from 'prom-client'

import type {Experiment, IsolationSpec} from '../experiment/schema.js'
import {driverFor} from '../faults/index.js'
import {type ActiveFault, type FaultContext, type InjectWindow, planFaultAfterSetup, planFaultBeforeSetup} from '../faults/fault.js'
import {PlanError, type Platform} from '../platforms/platform.js'
import {createPlatform} from '../platforms/registry.js'
import type {Journal, LookRecord, PhaseSpan, TimelinePoint} from '../report/journal.js'
import {RunLedger} from '../rollback/ledger.js'
import {TargetLock, targetKey} from '../rollback/lock.js'
import {judgeOverall} from '../verdict/judge.js'
import type {Efficacy} from '../verdict/types.js'
import {ExitCode} from './exit-codes.js'
import {abortState, firedCondition} from './abort.js'
import {embeddedSourceLost, WorkflowObserver} from './observe.js'
import {recordingLauncher} from './stressor-events.js'
import {type Arm, type Design, describeDesign, measuringMs, planDesign} from './design.js'
import {look, type BlockSet, type LookResult} from './judging.js'
import {extractSignal, withoutLaggedIntervals} from './signals.js'
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
  /**
   * chaos calibrate only: what each fault-on block starts instead of the experiment's fault (a known slowdown of a
   * neighbour), with its line for the plan. Everything else about the run is the same.
   */
  injector?: {plan: string, start: (ctx: FaultContext) => Promise<ActiveFault>}
}

/** Stressors outlive their fault-on block by at most this much if the toolkit cannot stop them. */
const DEADLINE_GRACE_MS = 3000
/** What a stressor may take to start (a helper pod scheduled, an image pulled) before its block's clock runs. */
const STARTUP_ALLOWANCE_MS = 10_000

/** One measured block of the design. */
interface MeasuredBlock {
  arm: Arm
  /** 0-based */
  pair: number
  from: number
  to: number
  /** fault-on: when the fault was asked for, how long its stressors took to work, whether its dose landed */
  askedAt?: number
  startupMs?: number
  landed?: boolean
  dose?: string
  /** fault-on: when the settle after its removal ended */
  settledAt?: number
}

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
  const startFault = options.injector?.start ?? ((ctx: FaultContext) => driver.start(experiment.fault, ctx))
  const journal = emptyJournal(options, runId, startedAt, platform)

  // Everything that can be refused is refused here, before anything exists.
  const source = await openMeasurementSource(experiment)
  const planLines = [`run ${runId}: ${experiment.metadata.name}`, ...(await platform.plan()), ...(source ? await source.plan() : [])]
  // the fault's guardrails on every platform; where the target exists before setup (pods a selector chose), all of it
  const faultPlan = planFaultBeforeSetup(driver, experiment, platform)
  planLines.push(faultPlan.line)
  if (options.injector) planLines.push(options.injector.plan)
  const design = planDesign(experiment, runId)
  planLines.push(describeDesign(design))
  emit({type: 'plan', lines: planLines})
  journal.plan = planLines
  const totalMs = experiment.phases.warmup + measuringMs(experiment)
  if (totalMs > experiment.safety.maxDuration) {
    throw new PlanError(`the phases add up to ${Math.round(totalMs / 1000)}s, above safety.maxDuration (${experiment.safety.maxDuration / 1000}s); raise safety.maxDuration if you mean it`)
  }
  if (options.dryRun) {
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
  const aborted = () => options.signal?.aborted === true || journal.abort !== undefined
  /** why the measurement source cannot be trusted (not answering, not measuring): no fault, or no more of it */
  let measurementLost: string | undefined
  const blocks: MeasuredBlock[] = []
  const looks: LookRecord[] = []
  let lastLook: LookResult | undefined
  let stoppedBecause = 'not started'
  const efficacies: Efficacy[] = []
  const extract = (neighbor: string, h: Experiment['hypothesis'][number], w: Window): Extracted => {
    const observer = observers.find((o) => o.workflow.name === neighbor)!
    return source ? source.extract(neighbor, h, w) : extractSignal(observer, h.signal, w, experiment.phases.interval)
  }

  try {
    emit({type: 'phase', phase: 'setup'})
    await platform.setup(ledger, log)
    if (!faultPlan.complete) {
      const faultLine = planFaultAfterSetup(driver, experiment, platform)
      journal.plan.push(faultLine)
      log(faultLine)
    }
    for (const workflow of [platform.target, ...platform.neighbors]) observers.push(new WorkflowObserver(workflow, experiment.phases.interval, registry))
    for (const o of observers) o.start()
    const neighbours = observers.slice(1)
    const tick = (phase: Phase) => (elapsedMs: number, durationMs: number) => {
      for (const o of observers) o.sample()
      emit({type: 'tick', phase, elapsedMs, durationMs, dose: phase === 'inject' ? fault?.progress() : undefined, neighbors: liveFigures(neighbours, experiment.phases.interval)})
    }
    const interval = experiment.phases.interval

    emit({type: 'phase', phase: 'warmup', durationMs: experiment.phases.warmup})
    await waitPhase(experiment.phases.warmup, interval, options.signal, tick('warmup'))

    /** A fault-off block: the neighbours measured with nothing injected. */
    const offBlock = async (pair: number, ms: number): Promise<MeasuredBlock | undefined> => {
      emit({type: 'phase', phase: 'baseline', durationMs: ms, label: design.kind === 'interleaved' ? `pair ${pair + 1}: fault off` : undefined})
      const from = Date.now()
      await waitPhase(ms, interval, options.signal, tick('baseline'))
      if (aborted()) return undefined
      const block: MeasuredBlock = {arm: 'off', pair, from, to: Date.now()}
      blocks.push(block)
      return block
    }

    /**
     * A fault-on block: the fault is asked for, and the block starts when its stressors are working (the dose
     * landing), not when it was asked; it lasts at least minMs and, for a fault that ends itself (a leak killed
     * by its limit), until that episode ends, at most maxMs. Then the fault is removed.
     */
    const onBlock = async (pair: number, minMs: number, maxMs: number): Promise<MeasuredBlock | undefined> => {
      emit({type: 'phase', phase: 'inject', durationMs: minMs, label: design.kind === 'interleaved' ? `pair ${pair + 1}: fault on` : undefined})
      const askedAt = Date.now()
      journal.injection.origin ??= askedAt
      fault = await startFault({
        experiment, platform, runId, log,
        launchStressor: recordingLauncher(platform, journal.injection.origin, (line) => journal.injection.events.push(line)),
        deadline: askedAt + STARTUP_ALLOWANCE_MS + maxMs + DEADLINE_GRACE_MS,
      })
      const from = Date.now()
      // the dose is measured from the moment the stressors are working, not from when they were asked for
      const before = observers[0].sample()
      const abortInject = new AbortController()
      const injectSignal = options.signal ? AbortSignal.any([options.signal, abortInject.signal]) : abortInject.signal
      const state = abortState(neighbours)
      const injectTick = tick('inject')
      const stopWatching = source?.watch(interval, (reason) => {
        measurementLost = reason
        log(`${reason}: removing the fault now`)
        abortInject.abort()
      })
      const onTick = (elapsed: number, total: number) => {
        injectTick(elapsed, total)
        const fired = firedCondition(experiment.safety.abort, neighbours, state)
        if (fired) {
          journal.abort = {reason: fired}
          log(`${fired}: removing the fault now`)
          abortInject.abort()
        }
        const lost = platform.lost?.() ?? (source ? undefined : embeddedSourceLost(neighbours, interval))
        if (lost && !measurementLost) {
          measurementLost = lost
          log(`${lost}: removing the fault now`)
          abortInject.abort()
        }
      }
      await waitPhase(minMs, interval, injectSignal, onTick)
      if (fault.ended && !injectSignal.aborted) {
        // an episode: the block holds the whole of it, however long the leak takes to meet its limit
        const abortEpisode = new AbortController()
        void fault.ended.then(() => abortEpisode.abort())
        await waitPhase(Math.max(0, maxMs - (Date.now() - from)), interval, AbortSignal.any([injectSignal, abortEpisode.signal]), onTick)
      }
      stopWatching?.()
      const after = observers[0].sample()
      const stopAt = Date.now()
      await fault.stop()
      const active = fault
      fault = undefined
      const peak = observers[0].samplesBetween(from, stopAt).map((s) => s.memoryBytes ?? 0)
      const window: InjectWindow = {
        startedAt: before.t, endedAt: after.t, before, after,
        peakMemoryBytes: Math.max(0, ...peak),
        // the target's own cgroup holds only it: a process box, or a container the experiment created
        ownBox: ['cgroup', 'container'].includes(options.levelOverride ?? experiment.target.isolation.level) && (experiment.target.run !== undefined || experiment.target.image !== undefined),
      }
      const efficacy = active.efficacy(window)
      efficacies.push(efficacy)
      const block: MeasuredBlock = {arm: 'on', pair, from, to: stopAt, askedAt, startupMs: from - askedAt, landed: efficacy.landed, dose: efficacy.note}
      blocks.push(block)
      log(`dose (pair ${pair + 1}): ${efficacy.note}${block.startupMs! > 1000 ? ` (it took ${(block.startupMs! / 1000).toFixed(1)} s to start)` : ''}`)
      // not measured while the neighbours recover from the removal
      if (design.settleMs > 0 && !aborted()) await waitPhase(design.settleMs, interval, options.signal, tick('recover'))
      block.settledAt = Date.now()
      return block
    }

    const stopped = () => aborted() || measurementLost !== undefined
    const start = Date.now()
    if (design.kind === 'windows') {
      const off = await offBlock(0, experiment.phases.baseline)
      if (off && source && !stopped()) measurementLost = await source.checkBeforeInjecting(off)
      measurementLost ??= platform.lost?.()
      if (off && !stopped()) await onBlock(0, experiment.phases.inject, experiment.phases.inject)
      if (!stopped() && experiment.phases.recover > 0) {
        emit({type: 'phase', phase: 'recover', durationMs: experiment.phases.recover})
        const from = Date.now()
        await waitPhase(experiment.phases.recover, interval, options.signal, tick('recover'))
        journal.phases.recover = span({from, to: Date.now()})
      }
      if (!stopped()) {
        lastLook = await lookAt(0, design.looks[0].z, 'the one fault window was measured')
        stoppedBecause = lastLook.decision === 'undecided' ? 'the one fault window was measured; undecided' : `decided ${lastLook.decision}`
      }
    } else {
      let usable = 0
      let nextLook = 0
      for (let pair = 0; pair < design.maxPairs && !stopped(); pair++) {
        if (Date.now() - start + 2 * design.blockMs > design.budgetMs) {
          stoppedBecause = 'budget spent'
          break
        }
        let on: MeasuredBlock | undefined
        let off: MeasuredBlock | undefined
        for (const arm of design.order[pair]) {
          if (stopped()) break
          if (arm === 'on') on = await onBlock(pair, design.blockMs, Math.max(design.blockMs, experiment.phases.inject))
          // the fault-off block as long as its fault-on partner, so both arms' statistics rest on as many requests
          else off = await offBlock(pair, on ? on.to - on.from : design.blockMs)
          if (pair === 0 && arm === 'off' && off && source && !stopped()) measurementLost = await source.checkBeforeInjecting(off)
        }
        if (stopped() || !on || !off) break
        if (on.landed) usable++
        else if (usable === 0 && pair >= 2) {
          // three fault blocks and no dose: the boundary is not being tested, measuring on says nothing
          stoppedBecause = 'the dose did not land in the first three fault blocks'
          break
        }
        // an observed fact (a neighbour restarted) decides at once; estimates wait for the planned looks
        const planned = design.looks[nextLook]
        if (planned && usable >= planned.pairs) {
          lastLook = await lookAt(nextLook, planned.z, `after ${usable} usable pairs`)
          nextLook++
        } else if (usable > 0) {
          const facts = await lookAt(-1, Number.POSITIVE_INFINITY, 'observed facts only')
          // the fact decides; the other signals are reported as judged at the next planned look's boundary
          if (facts.decision === 'breach') lastLook = await lookAt(nextLook, design.looks[Math.min(nextLook, design.looks.length - 1)].z, `an observed fact decided after ${usable} usable pairs`)
        }
        if (lastLook && lastLook.decision !== 'undecided') {
          stoppedBecause = `decided ${lastLook.decision} after ${usable} usable pairs`
          break
        }
        if (nextLook >= design.looks.length) {
          stoppedBecause = 'every planned look was made'
          break
        }
      }
      if (stoppedBecause === 'not started') stoppedBecause = 'budget spent'
      // the budget ran out between planned looks: one last look, at the stricter of the two boundaries around it
      if (!stopped() && (lastLook === undefined || lastLook.decision === 'undecided') && usable >= 2 && looks.at(-1)?.pairs !== usable) {
        const z = Math.max(design.looks[Math.max(0, nextLook - 1)].z, design.looks[Math.min(nextLook, design.looks.length - 1)].z)
        lastLook = await lookAt(nextLook, z, `final, after ${usable} usable pairs`)
      }
    }
    if (aborted()) stoppedBecause = 'aborted'
    else if (measurementLost) stoppedBecause = 'measurement lost'
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

  /** Judges every signal over the blocks so far, at one look's boundary, and records the look. */
  async function lookAt(index: number, z: number, why: string): Promise<LookResult> {
    const set = blockSet(design, blocks, experiment.phases.interval)
    if (source) await source.collect([...set.on, ...set.off, ...set.episodes, ...(set.whole ? [...set.whole.on, ...set.whole.off] : [])])
    const neighbours = observers.slice(1).map((o) => ({name: o.workflow.name, hypotheses: hypothesesFor(o.workflow.name, experiment.hypothesis)}))
    const result = look(neighbours, set, design.kind === 'interleaved', z, extract)
    // with an external source, the toolkit's own probe's view of the same blocks beside each signal it can give:
    // a Prometheus pipeline that disagrees with it (scrape gaps, coarse buckets) shows here
    if (source) {
      const probed = neighbours.filter((n) => observers.find((o) => o.workflow.name === n.name)?.probe)
        .map((n) => ({...n, hypotheses: n.hypotheses.filter((h) => h.promql === undefined)}))
      const own = look(probed, set, design.kind === 'interleaved', z, (neighbor, h, w) => extractSignal(observers.find((o) => o.workflow.name === neighbor)!, h.signal, w, experiment.phases.interval))
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

  emit({type: 'phase', phase: 'judge'})
  await endpoint?.close()
  const on = blocks.filter((b) => b.arm === 'on')
  const off = blocks.filter((b) => b.arm === 'off')
  journal.phases = {
    ...journal.phases,
    baseline: off[0] && span(off[0]),
    inject: on.length ? span({from: on[0].from, to: on.at(-1)!.to}) : undefined,
  }
  journal.injection.efficacy = pooledEfficacy(efficacies, design)
  journal.design = {
    kind: design.kind, blockMs: design.blockMs, settleMs: design.settleMs, budgetMs: design.budgetMs, alpha: design.alpha, spending: design.spending,
    maxPairs: design.maxPairs, plannedLooks: design.looks.map((l) => l.pairs),
    blocks: blocks.map((b) => ({arm: b.arm, pair: b.pair + 1, start: new Date(b.from).toISOString(), end: new Date(b.to).toISOString(), startupMs: b.startupMs, landed: b.landed})),
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
      timeline: timeline(observer, experiment.phases.interval),
    }
  })
  const injected = on.length > 0
  conclude(journal, experiment, aborted(), !injected, measurementLost)
  journal.endedAt = new Date().toISOString()
  return journal
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

/** The blocks a look compares: interleaved, the pairs whose dose landed; windows, each window cut into blocks. */
function blockSet(design: Design, blocks: MeasuredBlock[], intervalMs: number): BlockSet {
  const on = blocks.filter((b) => b.arm === 'on')
  if (design.kind === 'windows') {
    const off = blocks.filter((b) => b.arm === 'off')
    // blocks of two intervals at least: a tail quantile of one second's hundred requests is its second-largest value
    const size = Math.max(2 * intervalMs, 2000)
    return {
      on: on.flatMap((b) => cut(b, size)), off: off.flatMap((b) => cut(b, size)),
      episodes: on.map((b) => ({from: b.askedAt ?? b.from, to: b.settledAt ?? b.to})),
      whole: {on: on.map((b) => ({from: b.from, to: b.to})), off: off.map((b) => ({from: b.from, to: b.to}))},
    }
  }
  const set: BlockSet = {on: [], off: [], episodes: []}
  for (const o of on) {
    const partner = blocks.find((b) => b.arm === 'off' && b.pair === o.pair)
    if (!partner || !o.landed) continue
    set.on.push({from: o.from, to: o.to})
    set.off.push({from: partner.from, to: partner.to})
    set.episodes.push({from: o.askedAt ?? o.from, to: o.settledAt ?? o.to})
  }
  return set
}

function cut(window: Window, size: number): Window[] {
  const n = Math.max(1, Math.floor((window.to - window.from) / size))
  const step = (window.to - window.from) / n
  return Array.from({length: n}, (_, i) => ({from: window.from + i * step, to: window.from + (i + 1) * step}))
}

/** Every fault-on block's dose, as one: landed when most blocks' did (the pairs whose dose fell short are not judged). */
function pooledEfficacy(efficacies: Efficacy[], design: Design): Efficacy | null {
  if (efficacies.length === 0) return null
  if (design.kind === 'windows' || efficacies.length === 1) return efficacies[0]
  const landed = efficacies.filter((e) => e.landed).length
  const asked = efficacies.reduce((a, e) => a + e.asked, 0)
  const achieved = efficacies.reduce((a, e) => a + e.achieved, 0)
  const last = efficacies.filter((e) => e.landed).at(-1) ?? efficacies.at(-1)!
  return {
    landed: landed >= 2 && landed >= efficacies.length / 2, asked, achieved, unit: last.unit, ratio: asked > 0 ? achieved / asked : 0,
    note: `landed in ${landed} of ${efficacies.length} fault blocks (${last.note})`,
  }
}

/**
 * The instrument's own lag, where the probe measures it: the intervals it lagged in and their requests, counted and
 * judged all the same (a probe starved by the fault lags exactly when the neighbour suffers: leaving them out hid
 * harm, docs/isolation-findings.md).
 */
function instrumentReport(neighbours: WorkflowObserver[], blocks: MeasuredBlock[]): NonNullable<Journal['design']>['instrument'] {
  return neighbours.flatMap((o) => {
    const stats = o.probe?.stats()
    if (!stats) return []
    let laggedIntervals = 0
    let requestsInLaggedIntervals = 0
    for (const b of blocks) {
      const filtered = withoutLaggedIntervals(o, b)
      laggedIntervals += filtered.laggedIntervals
      requestsInLaggedIntervals += filtered.requestsInLaggedIntervals
    }
    return [{neighbor: o.workflow.name, meanSendLagMs: stats.meanSendLagMs, maxSendLagMs: stats.maxSendLagMs, laggedIntervals, requestsInLaggedIntervals, droppedRequests: requestsInLaggedIntervals}]
  })
}

/** Six significant digits: a block statistic's precision, not float noise, in the journal. */
function significant(value: number): number {
  return Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(6)) : value
}
