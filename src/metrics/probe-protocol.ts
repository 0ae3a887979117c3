// What the toolkit and its probe process (probe-main.ts) say to each other over the child's IPC channel: the
// toolkit asks for probes to start and stop; the child streams back each probe's records in small batches and,
// every interval, how late the instrument itself was.
import type {ProbeRecord} from './probe.js'

export interface ProbeStartSpec {
  url: string
  rate: number
  timeoutMs: number
  method?: 'GET' | 'POST' | 'HEAD'
  maxTickMs?: number
}

/** The toolkit to the probe process. */
export type ToProbeProcess =
  | {type: 'start', id: number, spec: ProbeStartSpec}
  | {type: 'stop', id: number}

/** What the probe process knows of one probe that its records do not tell. */
export interface RemoteProbeCounts {
  sent: number
  inFlight: number
  meanSendLagMs: number
  maxSendLagMs: number
}

/**
 * One record, compact: [scheduled epoch ms, latency s, ok 1/0, status or null, error or null, send lag ms]. The
 * first four alone, or with the error fifth, are records of before the send lag was kept (bench recordings), still read.
 */
export type PackedRecord =
  | [number, number, 0 | 1, number | null]
  | [number, number, 0 | 1, number | null, string]
  | [number, number, 0 | 1, number | null, string | null, number]

/** How late the instrument was in one interval [from, to) of the probe process's clock (epoch ms). */
export interface InstrumentInterval {
  from: number
  to: number
  /** the latest send of a request scheduled in the interval, after its scheduled time (0 with no sends) */
  maxSendLagMs: number
  /** the probe process's event-loop delay (perf_hooks monitorEventLoopDelay), 99th percentile and maximum */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  /** the instrument lagged beyond LAG_BOUND_MS: its requests' latencies carry the instrument's delay */
  lagged: boolean
}

/** The probe process to the toolkit. */
export type FromProbeProcess =
  | {type: 'batch', id: number, records: PackedRecord[], counts: RemoteProbeCounts}
  | {type: 'stopped', id: number, records: PackedRecord[], counts: RemoteProbeCounts}
  | {type: 'lag', intervals: Omit<InstrumentInterval, 'lagged'>[]}
  | {type: 'error', id?: number, message: string}

/**
 * An interval in which the probe process sent a request or ran its event loop this late is flagged lagged. Chosen
 * from measurement (docs/safety.md, "The instrument"): in the toolkit's cgroup on a shared 2-core machine, with and
 * without `stress-ng --cpu 1 --cpu-load 50`, the per-second maxima of both had a median near 6 ms and a p90 near
 * 14 ms; the run loop's stalls that used to land on the probe were 100-800 ms. 25 ms is above the one and far below
 * the other. It guards against the instrument's gross stalls; it does not make a few milliseconds of jitter vanish.
 */
export const LAG_BOUND_MS = 25

export function isLagged(interval: Omit<InstrumentInterval, 'lagged'>): boolean {
  return interval.maxSendLagMs > LAG_BOUND_MS || interval.loopDelayMaxMs > LAG_BOUND_MS
}

export function packRecord(r: ProbeRecord): PackedRecord {
  if (r.sendLagMs !== undefined) return [r.t, r.latencySeconds, r.ok ? 1 : 0, r.status ?? null, r.error ?? null, r.sendLagMs]
  return r.error === undefined ? [r.t, r.latencySeconds, r.ok ? 1 : 0, r.status ?? null] : [r.t, r.latencySeconds, r.ok ? 1 : 0, r.status ?? null, r.error]
}

export function unpackRecord(p: PackedRecord): ProbeRecord {
  const record: ProbeRecord = {t: p[0], latencySeconds: p[1], ok: p[2] === 1}
  if (p[3] !== null) record.status = p[3]
  if (p.length >= 5 && p[4] !== null) record.error = p[4]
  if (p.length === 6) record.sendLagMs = p[5]
  return record
}
