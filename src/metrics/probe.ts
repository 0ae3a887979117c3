// An open-loop HTTP load generator. Requests are scheduled by the clock at a fixed rate, never by the previous
// response, so a neighbour that slows down keeps receiving the same load and its slowness shows in full
// (no coordinated omission). Latency is measured from each request's scheduled send time, so any lateness of
// the probe itself is charged to the measurement rather than hidden.
import https from 'node:https'
import {createRequire} from 'node:module'
import type {Histogram, Registry} from 'prom-client'
import {Http1Pool} from './http1.js'

export const PROBE_HISTOGRAM_NAME = 'chaos_probe_request_duration_seconds'
/**
 * Geometric buckets 10% apart, 0.25 ms to 28 s (123 bounds): a quantile read back from them (Prometheus's
 * histogram_quantile, or the Prometheus source's own reading) is within a few percent of the exact one, where the
 * usual 1-2.5-5 buckets put a p99 of 6 ms anywhere between 5 and 7.5 ms.
 */
export const PROBE_BUCKETS: readonly number[] = geometricBuckets(0.000_25, 30, 1.1)

export function geometricBuckets(first: number, last: number, ratio: number): number[] {
  const bounds: number[] = []
  for (let b = first; b <= last * 1.000_001; b *= ratio) bounds.push(Number(b.toPrecision(4)))
  return bounds
}

export interface ProbeRecord {
  /** epoch milliseconds of the scheduled send */
  t: number
  /** from the scheduled send to the end of the response body, or to the failure */
  latencySeconds: number
  /** a response with status below 400 */
  ok: boolean
  status?: number
  /** 'timeout', or the transport error's code (ECONNREFUSED, ECONNRESET...) */
  error?: string
  /**
   * how late the probe sent it after its scheduled time: the instrument's own lateness, inside latencySeconds (which
   * counts from the schedule, so that a stalled probe cannot hide a stalled neighbour); compared between the arms of
   * a run so that a fault that slows the instrument rather than the neighbour can be told apart
   */
  sendLagMs?: number
  /**
   * epoch ms at which the toolkit counted it in its histogram (a remote probe's batch arriving): a scrape taken at T
   * holds exactly the records observed before T, whenever they were sent
   */
  observedAt?: number
}

export type ProbeOutcome = 'ok' | 'error' | 'timeout'

export interface HttpProbeOptions {
  url: string
  /** requests per second */
  rate: number
  /** a request not answered this long after its scheduled send counts as an error ('timeout') */
  timeoutMs: number
  method?: 'GET' | 'POST' | 'HEAD'
  /** the `neighbor` label of the histogram */
  neighbor?: string
  /** where to register `chaos_probe_request_duration_seconds`; none: not exported */
  registry?: Registry
  /** records kept in memory; the oldest are dropped beyond this. Default 2,000,000 (over an hour at 500/s) */
  maxRecords?: number
  /** longest the scheduler sleeps (it wakes sooner when a request comes due or may time out). Default 1000 ms */
  maxTickMs?: number
  /** each record as it completes; given, the probe keeps none itself (a remote probe's child streams them instead) */
  onRecord?: (record: ProbeRecord) => void
  /** each send, with how late it left relative to its schedule (the instrument's own lag) */
  onSend?: (scheduledEpoch: number, lagMs: number) => void
}

export interface ProbeStats {
  /** requests sent (every one that came due before stop) */
  sent: number
  completed: number
  ok: number
  /** failed requests, timeouts included */
  errors: number
  timeouts: number
  inFlight: number
  /** records dropped to stay within maxRecords */
  dropped: number
  /** how late the probe sent requests relative to their schedule: a large value means the probe is overloaded */
  meanSendLagMs: number
  maxSendLagMs: number
}

interface InFlightRequest {
  scheduledAt: number
  scheduledEpoch: number
  sendLagMs: number
  deadline: number
  /** gives up on the request in flight (a timeout) */
  cancel?: () => void
  done: boolean
}

export class HttpProbe {
  readonly url: URL
  readonly rate: number
  readonly timeoutMs: number
  readonly method: 'GET' | 'POST' | 'HEAD'
  readonly neighbor: string
  private readonly maxTickMs: number
  private readonly onRecord: ((record: ProbeRecord) => void) | undefined
  private readonly onSend: ((scheduledEpoch: number, lagMs: number) => void) | undefined
  /** plain http: the toolkit's own lean HTTP/1.1 client; https: Node's */
  private readonly pool: Http1Pool | undefined
  private readonly agent: https.Agent | undefined
  private readonly histogram: Histogram<'neighbor' | 'outcome'> | undefined
  private readonly kept: RecordStore
  /** in scheduled order, which is also deadline order, so timeouts are found from the head */
  private pending: InFlightRequest[] = []
  private pendingHead = 0
  private timer: NodeJS.Timeout | undefined
  private state: 'idle' | 'running' | 'draining' | 'stopped' = 'idle'
  private startMono = 0
  private startEpoch = 0
  private nextIndex = 0
  private inFlightCount = 0
  private counts = {completed: 0, ok: 0, errors: 0, timeouts: 0, lagSumMs: 0, lagMaxMs: 0}
  private drained: (() => void) | undefined
  private stopping: Promise<void> | undefined

  constructor(options: HttpProbeOptions) {
    ;({url: this.url, rate: this.rate, timeoutMs: this.timeoutMs, method: this.method, neighbor: this.neighbor} = probeIdentity(options))
    this.kept = new RecordStore(options.maxRecords)
    this.maxTickMs = options.maxTickMs ?? 1000
    this.onRecord = options.onRecord
    this.onSend = options.onSend
    // Every request lives at most timeoutMs, so rate × timeout sockets always suffice: a stalled neighbour
    // must not make the probe queue requests behind its own socket limit.
    const maxSockets = Math.ceil(this.rate * (this.timeoutMs / 1000) * 1.2) + 16
    if (this.url.protocol === 'https:') this.agent = new https.Agent({keepAlive: true, maxSockets, maxFreeSockets: maxSockets})
    else {
      this.pool = new Http1Pool({
        host: this.url.hostname.replace(/^\[|\]$/g, ''), port: Number(this.url.port || 80), path: `${this.url.pathname}${this.url.search}`,
        method: this.method, maxIdle: maxSockets,
      })
    }
    this.histogram = options.registry && probeHistogram(options.registry, this.neighbor)
  }

  start(): void {
    if (this.state !== 'idle') throw new Error('a probe starts once')
    this.state = 'running'
    this.startMono = performance.now()
    this.startEpoch = Date.now()
    this.tick()
  }

  /** Stops sending, then waits for the requests in flight (each ends by its timeout at the latest). */
  stop(): Promise<void> {
    if (this.state === 'idle') this.state = 'stopped'
    if (this.state === 'running') this.stopping = this.drain()
    return this.stopping ?? Promise.resolve()
  }

  private async drain(): Promise<void> {
    clearTimeout(this.timer)
    this.tick() // send what came due up to this instant
    this.state = 'draining'
    if (this.inFlightCount > 0) await new Promise<void>((resolve) => (this.drained = resolve))
    this.state = 'stopped'
    clearTimeout(this.timer)
    this.agent?.destroy()
    this.pool?.destroy()
  }

  /** Records of requests scheduled in [fromMs, toMs), in scheduled order. */
  records(fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): ProbeRecord[] {
    return this.kept.between(fromMs, toMs)
  }

  stats(): ProbeStats {
    const {completed, ok, errors, timeouts, lagSumMs, lagMaxMs} = this.counts
    return {
      sent: this.nextIndex,
      completed, ok, errors, timeouts, dropped: this.kept.dropped,
      inFlight: this.inFlightCount,
      meanSendLagMs: this.nextIndex === 0 ? 0 : lagSumMs / this.nextIndex,
      maxSendLagMs: lagMaxMs,
    }
  }

  /**
   * Sends every request that has come due, expires timed-out ones, and sleeps until the next request is due or
   * the oldest one in flight may time out (at least 1 ms, at most maxTickMs): one timer for the whole probe,
   * however high the rate. Waking for the next due request rather than on a fixed grid keeps the probe's own
   * lateness, which is charged to every latency, near 1 ms, and a slow probe (5/s) wakes 5 times a second, not 100.
   */
  private tick(): void {
    const now = performance.now()
    const periodMs = 1000 / this.rate
    if (this.state === 'running') {
      while (this.startMono + this.nextIndex * periodMs <= now) {
        const offset = this.nextIndex * periodMs
        this.nextIndex++
        this.send(this.startMono + offset, this.startEpoch + offset, now)
      }
    }
    this.expireTimedOut(now)
    if (this.state === 'stopped') return
    const after = performance.now()
    const untilNextDue = this.state === 'running' ? this.startMono + this.nextIndex * periodMs - after : Number.POSITIVE_INFINITY
    // the oldest request in flight is the first that can time out
    const untilNextDeadline = this.pendingHead < this.pending.length ? this.pending[this.pendingHead].deadline - after : Number.POSITIVE_INFINITY
    this.timer = setTimeout(() => this.tick(), Math.max(1, Math.min(untilNextDue, untilNextDeadline, this.maxTickMs)))
  }

  private send(scheduledAt: number, scheduledEpoch: number, now: number): void {
    const lag = now - scheduledAt
    this.counts.lagSumMs += lag
    if (lag > this.counts.lagMaxMs) this.counts.lagMaxMs = lag
    this.onSend?.(scheduledEpoch, lag)
    // The deadline counts from the scheduled send: a caller waiting on this request gives up then.
    const entry: InFlightRequest = {scheduledAt, scheduledEpoch, sendLagMs: lag, deadline: scheduledAt + this.timeoutMs, done: false}
    this.pending.push(entry)
    this.inFlightCount++
    if (this.pool) {
      const handle = this.pool.send((result) => this.finish(entry, {ok: result.error === undefined && (result.status ?? 0) < 400, status: result.status, error: result.error}))
      // finish may have run already (a synchronous failure): then there is nothing to cancel
      if (!entry.done) entry.cancel = () => handle.abort()
      return
    }
    const request = https.request(this.url, {method: this.method, agent: this.agent})
    entry.cancel = () => request.destroy()
    request.on('response', (response) => {
      response.on('data', () => {})
      response.on('end', () => this.finish(entry, {ok: (response.statusCode ?? 0) < 400, status: response.statusCode}))
      response.on('error', (error) => this.finish(entry, {ok: false, status: response.statusCode, error: errorCode(error)}))
    })
    request.on('error', (error) => this.finish(entry, {ok: false, error: errorCode(error)}))
    request.end()
  }

  private expireTimedOut(now: number): void {
    while (this.pendingHead < this.pending.length) {
      const entry = this.pending[this.pendingHead]
      if (!entry.done) {
        if (entry.deadline > now) break
        const cancel = entry.cancel
        this.finish(entry, {ok: false, error: 'timeout'}, true)
        cancel?.()
      }
      this.pendingHead++
    }
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead)
      this.pendingHead = 0
    }
  }

  private finish(entry: InFlightRequest, outcome: {ok: boolean, status?: number, error?: string}, timedOut = false): void {
    if (entry.done) return
    entry.done = true
    entry.cancel = undefined
    this.inFlightCount--
    const latencySeconds = timedOut ? this.timeoutMs / 1000 : (performance.now() - entry.scheduledAt) / 1000
    const record: ProbeRecord = {t: entry.scheduledEpoch, latencySeconds, ok: outcome.ok, sendLagMs: entry.sendLagMs}
    if (outcome.status !== undefined) record.status = outcome.status
    if (outcome.error !== undefined) record.error = outcome.error
    if (this.onRecord) this.onRecord(record)
    else this.kept.push(record)
    this.counts.completed++
    if (outcome.ok) this.counts.ok++
    else this.counts.errors++
    if (timedOut) this.counts.timeouts++
    this.histogram?.observe({neighbor: this.neighbor, outcome: outcomeOf(record)}, latencySeconds)
    if (this.inFlightCount === 0 && this.drained) {
      const resolve = this.drained
      this.drained = undefined
      resolve()
    }
  }
}

/** A probe's records in memory, at most `max` of them (the oldest dropped first), cut by scheduled time. */
export class RecordStore {
  dropped = 0
  private readonly kept: ProbeRecord[] = []

  constructor(private readonly max = 2_000_000) {}

  push(record: ProbeRecord): void {
    this.kept.push(record)
    if (this.kept.length > this.max) {
      // Drop a tenth at once so trimming stays cheap.
      const excess = this.kept.length - this.max + Math.ceil(this.max / 10)
      this.kept.splice(0, excess)
      this.dropped += excess
    }
  }

  /** Records counted in the histogram in [fromMs, toMs) (observedAt), in scheduled order. */
  observedBetween(fromMs: number, toMs: number): ProbeRecord[] {
    return this.kept.filter((r) => r.observedAt !== undefined && r.observedAt >= fromMs && r.observedAt < toMs).sort((a, b) => a.t - b.t)
  }

  /** Records of requests scheduled in [fromMs, toMs), in scheduled order. */
  between(fromMs: number, toMs: number): ProbeRecord[] {
    return this.kept.filter((r) => r.t >= fromMs && r.t < toMs).sort((a, b) => a.t - b.t)
  }
}

/** The histogram's `outcome` label of a record. */
export function outcomeOf(record: ProbeRecord): ProbeOutcome {
  return record.ok ? 'ok' : record.error === 'timeout' ? 'timeout' : 'error'
}

/** What every probe checks of its options and derives from them, in-process or remote. */
export function probeIdentity(options: Pick<HttpProbeOptions, 'url' | 'rate' | 'timeoutMs' | 'method' | 'neighbor'>) {
  const url = new URL(options.url)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`probe URL must be http(s), got ${options.url}`)
  if (!(options.rate > 0)) throw new Error(`probe rate must be positive, got ${options.rate}`)
  if (!(options.timeoutMs > 0)) throw new Error(`probe timeout must be positive, got ${options.timeoutMs}`)
  return {url, rate: options.rate, timeoutMs: options.timeoutMs, method: options.method ?? 'GET', neighbor: options.neighbor ?? url.host}
}

/** The registry's probe histogram, with the neighbour's series of every outcome in it from the start. */
export function probeHistogram(registry: Registry, neighbor: string): Histogram<'neighbor' | 'outcome'> {
  // Several probes (one per neighbour) share one histogram on a registry.
  const histogram = (registry.getSingleMetric(PROBE_HISTOGRAM_NAME) as Histogram<'neighbor' | 'outcome'> | undefined) ?? newProbeHistogram(registry)
  // a rate over a series born mid-window misses its first events
  for (const outcome of ['ok', 'error', 'timeout'] as const) histogram.zero({neighbor, outcome})
  return histogram
}

function newProbeHistogram(registry: Registry): Histogram<'neighbor' | 'outcome'> {
  // loaded only when a registry asks for it: the probe process (probe-main.ts) starts faster without prom-client
  const {Histogram: PromHistogram} = createRequire(import.meta.url)('prom-client') as typeof import('prom-client')
  return new PromHistogram({
    name: PROBE_HISTOGRAM_NAME,
    help: 'Latency of the chaos probe\'s requests, from the scheduled send to the end of the response',
    labelNames: ['neighbor', 'outcome'],
    buckets: [...PROBE_BUCKETS],
    registers: [registry],
  })
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code) return code
  return error instanceof Error ? error.message : String(error)
}
