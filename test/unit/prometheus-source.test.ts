// The Prometheus measurement source against a stub: what it refuses before anything starts, what it checks
// before injecting, how fast it notices a Prometheus that stopped answering, and the series it hands the verdict.
import {afterEach, describe, expect, it} from 'vitest'

import {histogramObservations, PrometheusSource} from '../../src/metrics/prometheus/source.js'
import {PlanError} from '../../src/platforms/platform.js'
import {fromYaml} from '../helpers/experiments.js'
import {matrix, startStub, vector, type Stub, type StubRequest} from '../helpers/prometheus-server.js'

const stubs: Stub[] = []
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()))
})

type Reply = {status: number, body: unknown, delayMs?: number}

async function sourceWith(reply: (r: StubRequest, i: number) => Reply, hypothesis = '[{signal: latency_p99, max_increase: 50%}, {signal: error_rate, max: 1%}]') {
  const stub = await startStub(reply)
  stubs.push(stub)
  const experiment = fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: p}
target: {name: worker, run: [chaos, workload, --port, "19501"]}
neighbors: [{name: api, run: [chaos, workload, --port, "19502"]}]
fault: {type: cpu-hog}
phases: {baseline: 4s, inject: 6s}
metrics: {source: prometheus, url: "${stub.url}", scrapeInterval: 1s, retries: 1, timeout: 1s, neighbors: {api: {selector: '{instance="127.0.0.1:19502"}'}}}
hypothesis: ${hypothesis}
`)
  return {source: PrometheusSource.open(experiment, experiment.metrics as never), stub, experiment}
}

const ok = vector({value: 1})
/** cumulative latency buckets: 10 requests under 5 ms, then 10 more, 2 of them between 5 and 10 ms */
const buckets = (points = [[10, 10, 10], [18, 20, 20]]) => matrix(
  {metric: {le: '0.005'}, values: points.map((p) => p[0])},
  {metric: {le: '0.01'}, values: points.map((p) => p[1])},
  {metric: {le: '+Inf'}, values: points.map((p) => p[2])},
)
const answer = (r: StubRequest, series: unknown) => r.params.get('query')!.includes('_bucket') ? buckets() : series
const window = {from: 100_000, to: 104_000}

describe('before anything starts', () => {
  it('plans the measurement: where, how, and each neighbour\'s selectors', async () => {
    const {source, stub} = await sourceWith(() => ({status: 200, body: ok}))
    expect(await source.plan()).toEqual([
      `measurement: Prometheus at ${stub.url} (no auth), rate window 2s, one point per 1s`,
      '  api: {instance="127.0.0.1:19502"}, cAdvisor {container="api"}; HTTP signals from {instance="127.0.0.1:19502"}',
    ])
    // every distinct query is tried once
    expect(stub.requests.map((r) => r.params.get('query'))).toHaveLength(2)
  })

  it('a malformed query is refused with Prometheus\'s own words (exit 2)', async () => {
    const error = 'invalid parameter "query": 1:9: parse error: unexpected end of input'
    const {source} = await sourceWith(() => ({status: 400, body: {status: 'error', errorType: 'bad_data', error}}), '[{signal: latency_p99, promql: "sum(up{", max: 1}]')
    const refusal = await source.plan().catch((e: PlanError) => e)
    expect(refusal).toBeInstanceOf(PlanError)
    expect((refusal as PlanError).exitCode).toBe(2)
    expect((refusal as PlanError).message).toBe(`api latency_p99 (promql): Prometheus refused the query (bad_data): ${error}\n  query: sum(up{`)
  })

  it('an unreachable Prometheus is this machine\'s situation (exit 4)', async () => {
    const {source, stub} = await sourceWith(() => ({status: 200, body: ok}))
    await stub.close()
    stubs.pop()
    const refusal = await source.plan().catch((e: PlanError) => e)
    expect((refusal as PlanError).exitCode).toBe(4)
    expect((refusal as PlanError).message).toMatch(/is unreachable: ECONNREFUSED/)
  })
})

describe('before injecting', () => {
  it('passes when every query answers one series over the baseline, which it queries step by step inside the phase', async () => {
    const {source, stub} = await sourceWith((r) => ({status: 200, body: answer(r, matrix({values: [0.004, 0.005, 0.004]}))}))
    expect(await source.checkBeforeInjecting(window)).toBeUndefined()
    // a rate's first point has its window start at the phase's start; the buckets are read from one scrape into
    // the phase (the first scrape read is the phase's own) to its end
    const params = (match: string) => Object.fromEntries(stub.requests.find((r) => r.params.get('query')!.includes(match))!.params)
    expect(params('http_requests_total')).toMatchObject({start: '102.000', end: '104.000', step: '1.000'})
    expect(params('_bucket')).toMatchObject({start: '101.000', end: '104.000', step: '1.000'})
  })

  it('names the query that answers no series, and why: no target, a target down, or no data', async () => {
    const noTarget = await sourceWith((r) => ({status: 200, body: r.path.endsWith('query_range') ? matrix() : vector()}))
    const reason = await noTarget.source.checkBeforeInjecting(window)
    expect(reason).toMatch(/^Prometheus cannot measure what the hypothesis needs, so nothing was injected:\napi latency_p99: no series, and no scrape target matches \{instance="127.0.0.1:19502"\}/)
    expect(reason).toContain('query: sum by (le) (http_request_duration_seconds_bucket{instance="127.0.0.1:19502"})')

    const down = await sourceWith((r) => ({status: 200, body: r.path.endsWith('query_range') ? matrix() : vector({metric: {instance: '127.0.0.1:19502', job: 'demo'}, value: 0})}))
    expect(await down.source.checkBeforeInjecting(window)).toMatch(/no series: its target \{instance="127.0.0.1:19502", job="demo"\} is down/)

    const noData = await sourceWith((r) => ({status: 200, body: r.path.endsWith('query_range') ? matrix() : vector({value: 1})}))
    expect(await noData.source.checkBeforeInjecting(window)).toMatch(/the target is up but the query found no data .* check metrics.scrapeInterval/)
  })

  it('refuses a query that answers several series where one was meant', async () => {
    const {source} = await sourceWith(() => ({status: 200, body: matrix({metric: {code: '200'}, values: [1]}, {metric: {code: '500'}, values: [2]})}), '[{signal: throughput, promql: "rate(http_requests_total{$selector}[$range])", max_decrease: 10%}]')
    expect(await source.checkBeforeInjecting(window)).toMatch(/api throughput \(promql\): 2 series where one was meant \(\{code="200"\}, \{code="500"\}\); aggregate them \(sum, max\) or narrow the selector/)
  })

  it('reports a query Prometheus fails to run', async () => {
    const {source} = await sourceWith(() => ({status: 422, body: {status: 'error', errorType: 'execution', error: 'expanding series: too many'}}))
    expect(await source.checkBeforeInjecting(window)).toMatch(/Prometheus refused the query \(execution\): expanding series: too many/)
  })
})

describe('during injection', () => {
  it('notices within half an interval that Prometheus stopped answering, and says so once', async () => {
    let alive = true
    const {source} = await sourceWith(() => alive ? {status: 200, body: ok} : {status: 503, body: {status: 'error', errorType: 'unavailable', error: 'shutting down'}})
    const lost: Array<{at: number, reason: string}> = []
    const interval = 1000
    const stop = source.watch(interval, (reason) => lost.push({at: Date.now(), reason}))
    await new Promise((r) => setTimeout(r, 1500))
    expect(lost).toEqual([])
    alive = false
    const died = Date.now()
    await new Promise((r) => setTimeout(r, 2500))
    stop()
    expect(lost).toHaveLength(1)
    expect(lost[0].reason).toMatch(/^Prometheus stopped answering during the injection \(Prometheus refused the query \(unavailable\): shutting down/)
    // the next check (at most one interval later) fails within its budget of half an interval: well within two
    expect(lost[0].at - died).toBeLessThan(2 * interval)
  })

  it('counts a hung Prometheus as lost once the budget is spent', async () => {
    let hung = false
    const {source} = await sourceWith(() => ({status: 200, body: ok, delayMs: hung ? 5000 : 0}))
    const lost: string[] = []
    const stop = source.watch(300, (reason) => lost.push(reason))
    hung = true
    await new Promise((r) => setTimeout(r, 1500))
    stop()
    expect(lost).toHaveLength(1)
    // the budget (half the interval) less what the earlier tries of this check already spent
    const waited = Number(/did not answer within (\d+) ms/.exec(lost[0])?.[1])
    expect(waited).toBeGreaterThan(0)
    expect(waited).toBeLessThanOrEqual(150)
  })

  it('stops watching when told', async () => {
    const {source, stub} = await sourceWith(() => ({status: 200, body: ok}))
    const stop = source.watch(100, () => undefined)
    await new Promise((r) => setTimeout(r, 250))
    stop()
    const seen = stub.requests.length
    await new Promise((r) => setTimeout(r, 300))
    expect(stub.requests.length).toBe(seen)
  })
})

describe('after the run', () => {
  it('hands the verdict each window\'s series, NaN steps dropped, or why there is none', async () => {
    const {source, experiment} = await sourceWith((r) => {
      const start = Number(r.params.get('start'))
      if (r.params.get('query')!.includes('_bucket')) return {status: 200, body: start < 103 ? buckets() : buckets([[0, 0, 0], [0, 50, 50]])}
      if (r.params.get('query')!.includes('max(up')) return {status: 200, body: matrix({values: start < 103 ? [0.004, Number.NaN, 0.005] : [0.008, 0.009]})}
      return {status: 503, body: {status: 'error', errorType: 'unavailable', error: 'gone'}}
    }, '[{signal: latency_p99, max_increase: 50%}, {signal: error_rate, max: 1%}, {signal: latency_mean, promql: "max(up{$selector})", max: 1}]')
    const inject = {from: 104_000, to: 110_000}
    await source.collect([window, inject])
    const [p99, errors, raw] = experiment.hypothesis
    // the requests of each interval, spread across their buckets as histogram_quantile would
    const baseline = source.extract('api', p99, window)
    expect(baseline).toMatchObject({statistic: 'p99', unit: 'seconds', samples: {kind: 'observations', blocks: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}})
    const values = (baseline as {samples: {values: number[]}}).samples.values
    expect(values.slice(0, 8).every((v) => v > 0 && v < 0.005)).toBe(true)
    expect(values.slice(8).every((v) => v > 0.005 && v < 0.01)).toBe(true)
    // 50 requests in the second interval, all between 5 and 10 ms
    const injected = source.extract('api', p99, inject) as {samples: {values: number[], blocks: number[]}}
    expect(injected.samples.values).toHaveLength(50)
    expect(injected.samples.blocks.every((b) => b === 0)).toBe(true)
    expect(source.extract('api', raw, window)).toEqual({samples: {kind: 'series', values: [0.004, 0.005]}, statistic: 'mean', unit: 'seconds'})
    expect(source.extract('api', raw, inject)).toEqual({samples: {kind: 'series', values: [0.008, 0.009]}, statistic: 'mean', unit: 'seconds'})
    expect(source.extract('api', errors, inject)).toEqual({unavailable: expect.stringMatching(/^Prometheus: Prometheus refused the query \(unavailable\): gone/)})
    expect(source.extract('web', p99, inject)).toEqual({unavailable: 'Prometheus was not asked for this window'})
  })

  it('says which requests a window\'s histogram holds: those between the scrapes its first and last points read', async () => {
    const {source, experiment} = await sourceWith((r) => {
      const query = r.params.get('query')!
      if (query.includes('_bucket')) return {status: 200, body: buckets()}
      // scrapes 0.3 s before each point: the counters hold what happened up to then
      if (query.startsWith('max(timestamp(http_request_duration_seconds_count{instance="127.0.0.1:19502"}')) return {status: 200, body: matrix({values: [100.7, 101.7, 102.7, 103.7]})}
      return {status: 200, body: matrix({values: [0]})}
    })
    await source.collect([window])
    const [p99, errors] = experiment.hypothesis
    expect(source.covered('api', p99, window)).toEqual({from: 100_700, to: 103_700})
    // a rate's points are not counters read at two edges: the window is its own
    expect(source.covered('api', errors, window)).toBeUndefined()
  })

  it('without the scrapes\' times, the window is taken as it is', async () => {
    const {source, experiment} = await sourceWith((r) => r.params.get('query')!.includes('timestamp(')
      ? {status: 503, body: {status: 'error', errorType: 'unavailable', error: 'gone'}}
      : {status: 200, body: r.params.get('query')!.includes('_bucket') ? buckets() : matrix({values: [0]})})
    await source.collect([window])
    expect(source.extract('api', experiment.hypothesis[0], window)).toMatchObject({samples: {kind: 'observations'}})
    expect(source.covered('api', experiment.hypothesis[0], window)).toBeUndefined()
  })

  it('a window shorter than the rate window cannot be measured', async () => {
    const {source, experiment} = await sourceWith(() => ({status: 200, body: matrix({values: [1]})}))
    const short = {from: 1000, to: 2500}
    await source.collect([short])
    expect(source.extract('api', experiment.hypothesis[1], short)).toEqual({unavailable: 'Prometheus: the window (1500ms) is shorter than the rate window (2s)'})
  })
})

describe('histogramObservations', () => {
  const series = (le: string, values: number[]) => ({metric: {le}, values: values.map((v, i) => [1000 + i, String(v)] as [number, string])})

  it('counts each interval\'s requests per bucket, a reset counter from zero, the +Inf bucket at the highest bound', () => {
    const got = histogramObservations([series('+Inf', [5, 9, 3]), series('0.002', [4, 6, 1]), series('0.001', [2, 2, 1])])
    expect(got).toEqual({
      // interval 0: 0 under 1 ms, 2 in (1, 2] ms, 2 above 2 ms; interval 1 (reset): 1, 0, 2
      values: [0.00125, 0.00175, 0.002, 0.002, 0.0005, 0.002, 0.002],
      blocks: [0, 0, 0, 0, 1, 1, 1],
    })
  })

  it('says what is wrong with series that are not buckets, or count nothing', () => {
    expect(histogramObservations([{metric: {}, values: [[1000, '1']]}])).toMatch(/one series per le/)
    expect(histogramObservations([series('+Inf', [5, 5])])).toBe('the histogram counted no requests in this window')
  })
})
