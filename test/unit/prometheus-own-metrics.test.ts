// The toolkit's own metrics: their names and labels the Prometheus way, their values from a run's events and
// journal, served on 127.0.0.1 and pushed to a Pushgateway (a stub here; the real one is in the integration tests).
import {afterEach, describe, expect, it} from 'vitest'

import {OwnMetricsReporter, RunMetrics} from '../../src/metrics/own-metrics.js'
import {parsePrometheusText, sampleValue, type MetricFamily} from '../../src/metrics/prom-text.js'
import {groupUrl, pushToGateway} from '../../src/metrics/pushgateway.js'
import {fixtureJournal} from '../fixtures/journals/load.js'
import {startStub, type Stub} from '../helpers/prometheus-server.js'

const stubs: Stub[] = []
const reporters: OwnMetricsReporter[] = []
afterEach(async () => {
  await Promise.all([...stubs.splice(0).map((s) => s.close()), ...reporters.splice(0).map((r) => r.close())])
})

async function families(run: RunMetrics): Promise<MetricFamily[]> {
  return parsePrometheusText(await run.registry.metrics())
}

describe('a run\'s own metrics', () => {
  it('follow the phases: the current one at 1, the fault active only while injecting', async () => {
    const run = new RunMetrics('memory-leak')
    run.onEvent({type: 'phase', phase: 'baseline', durationMs: 4000})
    let f = await families(run)
    expect(sampleValue(f, 'chaos_phase', {experiment: 'memory-leak', phase: 'baseline'})).toBe(1)
    expect(sampleValue(f, 'chaos_phase', {experiment: 'memory-leak', phase: 'inject'})).toBe(0)
    expect(sampleValue(f, 'chaos_fault_active', {experiment: 'memory-leak'})).toBe(0)
    run.onEvent({type: 'phase', phase: 'inject', durationMs: 6000})
    run.onEvent({type: 'tick', phase: 'inject', elapsedMs: 1000, durationMs: 6000, neighbors: []})
    f = await families(run)
    expect(sampleValue(f, 'chaos_fault_active', {experiment: 'memory-leak'})).toBe(1)
    expect(sampleValue(f, 'chaos_phase_start_timestamp_seconds', {phase: 'inject'})).toBeCloseTo(Date.now() / 1000, -1)
    run.onEvent({type: 'phase', phase: 'rollback'})
    expect(sampleValue(await families(run), 'chaos_fault_active', {experiment: 'memory-leak'})).toBe(0)
  })

  it('hold the outcome: dose asked and achieved in base units, each signal\'s values, change and verdict, runs by result', async () => {
    const journal = fixtureJournal('memory-leak-shared')
    const run = new RunMetrics(journal.experiment.name)
    run.recordJournal(journal)
    const f = await families(run)
    const e = {experiment: 'memory-leak-shared'}
    expect(sampleValue(f, 'chaos_dose_asked_bytes', e)).toBeCloseTo(327491256.32)
    expect(sampleValue(f, 'chaos_dose_achieved_bytes', e)).toBe(327219147)
    expect(sampleValue(f, 'chaos_dose_ratio', e)).toBeCloseTo(0.99917)
    expect(sampleValue(f, 'chaos_dose_landed', e)).toBe(1)
    const p99 = {...e, neighbor: 'api', signal: 'latency_p99'}
    expect(sampleValue(f, 'chaos_signal_value', {...p99, phase: 'baseline'})).toBeCloseTo(0.0079987)
    expect(sampleValue(f, 'chaos_signal_value', {...p99, phase: 'inject'})).toBeCloseTo(0.0293854)
    expect(sampleValue(f, 'chaos_signal_change_ratio', p99)).toBeCloseTo(2.6738)
    expect(sampleValue(f, 'chaos_signal_verdict', {...p99, verdict: 'breach'})).toBe(1)
    expect(sampleValue(f, 'chaos_signal_verdict', {...p99, verdict: 'contained'})).toBe(0)
    // no change is reported where the baseline was 0
    expect(sampleValue(f, 'chaos_signal_change_ratio', {...e, neighbor: 'api', signal: 'error_rate'})).toBeUndefined()
    expect(sampleValue(f, 'chaos_runs_total', {...e, result: 'breach'})).toBe(1)
    expect(sampleValue(f, 'chaos_run_exit_code', e)).toBe(0)
    expect(sampleValue(f, 'chaos_run_duration_seconds', e)).toBeCloseTo(13.694)
    expect(sampleValue(f, 'chaos_phase', {...e, phase: 'done'})).toBe(1)
  })

  it('are named the Prometheus way: chaos_ prefix, base units, _total only on counters', async () => {
    const run = new RunMetrics('x')
    run.recordJournal(fixtureJournal('cpu-hog-cgroup'))
    const f = await families(run)
    for (const family of f) {
      expect(family.name).toMatch(/^chaos_[a-z_]+$/)
      expect(family.help).toBeTruthy()
      expect(family.name.endsWith('_total')).toBe(family.type === 'counter')
      for (const s of family.samples) expect(Object.keys(s.labels).every((l) => ['experiment', 'phase', 'neighbor', 'signal', 'verdict', 'result'].includes(l))).toBe(true)
    }
    expect(f.map((x) => x.name)).toContain('chaos_dose_asked_cpu_seconds')
  })

  it('report the worst verdict of a signal judged twice (a built-in entry and a promql one)', async () => {
    const journal = fixtureJournal('memory-leak-shared')
    const p99 = journal.neighbors[0].signals.find((s) => s.signal === 'latency_p99')!
    journal.neighbors[0].signals.unshift({...p99, verdict: 'contained', fault: 0.001, change: -0.5})
    const run = new RunMetrics('x')
    run.recordJournal(journal)
    const f = await families(run)
    expect(sampleValue(f, 'chaos_signal_verdict', {signal: 'latency_p99', verdict: 'breach'})).toBe(1)
    expect(sampleValue(f, 'chaos_signal_change_ratio', {signal: 'latency_p99'})).toBeCloseTo(2.6738)
  })

  it('count a refused run as an error', async () => {
    const run = new RunMetrics('x')
    run.recordError(2)
    const f = await families(run)
    expect(sampleValue(f, 'chaos_runs_total', {result: 'error'})).toBe(1)
    expect(sampleValue(f, 'chaos_run_exit_code', {})).toBe(2)
  })
})

describe('serving and pushing', () => {
  it('serves the current run\'s metrics on 127.0.0.1 while it goes on', async () => {
    const lines: string[] = []
    const reporter = await OwnMetricsReporter.open({port: 0, log: (l) => lines.push(l)})
    reporters.push(reporter)
    expect(reporter.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(lines).toEqual([`serving the run's metrics on ${reporter.url}`])
    const run = reporter.begin('cpu-hog')
    run.onEvent({type: 'phase', phase: 'inject'})
    const text = await (await fetch(reporter.url!)).text()
    expect(sampleValue(parsePrometheusText(text), 'chaos_fault_active', {experiment: 'cpu-hog'})).toBe(1)
    expect((await fetch(reporter.url!.replace('/metrics', '/'))).status).toBe(404)
  })

  it('refuses a port that is taken', async () => {
    const first = await OwnMetricsReporter.open({port: 0, log: () => undefined})
    reporters.push(first)
    const port = Number(new URL(first.url!).port)
    await expect(OwnMetricsReporter.open({port, log: () => undefined})).rejects.toThrow(`--metrics-port ${port}: the port is taken`)
  })

  it('pushes each run with PUT to job chaos, grouped by experiment, and reports a failed push without throwing', async () => {
    const stub = await startStub((_r, i) => i === 0 ? {status: 200, body: ''} : {status: 400, body: 'pushed metrics are invalid or inconsistent'})
    stubs.push(stub)
    const lines: string[] = []
    const reporter = await OwnMetricsReporter.open({pushgateway: `${stub.url}/`, log: (l) => lines.push(l)})
    const run = reporter.begin('memory-leak')
    await reporter.end(run, {journal: fixtureJournal('memory-leak-shared')})
    expect(stub.requests[0].path).toBe('/metrics/job/chaos/experiment/memory-leak')
    await reporter.end(reporter.begin('other'), {exitCode: 4})
    expect(lines).toEqual([expect.stringMatching(/^pushing the metrics of other to the Pushgateway failed: .*HTTP 400: pushed metrics are invalid/)])
    // a 4xx is not retried
    expect(stub.requests).toHaveLength(2)
  })

  it('retries a push that got a 5xx or no answer', async () => {
    const stub = await startStub((_r, i) => ({status: i < 2 ? 503 : 202, body: ''}))
    stubs.push(stub)
    await pushToGateway(stub.url, new RunMetrics('x').registry, {experiment: 'x'})
    expect(stub.requests).toHaveLength(3)
    expect(groupUrl('http://gw:9091/prefix/', {experiment: 'a b'})).toBe('http://gw:9091/prefix/metrics/job/chaos/experiment/a%20b')
  })
})
