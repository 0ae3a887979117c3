// The run loop: plan, set up, baseline, inject, recover, judge, and always roll back. It runs without oclif;
// commands only show its events and print its journal.
import {randomBytes} from 'node:crypto'
import {setTimeout as delay} from 'node:timers/promises'

import {Registry} from 'prom-client'

import type {Experiment, IsolationSpec, SignalName} from '../experiment/schema.js'
import {driverFor} from '../faults/index.js'
import {type ActiveFault, type FaultContext, type InjectWindow, planFaultAfterSetup, planFaultBeforeSetup} from '../faults/fault.js'
import {PlanError} from '../platforms/platform.js'
import {createPlatform} from '../platforms/registry.js'
import type {Journal, LookRecord} from '../report/journal.js'
import {RunLedger} from '../rollback/ledger.js'
import {TargetLock, targetKey} from '../rollback/lock.js'
import {formatPercent} from '../verdict/format.js'
import {BREACH_DOSE_FLOOR, breachDoseOnly} from '../verdict/judge.js'
import type {Efficacy} from '../verdict/types.js'
import type {Extracted, Window} from '../metrics/source.js'
import {openMeasurementSource} from '../metrics/source-registry.js'
import {serveRegistry} from '../metrics/own-metrics.js'
import {abortState, firedCondition} from './abort.js'
import type {MeasuredBlock} from './blocks.js'
import {waitPhase} from './clock.js'
import {describeDesign, EPISODE_FLOOR_MS, measuringMs, planDesign} from './design.js'
import type {Phase, RunEvent} from './events.js'
import {ExitCode} from './exit-codes.js'
import type {LookResult} from './judging.js'
import {type LookContext, lookAt} from './looks.js'
import {embeddedSourceLost, liveFigures, WorkflowObserver} from './observe.js'
import {completeJournal, emptyJournal, span} from './record.js'
import {extractSignal} from './signals.js'
import {recordingLauncher} from './stressor-events.js'

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
  /**
   * chaos calibrate only: what a look reads of a neighbour's signal in a fault-on block, changed by a known amount
   * (an exact shift on the run's own noise), with its line for the plan. The fault-off blocks are read as measured.
   */
  reading?: {plan: string, adjust: (neighbor: string, signal: SignalName, extracted: Extracted) => Extracted}
}

/** Stressors outlive their fault-on block by at most this much if the toolkit cannot stop them. */
const DEADLINE_GRACE_MS = 3000
/** What a stressor may take to start (a helper pod scheduled, an image pulled) before its block's clock runs. */
const STARTUP_ALLOWANCE_MS = 10_000

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
  if (options.reading) planLines.push(options.reading.plan)
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
    const extracted = source ? source.extract(neighbor, h, w) : extractSignal(observer, h.signal, w, experiment.phases.interval)
    // a window cut from a fault-on block may end a rounding error past it
    const faultOn = blocks.some((b) => b.arm === 'on' && w.from >= b.from - 1 && w.to <= b.to + 1)
    return options.reading && faultOn ? options.reading.adjust(neighbor, h.signal as SignalName, extracted) : extracted
  }
  const lookContext: LookContext = {experiment, design, blocks, observers, source, extract, looks}

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
     * Unmeasured time after a block: after a fault-on block while the neighbours recover from the removal, and in the
     * interleaved design after a fault-off block too, so both arms sit alike in every pair's timing. With a settle
     * after removals only, a pair ran on/settle/off or off/on/settle: anything that recurs once a pair (the look
     * between pairs, a collector's period near a pair's) then fell on a fault-on block in one order and on the
     * settle in the other, and shifted a whole run's comparison one way (row 8 under load, 2026-12-07: with nothing
     * injected, the runs that breached at the threshold had their slow second 2-3 s into each pair, the contained
     * ones 4-5 s). With a settle after every block each arm holds the first or the second block of a pair by the
     * seeded coin alone, and such a recurrence adds to a pair's noise, which the interval sees, not to a run's level.
     */
    const settleAfter = async (block: MeasuredBlock): Promise<void> => {
      if (design.settleMs > 0 && !aborted()) await waitPhase(design.settleMs, interval, options.signal, tick(block.arm === 'on' ? 'recover' : 'baseline'))
      block.settledAt = Date.now()
    }

    /**
     * A fault-on block: the fault is asked for, and the block starts when its stressors are working (the dose
     * landing), not when it was asked; it lasts at least minMs and, for a fault that ends itself (a leak killed
     * by its limit), until that episode ends, at most maxMs; in the interleaved design such a block is the episode
     * alone, at least EPISODE_FLOOR_MS. Then the fault is removed.
     */
    const onBlock = async (pair: number, minMs: number, maxMs: number): Promise<MeasuredBlock | undefined> => {
      emit({type: 'phase', phase: 'inject', durationMs: design.episodic ? design.blockMs : minMs, label: design.kind === 'interleaved' ? `pair ${pair + 1}: fault on` : undefined})
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
      // the fault's own end decides an episode's length, and the plan's floor keeps its block from being a few requests
      await waitPhase(design.episodic && fault.ended ? EPISODE_FLOOR_MS : minMs, interval, injectSignal, onTick)
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
      const block: MeasuredBlock = {arm: 'on', pair, from, to: stopAt, askedAt, startupMs: from - askedAt, landed: efficacy.landed, partial: breachDoseOnly(efficacy), dose: efficacy.note}
      blocks.push(block)
      log(`dose (pair ${pair + 1}): ${efficacy.note}${block.startupMs! > 1000 ? ` (it took ${(block.startupMs! / 1000).toFixed(1)} s to start)` : ''}`)
      return block
    }

    const stopped = () => aborted() || measurementLost !== undefined
    const start = Date.now()
    if (design.kind === 'windows') {
      const off = await offBlock(0, experiment.phases.baseline)
      if (off && source && !stopped()) measurementLost = await source.checkBeforeInjecting(off)
      measurementLost ??= platform.lost?.()
      if (off && !stopped()) {
        const on = await onBlock(0, experiment.phases.inject, experiment.phases.inject)
        // not measured while the neighbours recover from the removal
        if (on) await settleAfter(on)
      }
      if (!stopped() && experiment.phases.recover > 0) {
        emit({type: 'phase', phase: 'recover', durationMs: experiment.phases.recover})
        const from = Date.now()
        await waitPhase(experiment.phases.recover, interval, options.signal, tick('recover'))
        journal.phases.recover = span({from, to: Date.now()})
      }
      if (!stopped()) {
        lastLook = await lookAt(lookContext, 0, design.looks[0].z, 'the one fault window was measured')
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
        // the settle after the pair's second block runs while the pair is looked at: the look's own work falls on
        // time nobody measures, not on the next pair's first block. It looks half a settle in, once the requests
        // sent at the block's end have been answered.
        let settling: Promise<void> = Promise.resolve()
        for (const [i, arm] of design.order[pair].entries()) {
          if (stopped()) break
          const block = arm === 'on'
            ? (on = await onBlock(pair, design.blockMs, Math.max(design.blockMs, experiment.phases.inject)))
            // the fault-off block as long as its fault-on partner, so both arms' statistics rest on as many requests
            : (off = await offBlock(pair, on ? on.to - on.from : design.blockMs))
          if (!block) break
          if (pair === 0 && arm === 'off' && source && !stopped()) measurementLost = await source.checkBeforeInjecting(block)
          if (i === 0) await settleAfter(block)
          else settling = settleAfter(block)
        }
        if (stopped() || !on || !off) {
          await settling
          break
        }
        if (on.landed || (lookContext.shortDose !== undefined && on.partial)) usable++
        await Promise.race([settling, delay(design.settleMs / 2, undefined, {ref: false})])
        // an observed fact (a neighbour restarted) decides at once; estimates wait for the planned looks
        const planned = design.looks[nextLook]
        if (planned && usable >= planned.pairs) {
          lastLook = await lookAt(lookContext, nextLook, planned.z, `after ${usable} usable pairs`)
          nextLook++
        } else {
          // even before a dose landed: a neighbour killed in a fault episode is counted over every episode
          const facts = await lookAt(lookContext, -1, Number.POSITIVE_INFINITY, 'observed facts only')
          // the fact decides; the other signals are reported as judged at the next planned look's boundary
          if (facts.decision === 'breach') lastLook = await lookAt(lookContext, nextLook, design.looks[Math.min(nextLook, design.looks.length - 1)].z, `an observed fact decided after ${usable} usable pairs`)
        }
        await settling
        if (lastLook && lastLook.decision !== 'undecided') {
          stoppedBecause = `decided ${lastLook.decision} after ${usable} usable pairs`
          break
        }
        if (usable === 0 && pair >= 2 && lookContext.shortDose === undefined) {
          const faultBlocks = blocks.filter((b) => b.arm === 'on')
          if (!faultBlocks.every((b) => b.partial)) {
            // three fault blocks and no dose: the boundary is not being tested, measuring on says nothing
            stoppedBecause = 'the dose did not land in the first three fault blocks'
            break
          }
          // short in each, but each had enough that a breach at it would stand (a control beside a busy machine's
          // other work): measure on for a breach at the dose that lands; containment cannot be shown
          lookContext.shortDose = `${efficacies.map((e) => formatPercent(e.ratio)).join(', ')} of it in the first ${faultBlocks.length} fault blocks`
          usable = faultBlocks.length
          log(`the dose fell short of the one asked (${lookContext.shortDose}), at least ${formatPercent(BREACH_DOSE_FLOOR)} each: judging these pairs for a breach only`)
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
        lastLook = await lookAt(lookContext, nextLook, z, `final, after ${usable} usable pairs`)
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

  emit({type: 'phase', phase: 'judge'})
  await endpoint?.close()
  return completeJournal(journal, {experiment, design, platform, observers, blocks, looks, lastLook, stoppedBecause, efficacies, shortDose: lookContext.shortDose !== undefined, aborted: aborted(), measurementLost})
}
