// Watching the workflows during a run: an HTTP probe and a /metrics scrape per neighbour, and every workflow's
// resource accounting once per interval. Everything is kept with timestamps so any window can be cut out later.
import type {Registry} from 'prom-client'

import type {NeighborSpec} from '../experiment/schema.js'
import {RemoteProbe} from '../metrics/remote-probe.js'
import {DEFAULT_LATENCY_HISTOGRAM, Scraper} from '../metrics/scrape.js'
import type {ResourceSample} from '../metrics/types.js'
import type {WorkflowHandle} from '../platforms/platform.js'
import type {TimelinePoint} from '../report/journal.js'

/** What the signals read from a neighbour's /metrics (signals.ts): the rest of a scrape is skipped unparsed. */
const SCRAPED_FAMILIES = [DEFAULT_LATENCY_HISTOGRAM, 'http_requests_total']

export interface TimedSample extends ResourceSample {
  /** unexpected exits of the workflow's main process so far */
  exits: number
}

export class WorkflowObserver {
  readonly probe?: RemoteProbe
  readonly scraper?: Scraper
  readonly samples: TimedSample[] = []

  constructor(readonly workflow: WorkflowHandle, intervalMs: number, registry?: Registry) {
    const spec = workflow.spec as NeighborSpec
    if (workflow.role === 'neighbor' && spec.probe) {
      // in a process of its own: the run loop's stalls must not be charged to the neighbour (remote-probe.ts)
      this.probe = new RemoteProbe({
        url: spec.probe.http.url, rate: spec.probe.http.rate, timeoutMs: spec.probe.http.timeout,
        method: spec.probe.http.method, neighbor: workflow.name, registry, intervalMs,
      })
    }
    if (workflow.role === 'neighbor' && spec.metrics) this.scraper = new Scraper({url: spec.metrics, intervalMs, families: SCRAPED_FAMILIES})
  }

  start(): void {
    this.probe?.start()
    this.scraper?.start()
    this.sample()
  }

  /** One resource reading; the runner calls this every interval. */
  sample(): TimedSample {
    let reading: ResourceSample
    try {
      reading = this.workflow.sample()
    } catch {
      reading = {t: Date.now()}
    }
    const sample = {...reading, t: reading.t ?? Date.now(), exits: this.workflow.unexpectedExits()}
    this.samples.push(sample)
    return sample
  }

  samplesBetween(fromMs: number, toMs: number): TimedSample[] {
    // exits whose times the platform knows are counted by those times (signals.ts), not from these readings
    return this.samples.filter((s) => s.t >= fromMs && s.t <= toMs)
  }

  /**
   * The readings whose steps end in the window: those in it and the last one before it. For counters (exits, OOM
   * kills, unready transitions), where each step's increase belongs to the window the step ends in: contiguous
   * windows (one fault episode after another) then share every event between them, and none falls in the gap
   * between the last reading of one window and the first of the next.
   */
  stepsEndingBetween(fromMs: number, toMs: number): TimedSample[] {
    const i = this.samples.findIndex((s) => s.t >= fromMs)
    const start = i === -1 ? this.samples.length : i
    return this.samplesBetween(start > 0 ? this.samples[start - 1].t : fromMs, toMs)
  }

  /** The last reading at or before the instant (or the first one after it when none precedes). */
  sampleAt(ms: number): TimedSample | undefined {
    return this.samples.filter((s) => s.t <= ms).at(-1) ?? this.samples.find((s) => s.t > ms)
  }

  async stop(): Promise<void> {
    await Promise.all([this.probe?.stop(), this.scraper?.stop()])
  }
}

/**
 * The embedded source is lost when a neighbour's /metrics endpoint has not answered for two intervals while the
 * neighbour itself still answers its probe (or has no probe to tell): the measurement failed, not the neighbour,
 * so the injection must stop and the run cannot be judged. A neighbour that stops answering entirely is harm,
 * and the probe's errors already show it. The same when the probe's own process fails.
 */
export function embeddedSourceLost(neighbors: Pick<WorkflowObserver, 'probe' | 'scraper' | 'workflow'>[], intervalMs: number, now = Date.now()): string | undefined {
  const since = now - 2 * intervalMs
  for (const observer of neighbors) {
    // the probe process died: its records stop, which must not read as a neighbour that stopped answering
    const probeFailed = observer.probe?.failure()
    if (probeFailed) return `the probe of ${observer.workflow.name} failed: ${probeFailed}`
    const {scraper, probe} = observer
    if (!scraper) continue
    const failures = scraper.failures().filter((f) => f.t >= since - intervalMs / 2)
    if (failures.length < 2 || scraper.snapshots(since, now).length > 0) continue
    // "still answers" now, not two intervals ago: a neighbour killed by the fault fails its probe as well
    const recent = probe?.records(now - intervalMs, now) ?? []
    const neighbourAnswers = probe === undefined || (recent.length > 0 && recent.filter((r) => r.ok).length > recent.length / 2)
    if (neighbourAnswers) {
      return `the metrics endpoint of ${observer.workflow.name} (${scraper.url}) stopped answering for two intervals (${failures.at(-1)!.error}) while ${observer.workflow.name} itself still answers`
    }
  }
  return undefined
}

/** Each neighbour's last few intervals as the progress line shows them. */
export function liveFigures(observers: WorkflowObserver[], intervalMs: number) {
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

/** The journal's per-interval timeline of one workflow: its probe's figures and its resource accounting. */
export function timeline(observer: WorkflowObserver): TimelinePoint[] {
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
  return points
}
