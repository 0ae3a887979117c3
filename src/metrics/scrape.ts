// Periodic scraping of a neighbour's Prometheus endpoint, and the window arithmetic on the scrapes: the
// histogram between two instants (for a baseline window or a fault window) and one value per scrape interval.
import http from 'node:http'
import https from 'node:https'

import {
  counterDelta,
  histogramDelta,
  histogramQuantile,
  parsePrometheusText,
  type HistogramData,
  type LabelMatch,
  type MetricFamily,
} from './prom-text.js'

export const DEFAULT_LATENCY_HISTOGRAM = 'http_request_duration_seconds'

export interface ScrapeSnapshot {
  /** epoch milliseconds when the scrape was sent */
  t: number
  /** how long the scrape took */
  durationMs: number
  families: MetricFamily[]
}

export interface ScrapeFailure {
  /** epoch milliseconds when the scrape was sent */
  t: number
  error: string
}

export interface ScraperOptions {
  url: string
  intervalMs: number
  /** per-scrape timeout; default: the interval, at most 10 s */
  timeoutMs?: number
  /** snapshots kept in memory; the oldest are dropped beyond this. Default 7200 (two hours at 1 s) */
  maxSnapshots?: number
  /** keep only these families (and their _bucket/_sum/_count samples); default: every family */
  families?: readonly string[]
}

/**
 * Scrapes one URL every interval, keeping parsed snapshots. A failing scrape (refused, timed out, non-2xx,
 * unparsable) is recorded as a failure and never thrown: a neighbour that stops answering is a finding.
 */
export class Scraper {
  readonly url: string
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly maxSnapshots: number
  private readonly kept: ScrapeSnapshot[] = []
  private readonly failed: ScrapeFailure[] = []
  private successes = 0
  private failuresTotal = 0
  private timer: NodeJS.Timeout | undefined
  private inFlight: Promise<unknown> | undefined
  private running = false
  private startedAt = 0
  /** the grid boundary (in intervals from the start) the current tick was scheduled for */
  private slot = 0
  private readonly only: ReadonlySet<string> | undefined
  /** one kept-alive connection per neighbour, not a new one (and a fetch's machinery) every interval */
  private readonly agent: http.Agent

  constructor(options: ScraperOptions) {
    if (!(options.intervalMs > 0)) throw new Error(`scrape interval must be positive, got ${options.intervalMs}`)
    this.url = options.url
    this.intervalMs = options.intervalMs
    this.timeoutMs = options.timeoutMs ?? Math.min(options.intervalMs, 10_000)
    this.maxSnapshots = options.maxSnapshots ?? 7200
    this.only = options.families && new Set(options.families)
    const agentOptions = {keepAlive: true, maxSockets: 1, maxFreeSockets: 1}
    this.agent = this.url.startsWith('https:') ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
  }

  /** Scrapes now, then on every interval boundary after this moment. */
  start(): void {
    if (this.running) return
    this.running = true
    this.startedAt = Date.now()
    this.slot = 0
    this.tick()
  }

  /** Stops scheduling and waits for a scrape in flight. */
  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.inFlight
    this.agent.destroy()
  }

  /** One scrape, recorded like the scheduled ones; the snapshot, or undefined when it failed. */
  async scrapeOnce(): Promise<ScrapeSnapshot | undefined> {
    const t = Date.now()
    const started = performance.now()
    try {
      const body = await getText(this.url, this.timeoutMs, this.agent)
      const snapshot: ScrapeSnapshot = {t, durationMs: performance.now() - started, families: parsePrometheusText(body, this.only)}
      this.kept.push(snapshot)
      if (this.kept.length > this.maxSnapshots) this.kept.splice(0, this.kept.length - this.maxSnapshots)
      this.successes++
      return snapshot
    } catch (error) {
      this.failuresTotal++
      this.failed.push({t, error: error instanceof Error ? error.message : String(error)})
      if (this.failed.length > this.maxSnapshots) this.failed.splice(0, this.failed.length - this.maxSnapshots)
      return undefined
    }
  }

  /** Snapshots in time order, optionally only those sent in [fromMs, toMs]. */
  snapshots(fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): ScrapeSnapshot[] {
    return this.kept.filter((s) => s.t >= fromMs && s.t <= toMs)
  }

  failures(): ScrapeFailure[] {
    return [...this.failed]
  }

  get successCount(): number {
    return this.successes
  }

  get failureCount(): number {
    return this.failuresTotal
  }

  private tick(): void {
    if (!this.running) return
    const scrape = this.scrapeOnce()
    this.inFlight = scrape
    void scrape.then(() => {
      if (!this.running) return
      // The next boundary of the grid laid from the start, so a slow scrape delays only itself. Never the boundary
      // this tick was for: a timer may fire a fraction of a millisecond before it by Date.now, and a scrape
      // scheduled from there would run twice at one boundary.
      const elapsed = Date.now() - this.startedAt
      this.slot = nextScrapeSlot(this.slot, elapsed, this.intervalMs)
      this.timer = setTimeout(() => this.tick(), this.slot * this.intervalMs - elapsed)
    })
  }
}

/** The grid boundary after `slot` that is still ahead of `elapsedMs`: a slow scrape skips the boundaries it overran. */
export function nextScrapeSlot(slot: number, elapsedMs: number, intervalMs: number): number {
  return Math.max(slot + 1, Math.floor(elapsedMs / intervalMs) + 1)
}

/** GET a text body over a kept-alive connection; non-2xx, timeouts and transport errors reject with a readable message. */
function getText(url: string, timeoutMs: number, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const transport = url.startsWith('https:') ? https : http
    const request = transport.get(url, {
      agent,
      // Ask for the classic text format, not OpenMetrics or protobuf.
      headers: {accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1'},
    }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        clearTimeout(timer)
        const status = response.statusCode ?? 0
        if (status < 200 || status >= 300) reject(new Error(`HTTP ${status}`))
        else resolve(Buffer.concat(chunks).toString('utf8'))
      })
      response.on('error', fail)
    })
    const timer = setTimeout(() => {
      request.destroy(new Error(`timeout after ${timeoutMs} ms`))
    }, timeoutMs)
    function fail(error: Error): void {
      clearTimeout(timer)
      reject(error)
    }
    request.on('error', fail)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Windows over snapshots

/**
 * The two snapshots that bound [fromMs, toMs]: the last one sent at or before each end. Consecutive windows
 * sharing a boundary then split the observations without counting any twice. When no snapshot precedes fromMs,
 * the first one inside the window opens it. Undefined when fewer than two snapshots bound the window.
 */
export function windowBounds(snapshots: readonly ScrapeSnapshot[], fromMs: number, toMs: number): [ScrapeSnapshot, ScrapeSnapshot] | undefined {
  const ordered = [...snapshots].sort((a, b) => a.t - b.t)
  const lastAtOrBefore = (ms: number) => ordered.filter((s) => s.t <= ms).at(-1)
  const first = lastAtOrBefore(fromMs) ?? ordered.find((s) => s.t >= fromMs && s.t <= toMs)
  const last = lastAtOrBefore(toMs)
  if (!first || !last || last.t <= first.t) return undefined
  return [first, last]
}

/** The histogram of observations made inside the window (at scrape resolution), summed over matching series. */
export function windowHistogramDelta(
  snapshots: readonly ScrapeSnapshot[],
  fromMs: number,
  toMs: number,
  metric = DEFAULT_LATENCY_HISTOGRAM,
  labelMatch: LabelMatch = {},
): HistogramData | undefined {
  const bounds = windowBounds(snapshots, fromMs, toMs)
  return bounds && histogramDelta(bounds[0].families, bounds[1].families, metric, labelMatch)
}

/** The q-quantile of a histogram metric over the window; NaN when there are no observations to tell. */
export function windowHistogramQuantile(
  snapshots: readonly ScrapeSnapshot[],
  fromMs: number,
  toMs: number,
  metric = DEFAULT_LATENCY_HISTOGRAM,
  q = 0.99,
  labelMatch: LabelMatch = {},
): number {
  const delta = windowHistogramDelta(snapshots, fromMs, toMs, metric, labelMatch)
  return delta ? histogramQuantile(q, delta.buckets) : Number.NaN
}

export interface IntervalValue {
  /** epoch ms of the snapshot that opens the interval */
  from: number
  /** epoch ms of the snapshot that closes it */
  to: number
  value: number
  /** observations (histograms) or increase (counters) inside the interval */
  count: number
}

function intervals(snapshots: readonly ScrapeSnapshot[], fromMs: number, toMs: number): Array<[ScrapeSnapshot, ScrapeSnapshot]> {
  const bounds = windowBounds(snapshots, fromMs, toMs)
  if (!bounds) return []
  const inside = [...snapshots].filter((s) => s.t >= bounds[0].t && s.t <= bounds[1].t).sort((a, b) => a.t - b.t)
  return inside.slice(1).map((s, i) => [inside[i], s])
}

/**
 * One q-quantile per scrape interval inside the window. An interval without observations has value NaN (kept,
 * so the series stays aligned with time; drop them with `filter((v) => v.count > 0)`).
 */
export function intervalHistogramQuantiles(
  snapshots: readonly ScrapeSnapshot[],
  fromMs: number,
  toMs: number,
  metric = DEFAULT_LATENCY_HISTOGRAM,
  q = 0.99,
  labelMatch: LabelMatch = {},
): IntervalValue[] {
  return intervals(snapshots, fromMs, toMs).map(([a, b]) => {
    const delta = histogramDelta(a.families, b.families, metric, labelMatch)
    return {from: a.t, to: b.t, value: histogramQuantile(q, delta.buckets), count: delta.count}
  })
}

/** The per-second rate of a counter in each scrape interval inside the window, resets handled. */
export function intervalCounterRates(
  snapshots: readonly ScrapeSnapshot[],
  fromMs: number,
  toMs: number,
  metric: string,
  labelMatch: LabelMatch = {},
): IntervalValue[] {
  return intervals(snapshots, fromMs, toMs).map(([a, b]) => {
    const increase = counterDelta(a.families, b.families, metric, labelMatch)
    return {from: a.t, to: b.t, value: increase / ((b.t - a.t) / 1000), count: increase}
  })
}
