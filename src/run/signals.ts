// Cutting each neighbour signal out of what was observed, for one window: the samples the verdict compares.
import type {SignalName} from '../experiment/schema.js'
import {DEFAULT_LATENCY_HISTOGRAM, intervalCounterRates, intervalHistogramQuantiles} from '../metrics/scrape.js'
import type {Extracted, Window} from '../metrics/source.js'
import type {ProbeRecord} from '../metrics/probe.js'
import type {SignalInput} from '../verdict/types.js'
import type {TimedSample, WorkflowObserver} from './observe.js'

const LATENCY_QUANTILE: Partial<Record<SignalName, {statistic: SignalInput['statistic'], q?: number}>> = {
  latency_p50: {statistic: 'p50', q: 0.5},
  latency_p90: {statistic: 'p90', q: 0.9},
  latency_p95: {statistic: 'p95', q: 0.95},
  latency_p99: {statistic: 'p99', q: 0.99},
  latency_mean: {statistic: 'mean'},
}

/**
 * cut: which of a probe's requests a window holds: those sent in it (the verdict's), or those counted in the
 * toolkit's histogram in it (a scrape's view, for the cross-check against Prometheus)
 */
export function extractSignal(observer: WorkflowObserver, signal: SignalName, window: Window, intervalMs: number, cut: 'sent' | 'observed' = 'sent'): Extracted {
  const probe = observer.probe
  // every probe signal takes its requests, and their times, the same way
  const probeRecords = (): ProbeRecord[] => (cut === 'observed' ? probe!.recordsObserved(window.from, window.to) : probe!.records(window.from, window.to))
  const timeOf = (r: ProbeRecord) => (cut === 'observed' ? r.observedAt ?? r.t : r.t)
  const latency = LATENCY_QUANTILE[signal]
  if (latency) {
    if (probe) {
      // every request, the instrument's lagged intervals included: the probe runs in a process of its own, so it lags
      // when the machine is starved, which under a CPU fault is exactly when the neighbour suffers; leaving those
      // intervals out would hide harm. They are counted and reported beside the verdict instead (journal.design).
      const records = probeRecords()
      // a failed or timed-out request is the slowest of all, not a missing one: it counts as taking the whole timeout
      const timeout = probe.timeoutMs / 1000
      const blocks = records.map((r) => Math.floor((timeOf(r) - window.from) / intervalMs))
      return {samples: {kind: 'observations', values: records.map((r) => (r.ok ? r.latencySeconds : Math.max(r.latencySeconds, timeout))), blocks}, statistic: latency.statistic, unit: 'seconds'}
    }
    if (observer.scraper) {
      // without a probe, the neighbour's own histogram: one quantile per scrape interval
      const q = latency.q ?? 0.5
      const values = intervalHistogramQuantiles(observer.scraper.snapshots(), window.from, window.to, DEFAULT_LATENCY_HISTOGRAM, q)
        .filter((v) => v.count > 0).map((v) => v.value)
      return {samples: {kind: 'series', values}, statistic: 'mean', unit: 'seconds'}
    }
    return {unavailable: `${signal} needs a probe or a metrics endpoint on this neighbour`}
  }
  switch (signal) {
    case 'error_rate': {
      if (probe) {
        const records = probeRecords()
        return {samples: {kind: 'proportion', events: records.filter((r) => !r.ok).length, total: records.length}, statistic: 'rate', unit: 'ratio'}
      }
      return {unavailable: 'error_rate needs a probe on this neighbour'}
    }
    case 'throughput': {
      if (probe) {
        const records = probeRecords().filter((r) => r.ok)
        return {samples: {kind: 'series', values: perInterval(records.map(timeOf), window, intervalMs)}, statistic: 'mean', unit: 'per_second'}
      }
      if (observer.scraper) {
        const values = intervalCounterRates(observer.scraper.snapshots(), window.from, window.to, 'http_requests_total').map((v) => v.value)
        return {samples: {kind: 'series', values}, statistic: 'mean', unit: 'per_second'}
      }
      return {unavailable: 'throughput needs a probe or a metrics endpoint on this neighbour'}
    }
    case 'cpu_usage':
      return fromResources(observer, window, (a, b) => rate(a.cpuSeconds, b.cpuSeconds, a.t, b.t), 'mean', 'ratio', 'CPU accounting')
    case 'cpu_throttled':
      return fromResources(observer, window, (a, b) => {
        if (a.periods === undefined || b.periods === undefined || a.throttledPeriods === undefined || b.throttledPeriods === undefined) return undefined
        const periods = b.periods - a.periods
        return periods > 0 ? (b.throttledPeriods - a.throttledPeriods) / periods : 0
      }, 'mean', 'ratio', 'CFS bandwidth statistics (a CPU quota)')
    case 'memory':
      return fromResources(observer, window, (_a, b) => b.memoryBytes, 'max', 'bytes', 'memory accounting')
    case 'oom_kills':
      return fromResources(observer, window, (a, b) => {
        const kills = (b.oomKills ?? 0) - (a.oomKills ?? 0)
        // a process of its own box, or (without a box) its main process killed by SIGKILL
        return Math.max(kills, 0)
      }, 'sum', 'count', 'OOM accounting')
    case 'restarts': {
      // where the platform knows when each exit happened, they are counted by that time, not by readings
      const times = observer.workflow.exitTimes?.()
      if (times) return {samples: {kind: 'series', values: countsPerInterval(times, window, intervalMs)}, statistic: 'sum', unit: 'count'}
      return fromResources(observer, window, (a, b) => b.exits - a.exits, 'sum', 'count', 'process supervision')
    }
    case 'unready':
      return fromResources(observer, window, (a, b) => (a.unready === undefined || b.unready === undefined ? undefined : b.unready - a.unready), 'sum', 'count', 'readiness (platform kubernetes: its pods\' Ready condition)')
    case 'cpu_pressure':
    case 'memory_pressure':
    case 'io_pressure': {
      const key = signal.split('_')[0] as 'cpu' | 'memory' | 'io'
      return fromResources(observer, window, (a, b) => rate(a.psi?.[key], b.psi?.[key], a.t, b.t, 1e-6), 'mean', 'ratio', 'pressure stall information (cgroup v2)')
    }
    default:
      return {unavailable: `${signal} is not measured by the embedded source`}
  }
}

function rate(a: number | undefined, b: number | undefined, ta: number, tb: number, scale = 1): number | undefined {
  if (a === undefined || b === undefined || tb <= ta) return undefined
  return ((b - a) * scale) / ((tb - ta) / 1000)
}

function fromResources(
  observer: WorkflowObserver, window: Window,
  perStep: (a: TimedSample, b: TimedSample) => number | undefined,
  statistic: SignalInput['statistic'], unit: SignalInput['unit'], source: string,
): Extracted {
  // a sum counts events: each step between two readings in the window it ends in, so that none is lost between windows
  const samples = statistic === 'sum' ? observer.stepsEndingBetween(window.from, window.to) : observer.samplesBetween(window.from, window.to)
  const values: number[] = []
  for (let i = 1; i < samples.length; i++) {
    const v = perStep(samples[i - 1], samples[i])
    if (v !== undefined && Number.isFinite(v)) values.push(v)
  }
  if (values.length === 0 && samples.length > 1) return {unavailable: `this neighbour offers no ${source}`}
  return {samples: {kind: 'series', values}, statistic, unit}
}

/** Counts of events per interval, for the intervals that fit in the window. */
function perInterval(times: number[], window: Window, intervalMs: number): number[] {
  const buckets = Math.max(1, Math.floor((window.to - window.from) / intervalMs))
  const counts = new Array<number>(buckets).fill(0)
  for (const t of times) {
    const i = Math.floor((t - window.from) / intervalMs)
    if (i >= 0 && i < buckets) counts[i]++
  }
  return counts.map((c) => c / (intervalMs / 1000))
}

/** How many of the events fall in each interval of the window [from, to): every one of them, the last part-interval's too. */
function countsPerInterval(times: readonly number[], window: Window, intervalMs: number): number[] {
  // no more buckets than a day of intervals holds, however long the window: wider ones beyond that
  const width = Math.max(intervalMs, (window.to - window.from) / 86_400)
  const buckets = Math.max(1, Math.round((window.to - window.from) / width))
  const counts = new Array<number>(buckets).fill(0)
  for (const t of times) {
    if (t < window.from || t >= window.to) continue
    counts[Math.min(buckets - 1, Math.floor((t - window.from) / width))]++
  }
  return counts
}

/** A neighbour's probe records in a window, less those of intervals in which the instrument itself lagged. */
export interface InstrumentFiltered {
  records: ProbeRecord[]
  /** intervals overlapping the window in which the probe process lagged (LAG_BOUND_MS), whose requests were left out */
  laggedIntervals: number
  /** the requests of those intervals, left out of records */
  requestsInLaggedIntervals: number
}

/**
 * Leaves out the requests scheduled in an interval where the probe process sent late or ran its event loop late:
 * their latency carries the instrument's delay, not only the neighbour's. For the verdict to use, with the counts
 * for the journal. Caution: an instrument starved by the fault itself (a CPU hog that the boundary did not hold)
 * lags exactly when the neighbour suffers, so a window that loses many intervals this way is not evidence of
 * containment; the caller should say so rather than judge on what is left.
 */
export function withoutLaggedIntervals(observer: Pick<WorkflowObserver, 'probe'>, window: Window): InstrumentFiltered {
  const probe = observer.probe
  if (!probe) return {records: [], laggedIntervals: 0, requestsInLaggedIntervals: 0}
  const all = probe.records(window.from, window.to)
  const records = all.filter((r) => !probe.laggedAt(r.t))
  return {records, laggedIntervals: probe.lag(window.from, window.to).filter((i) => i.lagged).length, requestsInLaggedIntervals: all.length - records.length}
}
