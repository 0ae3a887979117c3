// The built-in signals as PromQL, how a neighbour's series are found (selectors and the label convention), a
// hypothesis's own promql with its placeholders, and the experiment file's `metrics:` section.
import {describe, expect, it} from 'vitest'

import {BUILTIN_SIGNALS, PrometheusMetrics, type HypothesisSpec} from '../../src/experiment/schema.js'
import {withPrometheusUrl} from '../../src/metrics/prometheus/config.js'
import {expandPlaceholders, promDuration, rateWindowMs, selectorsFor, signalQuery, withoutContainer} from '../../src/metrics/prometheus/queries.js'
import {openMeasurementSource} from '../../src/metrics/source-registry.js'
import {PlanError} from '../../src/platforms/platform.js'
import {fromYaml} from '../helpers/experiments.js'

const config = (neighbors: Record<string, {selector?: string, containerSelector?: string}> = {}) =>
  PrometheusMetrics.parse({source: 'prometheus', url: 'http://127.0.0.1:9090', neighbors})

const entry = (signal: HypothesisSpec['signal'], more: Partial<HypothesisSpec> = {}): HypothesisSpec => ({signal, max: 1, ...more})

const EXPERIMENT = `
apiVersion: chaos/v1
kind: Experiment
metadata: {name: p}
target: {name: worker, run: [chaos, workload, --port, "19501"]}
neighbors:
  - {name: api, run: [chaos, workload, --port, "19502"]}
  - {name: web, run: [chaos, workload, --port, "19503"]}
fault: {type: cpu-hog}
phases: {baseline: 4s, inject: 6s}
`

describe('neighbour selectors', () => {
  it('follow the label convention (job and container named after the neighbour) unless the experiment names them', () => {
    expect(selectorsFor('api', config())).toEqual({app: 'job="api"', container: 'container="api"'})
    expect(selectorsFor('api', config({api: {selector: '{instance="127.0.0.1:19502", env=~"prod|stage",}'}}))).toEqual({
      app: 'instance="127.0.0.1:19502", env=~"prod|stage"', container: 'container="api"',
    })
  })

  it('must be label matchers in braces', () => {
    expect(() => config({api: {selector: 'job="api"'}})).toThrow(/label matchers in braces/)
  })
})

describe('built-in signals as PromQL', () => {
  const s = {app: 'job="api"', container: 'container="api"'}

  it('a latency quantile reads the service histogram\'s cumulative buckets, judged like the embedded probe\'s requests', () => {
    expect(signalQuery(entry('latency_p99'), s, 2000)).toEqual({
      query: 'sum by (le) (http_request_duration_seconds_bucket{job="api"})',
      statistic: 'p99', unit: 'seconds', origin: 'built-in', shape: 'histogram',
      // the raw series' sample times: an aggregate's would be the evaluation's
      scrapedAt: 'max(timestamp(http_request_duration_seconds_count{job="api"}))',
    })
  })

  it('a neighbour with a probe is measured by the probe\'s own histogram, scraped from the toolkit, unless latency: service', () => {
    const probed = selectorsFor('api', config(), true)
    expect(probed).toEqual({app: 'job="api"', container: 'container="api"', probe: 'job="chaos", neighbor="api"', useProbe: true})
    expect(signalQuery(entry('latency_p95'), probed, 2000)).toMatchObject({
      query: 'sum by (le) (chaos_probe_request_duration_seconds_bucket{job="chaos", neighbor="api", outcome="ok"})', statistic: 'p95', shape: 'histogram',
      scrapedAt: 'max(timestamp(chaos_probe_request_duration_seconds_count{job="chaos", neighbor="api", outcome="ok"}))',
    })
    // errors as a client sees them: refused, reset and timed out as well as 5xx
    expect(signalQuery(entry('error_rate'), probed, 2000).query).toBe('(sum(rate(chaos_probe_request_duration_seconds_count{job="chaos", neighbor="api", outcome!="ok"}[2s])) or vector(0)) / sum(rate(chaos_probe_request_duration_seconds_count{job="chaos", neighbor="api"}[2s]))')
    expect(signalQuery(entry('throughput'), probed, 2000).query).toBe('sum(rate(chaos_probe_request_duration_seconds_count{job="chaos", neighbor="api", outcome="ok"}[2s]))')
    const service = selectorsFor('api', PrometheusMetrics.parse({source: 'prometheus', url: 'http://127.0.0.1:9090', latency: 'service', toolkit: {selector: '{job="tk"}'}}), true)
    expect(service).toMatchObject({probe: 'job="tk", neighbor="api"', useProbe: false})
    expect(signalQuery(entry('latency_p95'), service, 2000).query).toBe('sum by (le) (http_request_duration_seconds_bucket{job="api"})')
    expect(expandPlaceholders('sum(rate(chaos_probe_request_duration_seconds_count{$probe}[$range]))', service, '2s')).toBe('sum(rate(chaos_probe_request_duration_seconds_count{job="tk", neighbor="api"}[2s]))')
  })

  it('the error rate counts 5xx over all requests, and a neighbour with no 5xx series has a rate of 0', () => {
    expect(signalQuery(entry('error_rate'), s, 2000).query).toBe(
      '(sum(rate(http_requests_total{job="api", code=~"5.."}[2s])) or vector(0)) / sum(rate(http_requests_total{job="api"}[2s]))')
  })

  it('resources come from cAdvisor, CPU and memory falling back on the process\'s own metrics', () => {
    expect(signalQuery(entry('cpu_usage'), s, 2000).query).toBe(
      'sum(rate(container_cpu_usage_seconds_total{container="api"}[2s])) or sum(rate(process_cpu_seconds_total{job="api"}[2s]))')
    expect(signalQuery(entry('memory'), s, 2000)).toMatchObject({
      query: 'sum(container_memory_working_set_bytes{container="api"}) or sum(process_resident_memory_bytes{job="api"})', statistic: 'max', unit: 'bytes',
    })
    expect(signalQuery(entry('cpu_throttled'), s, 2000).query).toBe(
      'sum(rate(container_cpu_cfs_throttled_periods_total{container="api"}[2s])) / sum(rate(container_cpu_cfs_periods_total{container="api"}[2s]))')
    expect(signalQuery(entry('oom_kills'), s, 2000)).toMatchObject({query: 'sum(round(increase(container_oom_events_total{container="api"}[2s])))', unit: 'count'})
    expect(signalQuery(entry('cpu_pressure'), s, 2000).query).toBe('sum(rate(container_pressure_cpu_waiting_seconds_total{container="api"}[2s]))')
  })

  it('a restart is the neighbour\'s scrape target going down', () => {
    expect(signalQuery(entry('restarts'), s, 3000)).toMatchObject({query: 'sum(resets(up{job="api"}[3s]))', statistic: 'max', unit: 'count'})
  })

  it('unready counts the neighbour\'s pods whose Ready condition is false (kube-state-metrics), selected without the container matcher', () => {
    const pods = {app: 'job="api"', container: 'namespace="shop", pod=~"api-.*", container="app"'}
    expect(signalQuery(entry('unready'), pods, 2000)).toMatchObject({
      query: 'sum(max_over_time(kube_pod_status_ready{namespace="shop", pod=~"api-.*", condition="false"}[2s])) or vector(0)', statistic: 'max', unit: 'count',
    })
    // a comma or "container=" inside a quoted value is not a matcher
    expect(withoutContainer('pod=~"a,container=b", container!="", namespace="x"')).toBe('pod=~"a,container=b", namespace="x"')
  })

  it('every built-in signal has a query that aggregates to one series', () => {
    for (const signal of BUILTIN_SIGNALS) expect(signalQuery(entry(signal), s, 2000).query).toMatch(/^(\(?sum|histogram_quantile)/)
  })
})

describe('a hypothesis\'s own promql', () => {
  it('replaces the built-in query and keeps the signal\'s statistic and unit; placeholders expand', () => {
    const q = signalQuery(entry('throughput', {promql: 'sum(rate(http_requests_total{$selector, route="/work"}[$range])) + sum(up{$container})'}), {app: 'job="api"', container: 'container="api"'}, 1500)
    expect(q).toEqual({query: 'sum(rate(http_requests_total{job="api", route="/work"}[1500ms])) + sum(up{container="api"})', statistic: 'mean', unit: 'per_second', origin: 'promql', shape: 'series'})
    // a raw latency query answers one series of values, whose mean is judged
    expect(signalQuery(entry('latency_p99', {promql: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket{$selector}[$range])))'}), {app: 'job="api"', container: ''}, 2000))
      .toMatchObject({statistic: 'mean', shape: 'series'})
    expect(expandPlaceholders('no placeholders', {app: 'a="b"', container: ''}, '2s')).toBe('no placeholders')
  })

  it('is refused by the embedded source, which cannot run it', async () => {
    const experiment = fromYaml(`${EXPERIMENT}hypothesis: [{signal: latency_p99, promql: 'up', max: 1}]\n`)
    await expect(openMeasurementSource(experiment)).rejects.toThrow(/hypothesis 1 \(latency_p99\) gives promql:, which needs metrics: \{source: prometheus/)
  })

  it('must name its neighbour when it applies to several', async () => {
    const experiment = fromYaml(`${EXPERIMENT}metrics: {source: prometheus, url: "http://127.0.0.1:1"}\nhypothesis: [{signal: latency_p99, promql: 'up', max: 1}]\n`)
    const refusal = await openMeasurementSource(experiment).catch((e: PlanError) => e)
    expect(refusal).toBeInstanceOf(PlanError)
    expect((refusal as PlanError).message).toMatch(/names none; use \$selector in it, or give neighbor:/)
    expect((refusal as PlanError).exitCode).toBe(2)
  })

  it('selectors for a neighbour the experiment does not have are refused', async () => {
    const experiment = fromYaml(`${EXPERIMENT}metrics: {source: prometheus, url: "http://127.0.0.1:1", neighbors: {apy: {selector: '{job="api"}'}}}\nhypothesis: [{signal: latency_p99, max: 1}]\n`)
    await expect(openMeasurementSource(experiment)).rejects.toThrow(/metrics.neighbors.apy: no neighbour is named "apy" \(neighbours: api, web\)/)
  })
})

describe('the metrics section', () => {
  it('defaults to the embedded source', () => {
    expect(fromYaml(`${EXPERIMENT}hypothesis: [{signal: latency_p99, max: 1}]\n`).metrics).toEqual({source: 'embedded'})
  })

  it('a Prometheus source gets defaults for its connection', () => {
    expect(config()).toEqual({source: 'prometheus', url: 'http://127.0.0.1:9090', scrapeInterval: 15_000, timeout: 10_000, retries: 3, neighbors: {},
      latency: 'probe', toolkit: {port: 19_590, selector: '{job="chaos"}'}})
    expect(PrometheusMetrics.parse({source: 'prometheus', url: 'https://prom.example/', scrapeInterval: '1s', timeout: '2s', retries: 0, caFile: '/etc/ca.pem'}))
      .toMatchObject({scrapeInterval: 1000, timeout: 2000, retries: 0, caFile: '/etc/ca.pem'})
  })

  it('keeps credentials out of the file', () => {
    expect(() => PrometheusMetrics.parse({source: 'prometheus', url: 'http://ops:secret@127.0.0.1:9090'})).toThrow(/CHAOS_PROMETHEUS_USER/)
    expect(() => PrometheusMetrics.parse({source: 'prometheus', url: 'http://127.0.0.1:9090', token: 'x'})).toThrow()
  })

  it('--prometheus switches an embedded experiment to Prometheus, or re-points a Prometheus one keeping its selectors', () => {
    expect(withPrometheusUrl({source: 'embedded'}, 'http://127.0.0.1:19581')).toEqual({...config(), url: 'http://127.0.0.1:19581'})
    const mine = {...config({api: {selector: '{instance="x"}'}}), scrapeInterval: 1000}
    expect(withPrometheusUrl(mine, 'http://127.0.0.1:19581')).toEqual({...mine, url: 'http://127.0.0.1:19581'})
    expect(() => withPrometheusUrl({source: 'embedded'}, 'ftp://nope')).toThrow(/--prometheus ftp:\/\/nope/)
  })

  it('the rate window is one interval, but never fewer than two scrapes', () => {
    expect(rateWindowMs(1000, 1000)).toBe(2000)
    expect(rateWindowMs(60_000, 15_000)).toBe(60_000)
    expect(promDuration(2000)).toBe('2s')
    expect(promDuration(1500)).toBe('1500ms')
  })
})
