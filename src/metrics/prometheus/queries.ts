// The built-in signals as PromQL, over the toolkit probe's histogram (chaos_probe_request_duration_seconds, for
// a neighbour with a probe), the demo workload's metric names (http_request_duration_seconds, http_requests_total,
// up) and cAdvisor's (container_*), and a hypothesis's own `promql:` with its placeholders. Every query is meant
// to answer one series per neighbour (the built-in ones aggregate with sum()), except the latency quantiles, which
// read the cumulative bucket counters (one series per `le`) so that the same statistics run on their requests as on
// the embedded probe's.
import type {HypothesisSpec, PrometheusMetricsSpec, SignalName} from '../../experiment/schema.js'
import type {SignalInput} from '../../verdict/types.js'

/** How a neighbour's series are found: label matchers without the braces, e.g. `instance="127.0.0.1:19502"`. */
export interface NeighborSelectors {
  /** its own series: HTTP metrics, process metrics, up */
  app: string
  /** its cAdvisor series */
  container: string
  /** the toolkit probe's series for this neighbour, when it has a probe */
  probe?: string
  /** its HTTP signals (latency, errors, throughput) come from the probe's series rather than its own */
  useProbe?: boolean
}

export interface SignalQuery {
  query: string
  statistic: SignalInput['statistic']
  unit: SignalInput['unit']
  /** where the query came from, for messages */
  origin: 'built-in' | 'promql'
  /** series: one series of values; histogram: cumulative bucket counters, one series per `le` */
  shape: 'series' | 'histogram'
  /**
   * histogram: when the scrape each point reads was taken (epoch seconds, one series): the requests a window's
   * counters hold are those between its first and last point's scrapes, not the window's own edges
   */
  scrapedAt?: string
}

/**
 * The label convention when the experiment names no selector: a neighbour's scrape job is named after it, and so
 * is its container.
 */
export function selectorsFor(neighbor: string, config: PrometheusMetricsSpec, hasProbe = false): NeighborSelectors {
  const given = config.neighbors[neighbor] ?? {}
  const selectors: NeighborSelectors = {
    app: matchers(given.selector ?? `{job="${neighbor}"}`),
    container: matchers(given.containerSelector ?? `{container="${neighbor}"}`),
  }
  if (hasProbe) {
    selectors.probe = `${matchers(config.toolkit.selector)}, neighbor="${neighbor}"`
    selectors.useProbe = config.latency === 'probe'
  }
  return selectors
}

/** `{a="b"}` -> `a="b"` (the schema has checked the braces). */
function matchers(selector: string): string {
  return selector.trim().slice(1, -1).trim().replace(/,\s*$/, '')
}

/** The rate window of every built-in query: one interval, but never fewer than two scrapes (rate needs two samples). */
export function rateWindowMs(intervalMs: number, scrapeIntervalMs: number): number {
  return Math.max(intervalMs, 2 * scrapeIntervalMs)
}

/** A duration as PromQL writes it: 2s, 1500ms. */
export function promDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`
}

/** `metric{selector, extra...}` */
function series(metric: string, selector: string, ...extra: string[]): string {
  return `${metric}{${[selector, ...extra].filter((m) => m !== '').join(', ')}}`
}

/** A series selector without its container matcher. */
export function withoutContainer(selector: string): string {
  return selector.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((m) => m.trim()).filter((m) => m !== '' && !/^container\s*(=|!=|=~|!~)/.test(m)).join(', ')
}

type Builder = (s: NeighborSelectors, range: string) => string

interface BuiltIn {
  build: Builder
  statistic: SignalInput['statistic']
  unit: SignalInput['unit']
  shape?: SignalQuery['shape']
  scrapedAt?: Builder
}

const PROBE = 'chaos_probe_request_duration_seconds'
const SERVICE = 'http_request_duration_seconds'

/** The latency histogram's cumulative buckets: the probe's answered requests, else the service's own. */
const buckets: Builder = (s) => s.useProbe && s.probe !== undefined
  ? `sum by (le) (${series(`${PROBE}_bucket`, s.probe, 'outcome="ok"')})`
  : `sum by (le) (${series(`${SERVICE}_bucket`, s.app)})`
/** The time of the latest scrape of those counters (timestamp() of the raw series: an aggregate has none). */
const bucketsScrapedAt: Builder = (s) => s.useProbe && s.probe !== undefined
  ? `max(timestamp(${series(`${PROBE}_count`, s.probe, 'outcome="ok"')}))`
  : `max(timestamp(${series(`${SERVICE}_count`, s.app)}))`
const quantile = (statistic: 'p50' | 'p90' | 'p95' | 'p99'): BuiltIn => ({build: buckets, statistic, unit: 'seconds', shape: 'histogram', scrapedAt: bucketsScrapedAt})

const pressure = (resource: 'cpu' | 'memory' | 'io'): Builder => (s, r) =>
  // cAdvisor's "waiting" is PSI's "some" line, which is what the embedded source reads
  `sum(rate(${series(`container_pressure_${resource}_waiting_seconds_total`, s.container)}[${r}]))`

/**
 * Latencies come out of each step's histogram, so the per-step values are averaged (as the embedded source does
 * with a scraped histogram). Counted events are counted per rate window; windows overlap when the window is longer
 * than the step, so an event shows in consecutive steps and the largest count of any window is the statistic
 * (exact for the usual bound, max: 0).
 */
const BUILT_IN: Record<SignalName, BuiltIn> = {
  latency_p50: quantile('p50'),
  latency_p90: quantile('p90'),
  latency_p95: quantile('p95'),
  latency_p99: quantile('p99'),
  latency_mean: {
    build: (s, r) => s.useProbe && s.probe !== undefined
      ? `sum(rate(${series(`${PROBE}_sum`, s.probe, 'outcome="ok"')}[${r}])) / sum(rate(${series(`${PROBE}_count`, s.probe, 'outcome="ok"')}[${r}]))`
      : `sum(rate(${series(`${SERVICE}_sum`, s.app)}[${r}])) / sum(rate(${series(`${SERVICE}_count`, s.app)}[${r}]))`,
    statistic: 'mean', unit: 'seconds',
  },
  error_rate: {
    // a neighbour that never failed has no failure series at all: that is a rate of 0, not a missing signal.
    // The probe counts what a client sees (refused, reset, timed out); the service only what it answered with 5xx.
    build: (s, r) => s.useProbe && s.probe !== undefined
      ? `(sum(rate(${series(`${PROBE}_count`, s.probe, 'outcome!="ok"')}[${r}])) or vector(0)) / sum(rate(${series(`${PROBE}_count`, s.probe)}[${r}]))`
      : `(sum(rate(${series('http_requests_total', s.app, 'code=~"5.."')}[${r}])) or vector(0)) / sum(rate(${series('http_requests_total', s.app)}[${r}]))`,
    statistic: 'rate', unit: 'ratio',
  },
  throughput: {
    build: (s, r) => s.useProbe && s.probe !== undefined
      ? `sum(rate(${series(`${PROBE}_count`, s.probe, 'outcome="ok"')}[${r}]))`
      : `sum(rate(${series('http_requests_total', s.app, 'code!~"[45].."')}[${r}]))`,
    statistic: 'mean', unit: 'per_second',
  },
  cpu_usage: {
    // cAdvisor when it is there, else the process's own counter (prom-client and most client libraries export it)
    build: (s, r) => `sum(rate(${series('container_cpu_usage_seconds_total', s.container)}[${r}])) or sum(rate(${series('process_cpu_seconds_total', s.app)}[${r}]))`,
    statistic: 'mean', unit: 'ratio',
  },
  cpu_throttled: {
    build: (s, r) => `sum(rate(${series('container_cpu_cfs_throttled_periods_total', s.container)}[${r}])) / sum(rate(${series('container_cpu_cfs_periods_total', s.container)}[${r}]))`,
    statistic: 'mean', unit: 'ratio',
  },
  memory: {
    build: (s) => `sum(${series('container_memory_working_set_bytes', s.container)}) or sum(${series('process_resident_memory_bytes', s.app)})`,
    statistic: 'max', unit: 'bytes',
  },
  oom_kills: {
    build: (s, r) => `sum(round(increase(${series('container_oom_events_total', s.container)}[${r}])))`,
    statistic: 'max', unit: 'count',
  },
  restarts: {
    // the neighbour's scrape target going down: a process that died, whether or not something restarted it
    build: (s, r) => `sum(resets(${series('up', s.app)}[${r}]))`,
    statistic: 'max', unit: 'count',
  },
  unready: {
    // kube-state-metrics: the neighbour's pods whose Ready condition is false, its cAdvisor selector without the
    // container matcher (readiness is the pod's)
    build: (s, r) => `sum(max_over_time(${series('kube_pod_status_ready', withoutContainer(s.container), 'condition="false"')}[${r}])) or vector(0)`,
    statistic: 'max', unit: 'count',
  },
  cpu_pressure: {build: pressure('cpu'), statistic: 'mean', unit: 'ratio'},
  memory_pressure: {build: pressure('memory'), statistic: 'mean', unit: 'ratio'},
  io_pressure: {build: pressure('io'), statistic: 'mean', unit: 'ratio'},
}

/** The query of one hypothesis entry for one neighbour: its own `promql:` (placeholders expanded), else the built-in one. */
export function signalQuery(hypothesis: HypothesisSpec, selectors: NeighborSelectors, rangeMs: number): SignalQuery {
  const builtIn = BUILT_IN[hypothesis.signal]
  const range = promDuration(rangeMs)
  if (hypothesis.promql !== undefined) {
    // a raw query answers one series of values; a quantile's is the mean of its points
    const statistic = builtIn.shape === 'histogram' ? 'mean' : builtIn.statistic
    return {query: expandPlaceholders(hypothesis.promql, selectors, range), statistic, unit: builtIn.unit, origin: 'promql', shape: 'series'}
  }
  return {
    query: builtIn.build(selectors, range), statistic: builtIn.statistic, unit: builtIn.unit, origin: 'built-in', shape: builtIn.shape ?? 'series',
    ...(builtIn.scrapedAt ? {scrapedAt: builtIn.scrapedAt(selectors, range)} : {}),
  }
}

/**
 * `$selector`: the neighbour's label matchers (no braces); `$range`: the rate window; `$container`: its cAdvisor
 * matchers; `$probe`: the toolkit probe's matchers for it (neighbor="NAME" with the toolkit's selector).
 */
export function expandPlaceholders(promql: string, selectors: NeighborSelectors, range: string): string {
  return promql
    .replaceAll('$probe', selectors.probe ?? 'neighbor="(no probe)"')
    .replaceAll('$selector', selectors.app)
    .replaceAll('$container', selectors.container)
    .replaceAll('$range', range)
}

/** Whether a raw query names its neighbour through a placeholder (needed when one entry applies to several). */
export function isPerNeighbor(promql: string): boolean {
  return promql.includes('$selector') || promql.includes('$container') || promql.includes('$probe')
}
