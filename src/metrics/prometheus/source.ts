// Prometheus as the measurement source: every neighbour signal is a PromQL query, each phase's series comes
// from /api/v1/query_range with step = the experiment's interval, and the verdict engine judges those series as
// it judges the embedded ones. It refuses to inject what it could not measure: the queries are checked before
// anything starts (reachable, accepted) and again before the fault (one series each), and a Prometheus that
// stops answering during the injection ends it.
import {readFileSync} from 'node:fs'

import type {Experiment, HypothesisSpec, PrometheusMetricsSpec} from '../../experiment/schema.js'
import {PlanError} from '../../platforms/platform.js'
import type {Extracted, MeasurementSource, Window} from '../source.js'
import {hypothesesFor} from '../source.js'
import {credentialsFromEnv, PrometheusClient, PrometheusError, type SeriesSample} from './client.js'
import {isPerNeighbor, promDuration, rateWindowMs, selectorsFor, signalQuery, type NeighborSelectors, type SignalQuery} from './queries.js'

/** Longest the watchdog waits for an answer during injection, as a share of the interval: the fault must be gone within two. */
const WATCH_BUDGET_SHARE = 0.5
/** Most series listed when a query answers several where one was meant. */
const SHOWN_SERIES = 3
/** Queries in flight at once: an experiment may have hundreds of neighbours, Prometheus should not notice. */
const CONCURRENT_QUERIES = 8

interface Measurement {
  neighbor: string
  hypothesis: HypothesisSpec
  selectors: NeighborSelectors
  signal: SignalQuery
}

type Fetched = {values: number[]} | {observations: {values: number[], blocks: number[]}, covered?: Window} | {unavailable: string}

export class PrometheusSource implements MeasurementSource {
  private readonly measurements: Measurement[]
  private readonly rangeMs: number
  private readonly intervalMs: number
  /** by window, then measurement */
  private readonly fetched = new Map<string, Map<Measurement, Fetched>>()

  private constructor(private readonly experiment: Experiment, private readonly config: PrometheusMetricsSpec, private readonly client: PrometheusClient) {
    this.intervalMs = experiment.phases.interval
    this.rangeMs = rateWindowMs(this.intervalMs, config.scrapeInterval)
    this.measurements = experiment.neighbors.flatMap((neighbor) => {
      const selectors = selectorsFor(neighbor.name, config, neighbor.probe !== undefined)
      return hypothesesFor(neighbor.name, experiment.hypothesis).map((hypothesis) => ({
        neighbor: neighbor.name, hypothesis, selectors, signal: signalQuery(hypothesis, selectors, this.rangeMs),
      }))
    })
  }

  /** Refuses (exit 2) what the experiment gets wrong: unknown neighbours, credentials, the CA file. */
  static open(experiment: Experiment, config: PrometheusMetricsSpec): PrometheusSource {
    for (const name of Object.keys(config.neighbors)) {
      if (!experiment.neighbors.some((n) => n.name === name)) {
        throw new PlanError(`metrics.neighbors.${name}: no neighbour is named "${name}" (neighbours: ${experiment.neighbors.map((n) => n.name).join(', ')})`)
      }
    }
    experiment.hypothesis.forEach((h, i) => {
      if (h.promql !== undefined && h.neighbor === undefined && experiment.neighbors.length > 1 && !isPerNeighbor(h.promql)) {
        throw new PlanError(`hypothesis ${i + 1} (${h.signal}): its promql applies to every neighbour but names none; use $selector in it, or give neighbor:`)
      }
    })
    let credentials
    try {
      credentials = credentialsFromEnv()
    } catch (error) {
      throw new PlanError((error as Error).message)
    }
    let ca: Buffer | undefined
    if (config.caFile !== undefined) {
      try {
        ca = readFileSync(config.caFile)
      } catch (error) {
        throw new PlanError(`metrics.caFile: cannot read ${config.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      }
    }
    const client = new PrometheusClient({url: config.url, timeoutMs: config.timeout, retries: config.retries, credentials, ca})
    return new PrometheusSource(experiment, config, client)
  }

  /** Before anything starts: Prometheus answers, and accepts every query (a malformed one is refused with its own words). */
  async plan(): Promise<string[]> {
    const queries = [...new Set(this.measurements.map((m) => m.signal.query))]
    for (const query of queries) {
      try {
        await this.client.query(query)
      } catch (error) {
        // not reaching Prometheus is about no query in particular, and this machine's situation (exit 4)
        if (!(error instanceof PrometheusError) || error.kind !== 'api') throw new PlanError((error as Error).message, 4)
        const which = this.measurements.find((m) => m.signal.query === query)!
        // a malformed query is the experiment's mistake (exit 2)
        throw new PlanError(`${describe(which)}: ${error.message}\n  query: ${query}`, error.errorType === 'bad_data' ? 2 : 4)
      }
    }
    return [
      `measurement: Prometheus at ${this.config.url} (${this.client.options.credentials?.scheme ?? 'no'} auth), rate window ${promDuration(this.rangeMs)}, one point per ${promDuration(this.intervalMs)}`,
      ...this.experiment.neighbors.map((n) => {
        const s = selectorsFor(n.name, this.config, n.probe !== undefined)
        const http = s.useProbe ? `HTTP signals from the toolkit's probe {${s.probe}} (served on 127.0.0.1:${this.config.toolkit.port} unless --metrics-port says otherwise)` : `HTTP signals from {${s.app}}`
        return `  ${n.name}: {${s.app}}, cAdvisor {${s.container}}; ${http}`
      }),
      // a kubelet's cAdvisor refreshes its figures every 10-15 s (housekeeping) and stamps samples with that time:
      // shorter windows would see no change, or none at all
      ...(this.experiment.platform === 'kubernetes' && this.config.scrapeInterval < 15_000
        ? [`note: on a cluster, cAdvisor's container_* figures change only every 10-15 s (kubelet housekeeping); metrics.scrapeInterval ${promDuration(this.config.scrapeInterval)} gives a rate window of ${promDuration(this.rangeMs)}, which may see no change: 15s or more is safer`]
        : []),
    ]
  }

  async checkBeforeInjecting(baseline: Window): Promise<string | undefined> {
    const problems = await mapLimited(this.measurements, CONCURRENT_QUERIES, async (m) => {
      const fetched = await this.fetch(m, baseline)
      return 'unavailable' in fetched ? `${describe(m)}: ${fetched.unavailable}\n  query: ${m.signal.query}` : undefined
    })
    const found = problems.filter((p) => p !== undefined)
    return found.length === 0 ? undefined : `Prometheus cannot measure what the hypothesis needs, so nothing was injected:\n${found.join('\n')}`
  }

  watch(intervalMs: number, onLost: (reason: string) => void): () => void {
    let stopped = false
    let timer: NodeJS.Timeout | undefined
    const budget = Math.max(100, intervalMs * WATCH_BUDGET_SHARE)
    const check = async () => {
      const started = Date.now()
      try {
        // the cheapest query that still goes through authentication and the query engine
        await this.client.query('vector(1)', undefined, {deadline: started + budget, timeoutMs: budget, retries: 10, backoffMs: 50})
      } catch (error) {
        if (stopped) return
        stopped = true
        onLost(`Prometheus stopped answering during the injection (${(error as Error).message})`)
        return
      }
      if (!stopped) timer = setTimeout(check, Math.max(0, started + intervalMs - Date.now()))
    }
    timer = setTimeout(check, 0)
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }

  async collect(windows: Window[]): Promise<void> {
    // Samples up to the window's end are in Prometheus once the scrape that took them has finished.
    const settled = Math.max(...windows.map((w) => w.to)) + Math.min(this.config.scrapeInterval, 5000)
    if (settled > Date.now()) await new Promise((resolve) => setTimeout(resolve, settled - Date.now()))
    await mapLimited(windows.flatMap((w) => this.measurements.map((m) => [m, w] as const)), CONCURRENT_QUERIES, ([m, w]) => this.fetch(m, w))
  }

  extract(neighbor: string, hypothesis: HypothesisSpec, window: Window): Extracted {
    const m = this.measurements.find((x) => x.neighbor === neighbor && x.hypothesis === hypothesis)
    const fetched = m && this.fetched.get(key(window))?.get(m)
    if (!m || !fetched) return {unavailable: 'Prometheus was not asked for this window'}
    if ('unavailable' in fetched) return {unavailable: `Prometheus: ${fetched.unavailable}`}
    if ('observations' in fetched) return {samples: {kind: 'observations', ...fetched.observations}, statistic: m.signal.statistic, unit: m.signal.unit}
    return {samples: {kind: 'series', values: fetched.values}, statistic: m.signal.statistic, unit: m.signal.unit}
  }

  covered(neighbor: string, hypothesis: HypothesisSpec, window: Window): Window | undefined {
    const m = this.measurements.find((x) => x.neighbor === neighbor && x.hypothesis === hypothesis)
    const fetched = m && this.fetched.get(key(window))?.get(m)
    return fetched && 'covered' in fetched ? fetched.covered : undefined
  }

  /** One measurement over one window; each point's rate window lies inside the phase. */
  private async fetch(m: Measurement, window: Window): Promise<Fetched> {
    let fetched: Fetched
    const start = window.from + this.rangeMs
    // The counters at each interval's edge: their differences are the requests of each interval. A point reads the
    // latest scrape before it, up to a scrape interval old: read from one scrape interval into the phase, so that the
    // first scrape read was taken inside it, not before (a fault's window would otherwise begin with requests from
    // before the fault).
    const firstEdge = window.from + this.config.scrapeInterval
    if (m.signal.shape === 'histogram' && firstEdge >= window.to) {
      fetched = {unavailable: `the window (${promDuration(window.to - window.from)}) is no longer than a scrape interval (${promDuration(this.config.scrapeInterval)})`}
    } else if (m.signal.shape === 'histogram') {
      try {
        const series = await this.client.queryRange(m.signal.query, firstEdge, window.to, this.intervalMs)
        const observations = series.length === 0 ? undefined : histogramObservations(series)
        fetched = observations === undefined ? {unavailable: await this.explainSeries(m, series, window)}
          : typeof observations === 'string' ? {unavailable: observations}
            : {observations, covered: m.signal.scrapedAt === undefined ? undefined : await this.scrapeSpan(m.signal.scrapedAt, firstEdge, window.to)}
      } catch (error) {
        fetched = {unavailable: (error as Error).message}
      }
    } else if (start > window.to) {
      fetched = {unavailable: `the window (${promDuration(window.to - window.from)}) is shorter than the rate window (${promDuration(this.rangeMs)})`}
    } else {
      try {
        const series = await this.client.queryRange(m.signal.query, start, window.to, this.intervalMs)
        fetched = series.length === 1 ? {values: numbers(series[0])} : {unavailable: await this.explainSeries(m, series, window)}
      } catch (error) {
        fetched = {unavailable: (error as Error).message}
      }
    }
    const byMeasurement = this.fetched.get(key(window)) ?? new Map<Measurement, Fetched>()
    byMeasurement.set(m, fetched)
    this.fetched.set(key(window), byMeasurement)
    return fetched
  }

  /**
   * From the scrape the first point reads to the one the last point reads: the requests between them are what the
   * window's histogram counted. Undefined when Prometheus cannot say (the cross-check then uses the window).
   */
  private async scrapeSpan(query: string, fromMs: number, toMs: number): Promise<Window | undefined> {
    try {
      const series = await this.client.queryRange(query, fromMs, toMs, this.intervalMs)
      const times = series.length === 1 ? numbers(series[0]) : []
      return times.length >= 2 ? {from: times[0] * 1000, to: times.at(-1)! * 1000} : undefined
    } catch {
      return undefined
    }
  }

  /** Why a query did not answer exactly one series, as precisely as Prometheus can tell. */
  private async explainSeries(m: Measurement, series: SeriesSample[], window: Window): Promise<string> {
    if (m.selectors.useProbe && series.length === 0 && m.signal.query.includes('chaos_probe_')) {
      return `no series of the toolkit's probe {${m.selectors.probe}}: is this Prometheus scraping the toolkit at 127.0.0.1:${this.config.toolkit.port} (metrics.toolkit.port, or --metrics-port; job chaos in docs/prometheus/prometheus.yml)? Or set metrics.latency: service`
    }
    if (series.length > 1) {
      const shown = series.slice(0, SHOWN_SERIES).map((s) => labels(s.metric)).join(', ')
      return `${series.length} series where one was meant (${shown}${series.length > SHOWN_SERIES ? ', ...' : ''}); aggregate them (sum, max) or narrow the selector`
    }
    const selectorHint = `metrics.neighbors.${m.neighbor}.selector`
    try {
      const targets = await this.client.query(`up{${m.selectors.app}}`, window.to)
      const up = targets.resultType === 'vector' ? targets.result : []
      if (up.length === 0) return `no series, and no scrape target matches {${m.selectors.app}}: is Prometheus scraping this neighbour? (set ${selectorHint})`
      if (up.every((t) => t.value[1] === '0')) return `no series: its target ${labels(up[0].metric)} is down`
    } catch {
      // the plain answer below is still true
    }
    return m.signal.origin === 'promql'
      ? 'no series: the query matches no data'
      : 'no series: the target is up but the query found no data (a metric this neighbour does not export, too few scrapes so far, or a rate window shorter than two scrapes: check metrics.scrapeInterval)'
  }
}

/** fn over every item, at most `limit` at a time; results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return results
}

/**
 * Cumulative bucket counters (one series per `le`, one point per interval edge) as the requests they counted: per
 * interval, each bucket's new requests spread evenly across the bucket, the way histogram_quantile interpolates
 * (the lowest bucket from 0, the +Inf bucket at the highest finite bound), with the interval as the block. The
 * verdict then runs the same statistics on them as on the embedded probe's requests. A string says what is wrong.
 */
export function histogramObservations(series: SeriesSample[]): {values: number[], blocks: number[]} | string {
  const buckets = series.map((s) => ({le: s.metric.le === '+Inf' ? Infinity : Number(s.metric.le), points: new Map(s.values.map(([t, v]) => [t, Number(v)]))}))
  if (buckets.some((b) => Number.isNaN(b.le))) return 'expected a histogram\'s cumulative buckets, one series per le (sum by (le) (..._bucket{...}))'
  buckets.sort((a, b) => a.le - b.le)
  const times = [...new Set(series.flatMap((s) => s.values.map(([t]) => t)))].sort((a, b) => a - b)
  const highestFinite = buckets.filter((b) => Number.isFinite(b.le)).at(-1)?.le ?? 0
  const values: number[] = []
  const blocks: number[] = []
  for (let k = 1; k < times.length; k++) {
    let below = 0
    let lower = 0
    for (const bucket of buckets) {
      const before = bucket.points.get(times[k - 1])
      const after = bucket.points.get(times[k])
      // a counter that went down was reset: it counted `after` since
      const cumulative = before === undefined || after === undefined ? 0 : after >= before ? after - before : after
      const count = Math.max(0, Math.round(cumulative - below))
      below = Math.max(below, cumulative)
      const upper = Number.isFinite(bucket.le) ? bucket.le : highestFinite
      for (let j = 0; j < count; j++) {
        values.push(Number.isFinite(bucket.le) ? lower + (upper - lower) * (j + 0.5) / count : highestFinite)
        blocks.push(k - 1)
      }
      if (Number.isFinite(bucket.le)) lower = bucket.le
    }
  }
  return values.length === 0 ? 'the histogram counted no requests in this window' : {values, blocks}
}

function numbers(series: SeriesSample): number[] {
  return series.values.map(([, v]) => Number(v)).filter((v) => Number.isFinite(v))
}

function labels(metric: Record<string, string>): string {
  return `{${Object.entries(metric).map(([k, v]) => `${k}="${v}"`).join(', ')}}`
}

function key(window: Window): string {
  return `${window.from}-${window.to}`
}

function describe(m: Measurement): string {
  return `${m.neighbor} ${m.signal.origin === 'promql' ? `${m.hypothesis.signal} (promql)` : m.hypothesis.signal}`
}
