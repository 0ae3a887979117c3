import {describe, expect, it} from 'vitest'

import type {SignalName} from '../../src/experiment/schema.js'
import {judgeOverall, judgeSignal} from '../../src/verdict/judge.js'
import type {JudgeOptions} from '../../src/verdict/judge.js'
import {seededRng} from '../../src/verdict/stats.js'
import type {Rng} from '../../src/verdict/stats.js'
import type {Efficacy, SignalInput, SignalVerdict, WindowSamples} from '../../src/verdict/types.js'

function standardNormal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

/** Lognormal latencies around 20ms; `scale` multiplies every value, so every quantile moves by it. */
function lognormal(rng: Rng, n: number, sigma: number, scale = 1): number[] {
  return Array.from({length: n}, () => 0.02 * scale * Math.exp(sigma * standardNormal(rng)))
}

/** Values around `level` with ±`spread` relative uniform noise, one per interval. */
function noisySeries(rng: Rng, n: number, level: number, spread = 0.05): number[] {
  return Array.from({length: n}, () => level * (1 + spread * (rng() - 0.5) * 2))
}

const observations = (values: number[]): WindowSamples => ({kind: 'observations', values})
const series = (values: number[]): WindowSamples => ({kind: 'series', values})
const proportion = (events: number, total: number): WindowSamples => ({kind: 'proportion', events, total})
const zeros = (n: number) => Array.from({length: n}, () => 0)

type Thresholds = Omit<SignalInput['hypothesis'], 'signal' | 'neighbor'>

function judge(
  signal: SignalName, statistic: SignalInput['statistic'], unit: SignalInput['unit'],
  baseline: WindowSamples, fault: WindowSamples, thresholds: Thresholds, options: Partial<JudgeOptions> = {},
): SignalVerdict {
  return judgeSignal({neighbor: 'api', signal, statistic, unit, baseline, fault, hypothesis: {signal, ...thresholds}}, {rng: seededRng(`judge/${signal}`), ...options})
}

/** Stretches everything above the distribution's p95 so that its p99 rises by `factor`; the bulk is untouched. */
function tailOnlyShift(sigma: number, factor: number): (x: number) => number {
  const p95 = 0.02 * Math.exp(sigma * 1.644_853_6)
  const p99 = 0.02 * Math.exp(sigma * 2.326_347_9)
  const stretch = (factor * p99 - p95) / (p99 - p95)
  return (x) => (x > p95 ? p95 + (x - p95) * stretch : x)
}

function expectNoNaN(verdict: SignalVerdict): void {
  const numbers = [verdict.baseline, verdict.fault, verdict.change, verdict.pValue, verdict.effectSize, verdict.interval?.low, verdict.interval?.high]
  for (const n of numbers) if (typeof n === 'number') expect(Number.isFinite(n)).toBe(true)
  expect(JSON.stringify(verdict)).not.toMatch(/NaN|null,"interval":\{"low":null/)
}

describe('latency quantiles against max_increase', () => {
  it('a large rise breaches with a readable reason, CI and Mann-Whitney p', () => {
    const rng = seededRng('rise')
    const verdict = judge('latency_p50', 'p50', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5, 2.8)), {max_increase: 0.25})
    expect(verdict.verdict).toBe('breach')
    expect(verdict.test).toBe('mann-whitney-u')
    expect(verdict.change!).toBeGreaterThan(1.5)
    expect(verdict.interval!.low).toBeGreaterThan(1.4)
    expect(verdict.effectSize!).toBeGreaterThan(0.8)
    expect(verdict.threshold).toBe('max_increase 25%')
    expect(verdict.reason).toMatch(/^latency p50 rose \d+% \(from [\d.]+ms to [\d.]+ms; 95% CI \+\d+% … \+\d+%\), above the 25% allowed; Mann-Whitney p < 0\.001$/)
    expectNoNaN(verdict)
  })

  it('a tail breach names the tail test and still reports Mann-Whitney', () => {
    const rng = seededRng('tail-reason')
    const verdict = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5).map(tailOnlyShift(0.5, 2.5))), {max_increase: 0.25})
    expect(verdict.verdict).toBe('breach')
    expect(verdict.test).toBe('quantile-exceedance')
    expect(verdict.reason).toMatch(/tail test .* p < 0\.001 \(Mann-Whitney p = /)
  })

  it('a significant rise smaller than the threshold is contained', () => {
    const rng = seededRng('small')
    const verdict = judge('latency_mean', 'mean', 'seconds', observations(lognormal(rng, 3000, 0.5)), observations(lognormal(rng, 3000, 0.5, 1.1)), {max_increase: 0.25})
    expect(verdict.pValue!).toBeLessThan(0.05)
    expect(verdict.verdict).toBe('contained')
    expect(verdict.reason).toMatch(/within the 25% allowed$/)
  })

  it('a rise beyond the threshold that is not significant is inconclusive, not contained, and says so', () => {
    const rng = seededRng('noisy')
    const baseline = lognormal(rng, 30, 1)
    const verdict = judge('latency_mean', 'mean', 'seconds', observations(baseline), observations(baseline.map((x, i) => (i === 0 ? x * 20 : x))), {max_increase: 0.25})
    expect(verdict.change!).toBeGreaterThan(0.25)
    expect(verdict.verdict).toBe('inconclusive')
    expect(verdict.reason).toMatch(/beyond the 25% allowed but not significantly .*longer windows or a higher probe rate would decide$/)
  })

  it('max_decrease mirrors max_increase', () => {
    const rng = seededRng('decrease')
    const fell = judge('latency_p50', 'p50', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5, 0.5)), {max_decrease: 0.2})
    expect(fell.verdict).toBe('breach')
    expect(fell.interval!.high).toBeLessThan(0)
    expect(fell.reason).toMatch(/^latency p50 fell \d+%.*below the 20% allowed/)
    const rose = judge('latency_p50', 'p50', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5, 2)), {max_decrease: 0.2})
    expect(rose.verdict).toBe('contained')
  })

  it('an absolute bound on p99 is judged on the fault window with a bootstrap CI', () => {
    const rng = seededRng('absolute')
    const slow = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5, 2)), {max: 0.05})
    expect(slow.verdict).toBe('breach')
    expect(slow.test).toBe('bootstrap')
    expect(slow.interval!.low).toBeGreaterThan(0.05)
    expect(slow.threshold).toBe('max 50ms')
    expect(slow.reason).toMatch(/above the allowed maximum of 50ms$/)
    const fast = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5)), {max: 0.2})
    expect(fast.verdict).toBe('contained')
  })

  it('is reproducible for a seed', () => {
    const rng = seededRng('repro')
    const baseline = observations(lognormal(rng, 750, 0.5))
    const fault = observations(lognormal(rng, 1500, 0.5, 1.3))
    const once = judge('latency_p99', 'p99', 'seconds', baseline, fault, {max_increase: 0.25}, {rng: seededRng('run-1/api/latency_p99')})
    const again = judge('latency_p99', 'p99', 'seconds', baseline, fault, {max_increase: 0.25}, {rng: seededRng('run-1/api/latency_p99')})
    expect(again).toEqual(once)
  })

  it('judges 5,000 + 5,000 latencies on p99 quickly', () => {
    const rng = seededRng('big')
    const started = performance.now()
    judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 5000, 0.5)), observations(lognormal(rng, 5000, 0.5, 1.3)), {max_increase: 0.25})
    expect(performance.now() - started).toBeLessThan(500)
  })
})

describe('error rate', () => {
  it('max 1%: 0/750 then 600/1500 is a breach', () => {
    const verdict = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(600, 1500), {max: 0.01})
    expect(verdict.verdict).toBe('breach')
    expect(verdict.test).toBe('wilson')
    expect(verdict.fault).toBe(0.4)
    expect(verdict.baseline).toBe(0)
    expect(verdict.change).toBeNull()
    expect(verdict.interval!.low).toBeCloseTo(0.3754940088646343, 9)
    expect(verdict.threshold).toBe('max 1%')
    expect(verdict.reason).toBe('error rate was 40% (600/1500) during the fault (95% Wilson CI 37.5% … 42.5%), above the allowed maximum of 1%')
    expectNoNaN(verdict)
  })

  it('max 1%: 0/750 then 3/1500 is contained', () => {
    const verdict = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(3, 1500), {max: 0.01})
    expect(verdict.verdict).toBe('contained')
    expect(verdict.reason).toMatch(/within the allowed maximum of 1%$/)
  })

  it('max 1% with the point estimate above but the CI reaching below: inconclusive, and says why', () => {
    const verdict = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(2, 100), {max: 0.01})
    expect(verdict.verdict).toBe('inconclusive')
    expect(verdict.reason).toMatch(/above the allowed maximum of 1% but the CI reaches the bound: neither a breach nor containment is shown/)
  })

  it('max_increase from a zero baseline: any significant rise breaches (infinite change)', () => {
    const many = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(10, 1500), {max_increase: 0.25})
    expect(many.verdict).toBe('breach')
    expect(many.change).toBeNull()
    expect(many.test).toBe('fisher-exact')
    expect(many.reason).toMatch(/^error rate rose from 0% \(0\/750\) to 0\.667% \(10\/1500\): any rise from 0 exceeds a relative limit/)
    const one = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(1, 1500), {max_increase: 0.25})
    expect(one.verdict).toBe('contained')
    const none = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(0, 1500), {max_increase: 0.25})
    expect(none.verdict).toBe('contained')
    expect(none.reason).toBe('error rate stayed at 0')
  })

  it('max_increase from a non-zero baseline: relative change, Katz CI and a two-proportion test', () => {
    const big = judge('error_rate', 'rate', 'ratio', proportion(15, 750), proportion(150, 1500), {max_increase: 0.25})
    expect(big.verdict).toBe('breach')
    expect(big.change).toBeCloseTo(4, 12)
    expect(big.test).toBe('two-proportion-z')
    const unclear = judge('error_rate', 'rate', 'ratio', proportion(15, 750), proportion(45, 1500), {max_increase: 0.25})
    // +50% against 25% allowed, p = 0.08: beyond the limit without the evidence for a breach
    expect(unclear.verdict).toBe('inconclusive')
    expect(unclear.pValue!).toBeCloseTo(0.08257807394794803, 10)
  })

  it('a baseline of 0 with an absolute threshold as well is judged on the absolute value only', () => {
    const verdict = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(3, 1500), {max_increase: 0.25, max: 0.01})
    expect(verdict.verdict).toBe('contained')
    expect(verdict.test).toBe('wilson')
    expect(verdict.threshold).toBe('max_increase 25%, max 1%')
  })

  it('too few trials is inconclusive', () => {
    const verdict = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(1, 20), {max: 0.01})
    expect(verdict.verdict).toBe('inconclusive')
    expect(verdict.reason).toBe('too few trials in the fault window for error rate: 20, need at least 30')
  })
})

describe('a neighbour that stopped answering', () => {
  it('latency is inconclusive (no successful requests), error_rate breaches, the experiment breaches', () => {
    const rng = seededRng('dead')
    const latency = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations([]), {max_increase: 0.25})
    expect(latency.verdict).toBe('inconclusive')
    expect(latency.reason).toMatch(/^no successful requests during the fault/)
    expect(latency.fault).toBeNull()
    expect(latency.faultCount).toBe(0)
    expectNoNaN(latency)
    const errors = judge('error_rate', 'rate', 'ratio', proportion(0, 750), proportion(1500, 1500), {max: 0.01})
    expect(errors.verdict).toBe('breach')
    const landed: Efficacy = {landed: true, asked: 1, achieved: 1, unit: 'cores', ratio: 1, note: ''}
    expect(judgeOverall([latency, errors], landed).verdict).toBe('breach')
  })
})

describe('series', () => {
  it('throughput max_decrease 20%: halving breaches, a 3% dip is contained', () => {
    const rng = seededRng('throughput')
    const halved = judge('throughput', 'mean', 'per_second', series(noisySeries(rng, 15, 100)), series(noisySeries(rng, 30, 50)), {max_decrease: 0.2})
    expect(halved.verdict).toBe('breach')
    expect(halved.reason).toMatch(/^throughput mean fell (49|50)(\.\d+)?% \(from [\d.]+\/s to [\d.]+\/s; 95% CI -\d.*below the 20% allowed; Mann-Whitney p < 0\.001$/)
    const dipped = judge('throughput', 'mean', 'per_second', series(noisySeries(rng, 15, 100)), series(noisySeries(rng, 30, 97)), {max_decrease: 0.2})
    expect(dipped.verdict).toBe('contained')
  })

  it('oom_kills with max: 0: one OOM kill is a breach without statistics; none is contained', () => {
    const killed = judge('oom_kills', 'sum', 'count', series(zeros(15)), series([0, 0, 1, ...zeros(27)]), {max: 0})
    expect(killed.verdict).toBe('breach')
    expect(killed.test).toBe('direct')
    expect(killed.fault).toBe(1)
    expect(killed.reason).toBe('oom kills sum was 1 during the fault, above the allowed maximum of 0 (an observed value, no test needed)')
    const quiet = judge('oom_kills', 'sum', 'count', series(zeros(15)), series(zeros(30)), {max: 0})
    expect(quiet.verdict).toBe('contained')
  })

  it('a counted breach stands however short the window; a short clean window is inconclusive', () => {
    expect(judge('oom_kills', 'sum', 'count', series(zeros(15)), series([0, 1]), {max: 0}).verdict).toBe('breach')
    const short = judge('oom_kills', 'sum', 'count', series(zeros(15)), series([0, 0]), {max: 0})
    expect(short.verdict).toBe('inconclusive')
    expect(short.reason).toBe('too few intervals in the fault window for oom kills sum: 2, need at least 3')
  })

  it('restarts from a zero baseline with max_increase: a significant rise breaches, a stray one does not', () => {
    const many = judge('restarts', 'sum', 'count', series(zeros(15)), series([...zeros(22), 1, 1, 1, 1, 1, 1, 1, 1]), {max_increase: 0.5})
    expect(many.verdict).toBe('breach')
    expect(many.reason).toMatch(/per interval: any rise from 0 exceeds a relative limit/)
    const stray = judge('restarts', 'sum', 'count', series(zeros(15)), series([...zeros(28), 1, 1]), {max_increase: 0.5})
    expect(stray.verdict).toBe('contained')
  })

  it('memory max against 256Mi is an observed peak, compared directly', () => {
    const rng = seededRng('memory')
    const mebibyte = 1024 ** 2
    const over = judge('memory', 'max', 'bytes', series(noisySeries(rng, 15, 200 * mebibyte)), series(noisySeries(rng, 30, 300 * mebibyte)), {max: 256 * mebibyte})
    expect(over.verdict).toBe('breach')
    expect(over.threshold).toBe('max 256Mi')
    expect(over.reason).toMatch(/^memory max was 3\d\dMi during the fault, above the allowed maximum of 256Mi/)
    const under = judge('memory', 'max', 'bytes', series(noisySeries(rng, 15, 200 * mebibyte)), series(noisySeries(rng, 30, 210 * mebibyte)), {max: 256 * mebibyte})
    expect(under.verdict).toBe('contained')
  })

  it('pressure in percentage points against a bound written as a percentage', () => {
    const rng = seededRng('pressure')
    const calm = judge('cpu_pressure', 'mean', 'percent', series(noisySeries(rng, 15, 2)), series(noisySeries(rng, 30, 3)), {max: 0.1})
    expect(calm.verdict).toBe('contained')
    expect(calm.threshold).toBe('max 10%')
    const stalled = judge('cpu_pressure', 'mean', 'percent', series(noisySeries(rng, 15, 2)), series(noisySeries(rng, 30, 30)), {max: 0.1})
    expect(stalled.verdict).toBe('breach')
    expect(stalled.reason).toMatch(/^cpu pressure mean was (29|30)(\.\d)?% during the fault \(95% CI [\d.]+% … [\d.]+%\), above the allowed maximum of 10%$/)
  })

  it('a sum compares per interval, so a longer fault window is not a rise by itself', () => {
    const rng = seededRng('sum')
    const verdict = judge('cpu_throttled', 'sum', 'count', series(noisySeries(rng, 15, 40)), series(noisySeries(rng, 30, 40)), {max_increase: 0.25})
    expect(verdict.verdict).toBe('contained')
    expect(Math.abs(verdict.change!)).toBeLessThan(0.1)
  })

  it('fewer than 3 intervals is inconclusive', () => {
    const verdict = judge('throughput', 'mean', 'per_second', series([100, 101]), series([50, 51, 49]), {max_decrease: 0.2})
    expect(verdict.verdict).toBe('inconclusive')
    expect(verdict.reason).toBe('too few intervals in the baseline window for throughput mean: 2, need at least 3')
  })
})

describe('inconclusive and edge cases', () => {
  it('fewer than 30 observations, or fewer than 100 for p99', () => {
    const rng = seededRng('few')
    const p50 = judge('latency_p50', 'p50', 'seconds', observations(lognormal(rng, 20, 0.5)), observations(lognormal(rng, 500, 0.5)), {max_increase: 0.25})
    expect(p50.verdict).toBe('inconclusive')
    expect(p50.reason).toBe('too few samples in the baseline window for latency p50: 20, need at least 30')
    const p99 = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 60, 0.5)), {max_increase: 0.25})
    expect(p99.verdict).toBe('inconclusive')
    expect(p99.reason).toBe('too few samples in the fault window for latency p99: 60, need at least 100')
    const custom = judge('latency_p50', 'p50', 'seconds', observations(lognormal(rng, 20, 0.5)), observations(lognormal(rng, 20, 0.5)), {max_increase: 0.25}, {minSamples: {observations: 10}})
    expect(custom.verdict).not.toBe('inconclusive')
  })

  it('an unsteady baseline is inconclusive, with the drift in the reason', () => {
    const rng = seededRng('unsteady')
    const baseline = [...lognormal(rng, 375, 0.5), ...lognormal(rng, 375, 0.5, 1.6)]
    const verdict = judge('latency_p50', 'p50', 'seconds', observations(baseline), observations(lognormal(rng, 1500, 0.5, 3)), {max_increase: 0.25})
    expect(verdict.verdict).toBe('inconclusive')
    expect(verdict.reason).toMatch(/^baseline latency p50 moved \+\d+(\.\d+)?% from its first half to its second \(p < 0\.001\), more than the 25% tolerated: the baseline is not steady$/)
  })

  it('zero variance: identical windows are contained, a clean step is a breach, nothing is NaN', () => {
    const same = judge('latency_p50', 'p50', 'seconds', observations(Array(100).fill(0.01)), observations(Array(100).fill(0.01)), {max_increase: 0.25})
    expect(same.verdict).toBe('contained')
    expect(same.reason).toMatch(/^latency p50 was unchanged/)
    expectNoNaN(same)
    const step = judge('latency_p50', 'p50', 'seconds', observations(Array(100).fill(0.01)), observations(Array(100).fill(0.02)), {max_increase: 0.25})
    expect(step.verdict).toBe('breach')
    expect(step.change).toBe(1)
    expectNoNaN(step)
  })

  it('a baseline of 0 in a non-count series: a significant rise breaches, a fall cannot happen', () => {
    const rng = seededRng('zero')
    const rose = judge('io_pressure', 'mean', 'percent', series(zeros(15)), series(noisySeries(rng, 30, 20)), {max_increase: 0.5})
    expect(rose.verdict).toBe('breach')
    expect(rose.change).toBeNull()
    const fell = judge('io_pressure', 'mean', 'percent', series(zeros(15)), series(zeros(30)), {max_decrease: 0.5})
    expect(fell.verdict).toBe('contained')
    expectNoNaN(rose)
  })

  it('non-finite values are dropped', () => {
    const rng = seededRng('nan')
    const values = lognormal(rng, 100, 0.5)
    const verdict = judge('latency_p50', 'p50', 'seconds', observations([...values, Number.NaN, Infinity]), observations(values), {max_increase: 0.25})
    expect(verdict.baselineCount).toBe(100)
    expect(verdict.verdict).toBe('contained')
    expectNoNaN(verdict)
  })

  it('mismatched or invalid windows are inconclusive rather than an exception', () => {
    expect(judge('latency_p99', 'p99', 'seconds', observations([1, 2, 3]), proportion(1, 2), {max_increase: 0.25}).verdict).toBe('inconclusive')
    const invalid = judge('error_rate', 'rate', 'ratio', proportion(5, 4), proportion(1, 100), {max: 0.01})
    expect(invalid.verdict).toBe('inconclusive')
    expect(invalid.reason).toBe('the baseline window is unusable: invalid proportion 5/4')
  })

  it('several thresholds: a breach of any decides', () => {
    const rng = seededRng('several')
    const verdict = judge('latency_p99', 'p99', 'seconds', observations(lognormal(rng, 750, 0.5)), observations(lognormal(rng, 1500, 0.5, 1.1)), {max_increase: 0.5, max: 0.03})
    expect(verdict.verdict).toBe('breach')
    expect(verdict.test).toBe('bootstrap')
    expect(verdict.threshold).toBe('max_increase 50%, max 30ms')
  })
})

describe('judgeOverall', () => {
  const landed: Efficacy = {landed: true, asked: 2, achieved: 1.9, unit: 'cores', ratio: 0.95, note: 'target held 1.9 cores'}
  const missed: Efficacy = {landed: false, asked: 512, achieved: 60, unit: 'MiB', ratio: 60 / 512, note: 'target OOM-killed by its own limit'}
  const verdictOf = (neighbor: string, verdict: SignalVerdict['verdict'], reason = `${verdict} reason`): SignalVerdict => ({
    neighbor, signal: 'latency_p99', statistic: 'p99', unit: 'seconds', baseline: 0.1, fault: 0.1, baselineCount: 750, faultCount: 1500,
    change: 0, interval: null, test: 'mann-whitney-u', pValue: 0.5, effectSize: 0, threshold: 'max_increase 25%', verdict, reason,
  })

  it('a fault that did not land is inconclusive, whatever the signals say', () => {
    const result = judgeOverall([verdictOf('api', 'breach'), verdictOf('db', 'contained')], missed)
    expect(result.verdict).toBe('inconclusive')
    expect(result.reason).toMatch(/^the fault did not land: target OOM-killed by its own limit \(achieved 60 of the 512 MiB asked \(11\.7%\)\); 1 signal breached even so \(api latency_p99\)$/)
  })

  it('breach beats inconclusive beats contained', () => {
    const breach = judgeOverall([verdictOf('api', 'contained'), verdictOf('db', 'inconclusive'), verdictOf('cache', 'breach', 'p99 rose 80%')], landed)
    expect(breach).toEqual({verdict: 'breach', reason: 'cache latency_p99: p99 rose 80%'})
    const inconclusive = judgeOverall([verdictOf('api', 'contained'), verdictOf('db', 'inconclusive', 'too few')], landed)
    expect(inconclusive).toEqual({verdict: 'inconclusive', reason: 'db latency_p99: too few'})
    const contained = judgeOverall([verdictOf('api', 'contained'), verdictOf('db', 'contained')], landed)
    expect(contained).toEqual({verdict: 'contained', reason: 'all 2 signals of 2 neighbours stayed within their thresholds'})
  })

  it('several breaches are all named; no signals is inconclusive', () => {
    const result = judgeOverall([verdictOf('api', 'breach', 'a'), verdictOf('db', 'breach', 'b')], landed)
    expect(result.reason).toBe('api latency_p99: a (and 1 more breach: db latency_p99)')
    expect(judgeOverall([], landed)).toEqual({verdict: 'inconclusive', reason: 'no signal was judged'})
  })
})
