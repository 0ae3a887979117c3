// The arithmetic of chaos calibrate: the exact interval of the false-breach share, the noise each look records and
// its pooling over runs, the pairs a design needs to show containment at no change, and the summary of A/A journals.
import {describe, expect, it} from 'vitest'

import {betaQuantile, clopperPearson, decisionPairs, expectDecision, pairsNeeded, poolAa, poolNoise, ratedShift, realisedChange, secondsPerPair, shiftRelation, summariseAa, summariseShift} from '../../src/calibrate/report.js'
import {nothingInjected, planShift, shiftReading} from '../../src/calibrate/shift.js'
import type {Experiment} from '../../src/experiment/schema.js'
import type {Journal, LookRecord} from '../../src/report/journal.js'
import {judgeBlocks} from '../../src/verdict/judge-blocks.js'
import {criticalT} from '../../src/verdict/three-way.js'

describe('Clopper-Pearson', () => {
  it('0 of n: from 0 to 1 - (alpha/2)^(1/n), the closed form', () => {
    for (const n of [2, 5, 20, 40]) {
      const ci = clopperPearson(0, n)
      expect(ci.low).toBe(0)
      expect(ci.high).toBeCloseTo(1 - 0.025 ** (1 / n), 9)
    }
    // the figure the "at most 5%" is held to: 0 of 20 still allows 16.8%
    expect(clopperPearson(0, 20).high).toBeCloseTo(0.1684, 4)
  })

  it('n of n mirrors 0 of n, and published values for 1 of 20 and 5 of 10', () => {
    expect(clopperPearson(20, 20).low).toBeCloseTo(1 - clopperPearson(0, 20).high, 9)
    const one = clopperPearson(1, 20)
    expect(one.low).toBeCloseTo(0.00127, 5)
    expect(one.high).toBeCloseTo(0.2487, 4)
    const half = clopperPearson(5, 10)
    expect(half.low).toBeCloseTo(0.1871, 4)
    expect(half.high).toBeCloseTo(0.8129, 4)
  })

  it('a beta quantile inverts the incomplete beta; bad counts are refused', () => {
    // Beta(1, b) has the closed form 1 - (1 - p)^(1/b)
    expect(betaQuantile(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** 0.25, 9)
    expect(() => clopperPearson(3, 2)).toThrow(RangeError)
    expect(() => clopperPearson(0, 0)).toThrow(RangeError)
  })
})

describe('noise', () => {
  it('a look records the sd of one pair\'s log ratio and the margin ln(1 + L)', () => {
    const ratios = [0.1, -0.2, 0.3, 0, 0.05, -0.1]
    const verdict = judgeBlocks({
      neighbor: 'api', signal: 'latency_p95', statistic: 'mean', unit: 'seconds', hypothesis: {signal: 'latency_p95', max_increase: 0.5},
      on: ratios.map((r) => ({kind: 'series', values: [Math.exp(r)]})), off: ratios.map(() => ({kind: 'series', values: [1]})), paired: true, z: 1.645,
    })
    const m = ratios.reduce((a, b) => a + b, 0) / ratios.length
    const sd = Math.sqrt(ratios.reduce((a, r) => a + (r - m) ** 2, 0) / (ratios.length - 1))
    expect(verdict.noise!.sd).toBeCloseTo(sd, 12)
    expect(verdict.noise!.margin).toBeCloseTo(Math.log(1.5), 12)
    expect(verdict.noise!.blocks).toBe(6)
  })

  it('an absolute bound\'s margin is on its harmless side: negative when the fault-off blocks are already beyond it', () => {
    const share = (events: number) => Array.from({length: 3}, () => ({kind: 'proportion' as const, events, total: 100}))
    const judge = (offEvents: number) => judgeBlocks({
      neighbor: 'api', signal: 'error_rate', statistic: 'mean', unit: 'ratio', hypothesis: {signal: 'error_rate', max: 0.01},
      on: share(0), off: share(offEvents), paired: true, z: 1.645,
    }).noise!
    expect(judge(50).margin).toBeCloseTo(0.01 - 0.5, 12)
    expect(judge(0).margin).toBeCloseTo(0.01, 12)
  })

  it('pools runs by their degrees of freedom, the margin as a mean; runs of fewer than two pairs add nothing', () => {
    const pooled = poolNoise([{sd: 1, margin: 0.4, pairs: 3}, {sd: 2, margin: 0.2, pairs: 5}, {sd: 9, margin: 0.3, pairs: 1}])!
    expect(pooled.sd).toBeCloseTo(Math.sqrt((2 * 1 + 4 * 4) / 6), 12)
    expect(pooled.margin).toBeCloseTo(0.3, 12)
    expect(pooled.runs).toBe(2)
    expect(poolNoise([{sd: 1, margin: 0.4, pairs: 1}])).toBeUndefined()
  })
})

describe('pairs needed for contained at no change', () => {
  const looks = [{pairs: 4, z: 2.4}, {pairs: 6, z: 2.3}, {pairs: 8, z: 2.2}, {pairs: 10, z: 2.1}]
  const upper = (sd: number, n: number, z: number, q = 0) => (criticalT(z, n - 1) + q) * sd / Math.sqrt(n)

  it('the first planned look whose upper end at no change falls below the margin', () => {
    const noise = {sd: 0.35, margin: Math.log(1.5)}
    const need = pairsNeeded(noise, looks)!
    expect(need.withinPlan).toBe(true)
    const index = looks.findIndex((l) => l.pairs === need.pairs)
    expect(upper(noise.sd, need.pairs, looks[index].z)).toBeLessThan(noise.margin)
    for (const earlier of looks.slice(0, index)) expect(upper(noise.sd, earlier.pairs, earlier.z)).toBeGreaterThanOrEqual(noise.margin)
    expect(index).toBeGreaterThan(0)
  })

  it('90% assurance needs at least as many pairs as the median run; quiet signals decide at the first look', () => {
    const noise = {sd: 0.35, margin: Math.log(1.5)}
    expect(pairsNeeded(noise, looks, 0.9)!.pairs).toBeGreaterThanOrEqual(pairsNeeded(noise, looks)!.pairs)
    expect(pairsNeeded({sd: 0.01, margin: 0.4}, looks)).toEqual({pairs: 4, withinPlan: true})
  })

  it('beyond the plan: the last boundary kept, pair by pair, flagged as beyond the budget', () => {
    const noise = {sd: 1.2, margin: Math.log(1.25)}
    const need = pairsNeeded(noise, looks)!
    expect(need.withinPlan).toBe(false)
    expect(upper(noise.sd, need.pairs, 2.1)).toBeLessThan(noise.margin)
    expect(upper(noise.sd, need.pairs - 1, 2.1)).toBeGreaterThanOrEqual(noise.margin)
    expect(pairsNeeded({sd: 1, margin: 0}, looks)).toBeUndefined()
  })

  it('a run needs what its noisiest signal needs, in pairs and in this machine\'s seconds per pair', () => {
    const signals = [
      {neighbor: 'api', signal: 'latency_p95', sd: 0.35, margin: Math.log(1.25), runs: 3},
      {neighbor: 'api', signal: 'error_rate', sd: 0.001, margin: 0.01, runs: 3},
    ]
    const need = expectDecision(signals, looks, 9.5)
    expect(need.limiting).toEqual({neighbor: 'api', signal: 'latency_p95'})
    expect(need.median!.pairs).toBe(pairsNeeded(signals[0], looks)!.pairs)
    expect(need.median!.seconds).toBeCloseTo(need.median!.pairs * 9.5, 9)
  })

  it('a signal already beyond its absolute bound without the fault (margin <= 0) can never be shown contained', () => {
    const need = expectDecision([
      {neighbor: 'api', signal: 'latency_p95', sd: 0.35, margin: Math.log(1.25), runs: 3},
      {neighbor: 'api', signal: 'error_rate', sd: 0.01, margin: -0.2, runs: 3},
    ], looks, 9.5)
    expect(need.median).toBeUndefined()
    expect(need.limiting).toEqual({neighbor: 'api', signal: 'error_rate'})
  })
})

function journal(verdict: Journal['verdict'], looks: LookRecord[], landed = true, pairs = 4): Journal {
  const t0 = Date.parse('2026-12-02T10:00:00Z')
  const blocks = Array.from({length: pairs * 2}, (_, i) => ({
    arm: (i % 2 ? 'on' : 'off') as 'on' | 'off', pair: Math.floor(i / 2) + 1,
    start: new Date(t0 + i * 5000).toISOString(), end: new Date(t0 + i * 5000 + 4000).toISOString(),
  }))
  return {
    verdict, runId: `r${Math.random()}`, injection: {fault: {type: 'cpu-hog'}, efficacy: {landed, asked: 1, achieved: landed ? 1 : 0, unit: 'cpu-seconds', ratio: landed ? 1 : 0, note: landed ? 'ok' : 'burned nothing'}, events: []},
    design: {kind: 'interleaved', blockMs: 4000, settleMs: 1000, budgetMs: 60_000, alpha: 0.05, spending: 'pocock', maxPairs: 10, plannedLooks: [4, 6], blocks, looks, stoppedBecause: ''},
    neighbors: [{name: 'api', signals: [{signal: 'latency_p95', test: 'paired-log-ratio-t', change: 0.1, interval: {low: verdict === 'breach' ? 0.6 : -0.1, high: verdict === 'breach' ? 0.9 : 0.2, level: 0.95}}]}],
  } as unknown as Journal
}

function lookAt(pairs: number, decision: LookRecord['decision'], sd: number): LookRecord {
  return {look: 1, pairs, z: 2.2, why: '', decision, corrected: 0, signals: [{neighbor: 'api', signal: 'latency_p95', verdict: 'x', change: 0, noise: {sd, margin: 0.22}}]}
}

describe('the A/A summary', () => {
  const journals = [
    journal('contained', [lookAt(4, 'undecided', 0.3), lookAt(6, 'contained', 0.2)], true, 6),
    journal('breach', [lookAt(4, 'breach', 0.4)]),
    journal('inconclusive', [lookAt(4, 'undecided', 0.3)], false),
    journal('contained', [lookAt(4, 'contained', 0.1)]),
  ]
  const summary = summariseAa(journals)

  it('counts verdicts, false breaches with their exact interval, and the runs whose null dose did not land', () => {
    expect(summary.verdicts).toEqual({contained: 2, breach: 1, inconclusive: 1, aborted: 0})
    expect(summary.falseBreach.count).toBe(1)
    expect(summary.falseBreach.of).toBe(4)
    expect(summary.falseBreach.interval).toEqual(clopperPearson(1, 4))
    expect(summary.doseNotLanded).toEqual({count: 1, notes: ['burned nothing']})
  })

  it('the pairs a decision took, the seconds a pair took, the last look\'s noise pooled, and the coverage of no change', () => {
    expect(journals.map(decisionPairs)).toEqual([6, 4, undefined, 4])
    expect(summary.decisionPairs).toEqual({median: 4, values: [6, 4, 4]})
    // eight blocks 5 s apart, the last 4 s long: 39 s over 4 pairs
    expect(secondsPerPair(journals[1])).toBeCloseTo(39 / 4, 9)
    expect(summary.noise).toHaveLength(1)
    expect(summary.noise[0].sd).toBeCloseTo(poolNoise([{sd: 0.2, margin: 0.22, pairs: 6}, {sd: 0.4, margin: 0.22, pairs: 4}, {sd: 0.3, margin: 0.22, pairs: 4}, {sd: 0.1, margin: 0.22, pairs: 4}])!.sd, 12)
    expect(summary.coverage).toEqual([{neighbor: 'api', signal: 'latency_p95', covered: 3, of: 4, levels: [0.95, 0.95, 0.95, 0.95]}])
  })
})

describe('the A/A runs of several calibrations pooled', () => {
  it('adds their verdicts, judged runs and coverage, and gives the pooled rate its exact interval', () => {
    const one = summariseAa([journal('contained', [lookAt(4, 'contained', 0.1)]), journal('breach', [lookAt(4, 'breach', 0.4)])])
    const other = summariseAa([journal('contained', [lookAt(4, 'contained', 0.1)]), journal('inconclusive', [lookAt(4, 'undecided', 0.3)], false)])
    const pooled = poolAa([one, other, {...other, verdicts: {...other.verdicts, aborted: 2}}])
    expect(pooled.calibrations).toBe(3)
    expect(pooled.verdicts).toEqual({contained: 3, breach: 1, inconclusive: 2, aborted: 2})
    // aborted runs judged nothing: the denominator is each calibration's own judged count
    expect(pooled.falseBreach).toEqual({count: 1, of: 6, interval: clopperPearson(1, 6)})
    expect(pooled.doseNotLanded).toBe(2)
    expect(pooled.coverage).toEqual([{signal: 'latency_p95', covered: 5, of: 6}])
  })

  it('the figures the goal is held to: 0 of 100 bounds the rate under 3.7%, 0 of 74 under 5%, 0 of 20 does not', () => {
    const none = (runs: number) => ({verdicts: {contained: runs, breach: 0, inconclusive: 0, aborted: 0}, doseNotLanded: {count: 0, notes: []}, falseBreach: {count: 0, of: runs, interval: clopperPearson(0, runs), level: 0.95}, coverage: []})
    expect(poolAa([none(20), none(20), none(20), none(20), none(20)]).falseBreach.interval.high).toBeCloseTo(0.0362, 4)
    expect(poolAa([none(10), none(10), none(10), none(10), none(10), none(10), none(10), none(4)]).falseBreach.interval.high).toBeLessThan(0.05)
    expect(poolAa([none(20)]).falseBreach.interval.high).toBeGreaterThan(0.05)
  })
})

describe('the exact shift', () => {
  const reading = shiftReading('api', 0.25)
  const latency = {samples: {kind: 'observations' as const, values: [0.004, 0.01, 0.2], blocks: [0, 0, 1]}, statistic: 'p95' as const, unit: 'seconds' as const}

  it('multiplies the named neighbour\'s latencies, observations or a series, by exactly 1 + shift, and nothing else', () => {
    const shifted = reading.adjust('api', 'latency_p95', latency)
    expect('samples' in shifted && shifted.samples).toEqual({kind: 'observations', values: [0.004 * 1.25, 0.01 * 1.25, 0.2 * 1.25], blocks: [0, 0, 1]})
    const series = reading.adjust('api', 'latency_p99', {samples: {kind: 'series', values: [2, 4]}, statistic: 'mean', unit: 'seconds'})
    expect('samples' in series && series.samples).toEqual({kind: 'series', values: [2.5, 5]})
    // another neighbour, a signal that is not a latency, a signal not measured: as they were
    expect(reading.adjust('db', 'latency_p95', latency)).toBe(latency)
    const errors = {samples: {kind: 'proportion' as const, events: 3, total: 100}, statistic: 'rate' as const, unit: 'ratio' as const}
    expect(reading.adjust('api', 'error_rate', errors)).toBe(errors)
    expect(reading.adjust('api', 'latency_p95', {unavailable: 'no probe'})).toEqual({unavailable: 'no probe'})
    expect(reading.plan).toBe('shift: every latency of neighbour api in the fault-on blocks read ×1.25 (+25%, exact, on the run\'s own noise); the fault at its null dose')
  })

  it('shifts the first neighbour with a latency hypothesis; refuses one without, and a shift that is no rise', () => {
    const experiment = {
      metadata: {name: 'x'},
      neighbors: [{name: 'db'}, {name: 'api'}],
      hypothesis: [{signal: 'error_rate', max: 0.01, neighbor: 'db'}, {signal: 'latency_p95', max_increase: 0.25, neighbor: 'api'}],
    } as unknown as Experiment
    expect(planShift(experiment, [0.25, 0.5])).toEqual({neighbor: 'api', shifts: [0.25, 0.5]})
    expect(() => planShift(experiment, [0.25], 'db')).toThrow('calibrate: neighbour db has no latency hypothesis, so there is nothing for --shift to shift')
    expect(() => planShift(experiment, [0.25], 'cache')).toThrow('calibrate: --neighbor cache is not a neighbour of x (db, api)')
    expect(() => planShift(experiment, [0])).toThrow('calibrate: --shift 0% is not a rise between 0% and 1000%')
    expect(() => planShift(experiment, [-0.1])).toThrow('is not a rise')
  })

  it('which verdict is wrong where: below the threshold a breach, at it both, above it a contained; power from twice it', () => {
    expect(shiftRelation(0.25, 0.25)).toEqual({at: 'at the threshold', wrong: ['breach', 'contained'], power: false})
    expect(shiftRelation(0.5, 0.25)).toEqual({at: 'twice the threshold', wrong: ['contained'], power: true})
    expect(shiftRelation(0.25, 0.5)).toEqual({at: '0.5× the threshold', wrong: ['breach'], power: false})
    expect(shiftRelation(0.3, 0.25)).toEqual({at: '1.2× the threshold', wrong: ['contained'], power: false})
  })

  it('summarises each latency signal of the shifted neighbour: its verdicts, both shares with exact intervals, each run\'s estimate', () => {
    const run = (p95: string, p99: string, change: number) => ({
      verdict: p95 === 'breach' || p99 === 'breach' ? 'breach' : p95 === 'contained' && p99 === 'contained' ? 'contained' : 'inconclusive',
      runId: `r${change}`,
      neighbors: [{name: 'api', signals: [
        {signal: 'error_rate', verdict: 'contained', change: 0},
        {signal: 'latency_p95', verdict: p95, change},
        {signal: 'latency_p99', verdict: p99, change: change / 2},
      ]}],
    }) as unknown as Journal
    const journals = [run('breach', 'contained', 0.3), run('inconclusive', 'contained', 0.22), run('contained', 'contained', 0.2), {...run('contained', 'contained', 0), verdict: 'aborted'} as Journal]
    const summary = summariseShift(journals, 'api', 0.25, [{signal: 'error_rate'}, {signal: 'latency_p95', max_increase: 0.25}, {signal: 'latency_p99', max_increase: 0.5}])
    expect(summary.verdicts).toEqual({breach: 1, inconclusive: 1, contained: 1, aborted: 1})
    expect(summary.signals.map((g) => g.signal)).toEqual(['latency_p95', 'latency_p99'])
    const [p95, p99] = summary.signals
    expect(p95).toEqual({signal: 'latency_p95', threshold: 0.25, verdicts: {breach: 1, contained: 1, inconclusive: 1}, of: 3, breach: clopperPearson(1, 3), contained: clopperPearson(1, 3), changes: [0.3, 0.22, 0.2], realised: null})
    expect(p99.verdicts).toEqual({breach: 0, contained: 3, inconclusive: 0})
    expect(p99.contained).toEqual(clopperPearson(3, 3))
    expect(summary.runIds).toEqual(['r0.3', 'r0.22', 'r0.2', 'r0'])
    // what the fault-on blocks started is kept with the family: the null dose unless asked otherwise
    expect(summary.dose).toBe('null')
    expect(summariseShift(journals, 'api', 0.25, [], 'none').dose).toBe('none')
  })

  it('--shift-dose none: the plan says nothing is started, and the block\'s "fault" lands at once and stops at once', async () => {
    expect(shiftReading('api', 0.25, 'none').plan).toBe('shift: every latency of neighbour api in the fault-on blocks read ×1.25 (+25%, exact, on the run\'s own noise); nothing started in them, so the shift is the whole change')
    const active = await nothingInjected.start({} as Parameters<typeof nothingInjected.start>[0])
    expect(active.efficacy({} as Parameters<typeof active.efficacy>[0])).toMatchObject({landed: true, note: 'nothing injected (a calibration\'s shift alone)'})
    await expect(active.stop()).resolves.toBeUndefined()
    expect(active.ended).toBeUndefined()
  })
})

describe('the change a shift\'s runs really saw', () => {
  /** a run whose last look holds its pairs: fault-off readings around 100 ms, fault-on ones × factor × the run's own effect */
  const runWith = (pairs: number, factor: number, seed: number) => {
    let x = seed
    const rng = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const off = Array.from({length: pairs}, () => 100 * Math.exp(0.2 * (rng() - 0.5)))
    const on = off.map((v) => v * factor * Math.exp(0.2 * (rng() - 0.5)))
    return {runId: `r${seed}`, verdict: 'inconclusive', neighbors: [], design: {looks: [{signals: [
      {neighbor: 'api', signal: 'latency_p95', verdict: 'inconclusive', change: null, blocks: {on, off}},
      {neighbor: 'other', signal: 'latency_p95', verdict: 'inconclusive', change: null, blocks: {on: off.map((v) => v * 3), off}},
    ]}]}} as unknown as Journal
  }

  it('pools the pairs of every run on the log scale, its interval clustered by run, and finds the shift asked on quiet noise', () => {
    const journals = Array.from({length: 30}, (_, i) => runWith(20, 1.25, i + 1))
    const r = realisedChange(journals, 'api', 'latency_p95')!
    expect(r).toMatchObject({pairs: 600, runs: 30})
    expect(r.low).toBeLessThan(0.25)
    expect(r.high).toBeGreaterThan(0.25)
    expect(r.high - r.low).toBeLessThan(0.03)
    // the other neighbour's pairs are not this one's
    expect(realisedChange(journals, 'other', 'latency_p95')!.change).toBeCloseTo(2, 1)
  })

  it('shows a null dose\'s own effect added to the shift, and the verdicts are then rated at what was realised', () => {
    // the shift ×1.25 on top of a null dose that itself slows the neighbour by 5%: +31%, beyond the band around +25%
    const journals = Array.from({length: 30}, (_, i) => runWith(20, 1.25 * 1.05, i + 1))
    const r = realisedChange(journals, 'api', 'latency_p95')!
    expect(r.change).toBeGreaterThan(0.29)
    expect(r.low).toBeGreaterThan(1.1 * 0.25)
    expect(ratedShift(0.25, r)).toBe(r.change)
    expect(shiftRelation(ratedShift(0.25, r), 0.25).wrong).toEqual(['contained'])
  })

  it('keeps the shift asked when the realised change is within a tenth of it, or unknown', () => {
    expect(ratedShift(0.25, {change: 0.26, low: 0.255, high: 0.265, pairs: 900, runs: 36})).toBe(0.25)
    expect(ratedShift(0.25, {change: 0.2, low: 0.19, high: 0.21, pairs: 900, runs: 36})).toBe(0.2)
    expect(ratedShift(0.25, null)).toBe(0.25)
  })

  it('rates a shift asked below the threshold, to make up for the null dose\'s own effect, at the threshold once it was realised there', () => {
    // ×1.20 asked on a busy machine whose null dose adds 4%: realised +24.8%, within a tenth of the 25% threshold
    const there = {change: 0.248, low: 0.236, high: 0.26, pairs: 900, runs: 36}
    expect(ratedShift(0.2, there, 0.25)).toBe(0.25)
    expect(shiftRelation(ratedShift(0.2, there, 0.25), 0.25)).toEqual({at: 'at the threshold', wrong: ['breach', 'contained'], power: false})
    // and twice it likewise
    expect(ratedShift(0.44, {change: 0.5, low: 0.47, high: 0.53, pairs: 200, runs: 36}, 0.25)).toBe(0.5)
    // without the threshold, only the shift asked is a candidate
    expect(ratedShift(0.2, there)).toBe(0.248)
  })

  it('needs two runs that kept their pairs', () => {
    expect(realisedChange([runWith(10, 1.5, 1)], 'api', 'latency_p95')).toBeNull()
    expect(realisedChange([runWith(10, 1.5, 1), {runId: 'x', neighbors: []} as unknown as Journal], 'api', 'latency_p95')).toBeNull()
  })
})

describe('the expected time to a decision in chaos run --dry-run', () => {
  it('uses the run\'s own looks, and the calibrated time per pair with its blocks and settle replaced by the run\'s', async () => {
    const {expectedDecision} = await import('../../src/calibrate/store.js')
    const {fromYaml} = await import('../helpers/experiments.js')
    const {planDesign} = await import('../../src/run/design.js')
    const experiment = fromYaml(`apiVersion: chaos/v1
kind: Experiment
metadata: {name: x}
platform: process
target: {name: worker, run: [sleep, '60']}
neighbors: [{name: api, run: [sleep, '60'], probe: {http: {url: 'http://127.0.0.1:1/', rate: 10}}}]
fault: {type: cpu-hog}
verdict: {block: 2s, settle: 1s, budget: 60s}
hypothesis: [{signal: latency_p95, max_increase: 25%}]
expect: contained
`)
    const noise = [{neighbor: 'api', signal: 'latency_p95', sd: 0.3, margin: Math.log(1.25), runs: 5}]
    // calibrated by the engine of one settle a pair, with 4 s blocks and a 1 s settle: 10.5 s a pair is 1.5 s of
    // overhead; this run's pair is two 2 s blocks, a 1 s settle after each, and the overhead: 7.5 s
    const calibration = {
      createdAt: '2026-12-02T10:00:00.000Z', machine: {hostname: 'ci', cpus: 2, loadAverage: [0]},
      design: {blockMs: 4000, settleMs: 1000}, aa: {runs: 5, falseBreach: {count: 0}, secondsPerPair: 10.5, noise},
    } as unknown as import('../../src/calibrate/store.js').Calibration
    const lines = expectedDecision(calibration, experiment)
    const need = expectDecision(noise, planDesign(experiment, 'calibration').looks, 7.5)
    expect(lines[0]).toContain(`expected time to a decision (calibrated 2026-12-02 10:00 on ci, 5 A/A runs, 0 false breach(es)): contained at no change after ${need.median!.pairs} pairs, ${Math.round(need.median!.seconds)} s of measuring`)
    expect(lines[1]).toMatch(/calibrated with blocks of 4s, this run uses 2s/)
    // a calibration of this engine says its two settles a pair: 11.5 s is the same 1.5 s of overhead
    const now = {...calibration, design: {blockMs: 4000, settleMs: 1000, settlesPerPair: 2}, aa: {...calibration.aa, secondsPerPair: 11.5}} as typeof calibration
    expect(expectedDecision(now, experiment)[0]).toBe(lines[0])
  })
})
