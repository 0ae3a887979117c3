// How a matrix judges a level from its repeats (strict majority of the planned repeats; a repeat without its dose
// is inconclusive), how it combines the repeats' changes, and the matrix loop itself with a stand-in run loop.
import {describe, expect, it} from 'vitest'

import {aggregateLevels, aggregateSignal, majority, randomEffects} from '../../src/matrix/aggregate.js'
import {runMatrix} from '../../src/matrix/run-matrix.js'
import {renderMatrix} from '../../src/matrix/table.js'
import type {MatrixRun} from '../../src/matrix/types.js'
import type {Journal} from '../../src/report/journal.js'
import type {RunOptions} from '../../src/run/runner.js'
import {PlanError} from '../../src/platforms/platform.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import type {SignalVerdict} from '../../src/verdict/types.js'
import {fixtureJournal} from '../fixtures/journals/load.js'
import {shortened} from '../helpers/experiments.js'

type Verdict = SignalVerdict['verdict']

/** A journal with one neighbour signal (latency_p50, relative) of this verdict and change, and a dose. */
function journal(verdict: Verdict, change = 0.5, landed = true, halfWidth = 0.1): Journal {
  const j = fixtureJournal('cpu-hog-cgroup')
  const signal = {...j.neighbors[0].signals.find((s) => s.signal === 'latency_p50')!}
  Object.assign(signal, {verdict, change, interval: {low: change - halfWidth, high: change + halfWidth, level: 0.95}, threshold: 'max_increase 25%'})
  j.neighbors[0].signals = [signal]
  j.injection.efficacy = {...j.injection.efficacy!, landed}
  j.verdict = landed ? verdict : 'inconclusive'
  return j
}

const runs = (level: 'none' | 'cgroup', journals: Journal[]): MatrixRun[] => journals.map((j, i) => ({level, repetition: i + 1, index: i + 1, journal: j}))
const aggregate = (level: 'none' | 'cgroup', journals: Journal[], repeat = journals.length) =>
  aggregateLevels(runs(level, journals), {levels: [level], repeat, expectations: {cgroup: 'contained'}, failOn: 'mismatch'})[0]

describe('the level verdict', () => {
  it('is the strict majority of the planned repeats', () => {
    expect(majority({breach: 2, contained: 1, inconclusive: 0}, 3)).toBe('breach')
    expect(majority({breach: 1, contained: 2, inconclusive: 0}, 3)).toBe('contained')
    expect(majority({breach: 1, contained: 1, inconclusive: 1}, 3)).toBe('inconclusive')
    expect(majority({breach: 1, contained: 1, inconclusive: 0}, 2)).toBe('inconclusive')
    // two of three planned repeats ran and both breached: still a majority of three
    expect(majority({breach: 2, contained: 0, inconclusive: 0}, 3)).toBe('breach')
    expect(majority({breach: 1, contained: 0, inconclusive: 0}, 3)).toBe('inconclusive')
  })

  it('reports counts, the dose proven, and the gate', () => {
    const level = aggregate('cgroup', [journal('breach'), journal('breach'), journal('contained')])
    expect(level.verdict).toBe('breach')
    expect(level.counts).toMatchObject({breach: 2, contained: 1, inconclusive: 0})
    expect(level.doseLanded).toBe(3)
    expect(level.reason).toBe('2/3 breach, 1/3 contained; dose landed in 3/3')
    expect(level.expect).toBe('contained')
    expect(level.exitCode).toBe(ExitCode.Mismatched)
    expect(aggregate('none', [journal('breach')]).exitCode).toBe(ExitCode.Matched) // nothing expected of none
  })

  it('a repeat whose dose did not land makes its signals inconclusive too', () => {
    const level = aggregate('cgroup', [journal('breach', 0.5, false), journal('breach', 0.5, false), journal('breach')])
    expect(level.verdict).toBe('inconclusive')
    expect(level.doseLanded).toBe(1)
    expect(level.signals[0].counts).toEqual({breach: 1, contained: 0, inconclusive: 2})
    expect(level.signals[0].verdict).toBe('inconclusive')
  })

  it('a run that could not start counts as inconclusive; a level that never finished is aborted', () => {
    const refused: MatrixRun = {level: 'cgroup', repetition: 1, index: 1, error: {message: 'no cgroup v2 here', exitCode: 4}}
    const level = aggregateLevels([refused], {levels: ['cgroup'], repeat: 1, expectations: {}, failOn: 'mismatch'})[0]
    expect(level.verdict).toBe('inconclusive')
    expect(level.reason).toContain('refused: no cgroup v2 here')
    expect(aggregateLevels([], {levels: ['none'], repeat: 2, expectations: {}, failOn: 'mismatch'})[0].verdict).toBe('aborted')
  })
})

describe('combining the repeats', () => {
  const repeats = (changes: number[], halfWidth = 0.1) => changes.map((c) => {
    const j = journal('breach', c, true, halfWidth)
    return {journal: j, verdict: j.neighbors[0].signals[0]}
  })

  it('median, range, and a pooled change whose interval is narrower than one repeat\'s when they agree', () => {
    const s = aggregateSignal(repeats([0.5, 0.5, 0.5]), 3)
    expect(s.measure).toBe('change')
    expect(s.median).toBeCloseTo(0.5)
    expect(s.range).toEqual({low: 0.5, high: 0.5})
    expect(s.pooled!.method).toBe('random-effects log-ratio')
    expect(s.pooled!.estimate).toBeCloseTo(0.5, 2)
    const width = s.pooled!.interval!.high - s.pooled!.interval!.low
    expect(width).toBeLessThan(0.2)
    expect(width).toBeGreaterThan(0.2 / 2) // about 1/sqrt(3) of one repeat's
  })

  it('repeats that disagree widen the pooled interval (between-repeat variance)', () => {
    const agree = aggregateSignal(repeats([0.5, 0.5, 0.5]), 3).pooled!.interval!
    const disagree = aggregateSignal(repeats([0.1, 0.5, 1.5]), 3).pooled!.interval!
    expect(disagree.high - disagree.low).toBeGreaterThan(3 * (agree.high - agree.low))
  })

  it('random effects reduce to the inverse-variance mean when the estimates agree', () => {
    const pooled = randomEffects([{y: 1, se: 1}, {y: 1, se: 1}])!
    expect(pooled.mean).toBe(1)
    expect(pooled.high - pooled.low).toBeCloseTo(2 * 1.959964 / Math.sqrt(2), 4)
  })

  it('proportions are pooled as events over trials, with a Wilson interval', () => {
    const j = fixtureJournal('cpu-hog-none')
    const errors = j.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    const s = aggregateSignal([{journal: j, verdict: errors}, {journal: j, verdict: {...errors, fault: 0, faultCount: errors.faultCount}}], 2)
    expect(s.measure).toBe('value')
    expect(s.pooled!.method).toBe('pooled proportion')
    expect(s.pooled!.estimate).toBeCloseTo(errors.fault! / 2, 3)
    expect(s.pooled!.interval!.low).toBeLessThan(s.pooled!.estimate)
  })
})

describe('runMatrix', () => {
  const experiment = shortened('experiments/cpu-hog.yaml')

  it('runs every (level, repeat) in the seeded order, each at its level, and aggregates', async () => {
    const seen: string[] = []
    const fakeRun = async (options: RunOptions) => {
      seen.push(options.levelOverride!)
      const j = journal(options.levelOverride === 'none' ? 'breach' : 'contained')
      j.experiment.levelOverride = options.levelOverride
      j.runId = options.runId!
      return j
    }
    const result = await runMatrix({experiment, levels: ['none', 'cgroup'], repeat: 3, seed: 's', failOn: 'mismatch', run: fakeRun})
    expect(seen).toEqual(result.order.map((s) => s.level))
    expect(result.runs).toHaveLength(6)
    expect(result.summary.map((l) => [l.level, l.verdict, l.expect])).toEqual([['none', 'breach', undefined], ['cgroup', 'contained', 'contained']])
    expect(result.exitCode).toBe(ExitCode.Matched)
    const text = renderMatrix(result)
    expect(text).toMatch(/^level +neighbour +signal +median +range +pooled +95% CI +repeats +threshold +verdict/)
    expect(text).toContain('none: BREACH (informs only) — 3/3 breach; dose landed in 3/3')
    expect(text).toContain('cgroup: CONTAINED (expected contained) — 3/3 contained; dose landed in 3/3')
  })

  it('a level the machine cannot make is reported, not fatal', async () => {
    const fakeRun = async (options: RunOptions) => {
      if (options.levelOverride === 'shared') throw new PlanError('no shared box here', ExitCode.Inconclusive)
      return journal('contained')
    }
    const result = await runMatrix({experiment, levels: ['shared', 'cgroup'], repeat: 1, seed: 's', failOn: 'inconclusive', run: fakeRun})
    const shared = result.summary.find((l) => l.level === 'shared')!
    expect(shared.verdict).toBe('inconclusive')
    expect(result.runs.find((r) => r.level === 'shared')!.error!.message).toContain('no shared box here')
    expect(result.exitCode).toBe(ExitCode.Inconclusive)
  })

  it('an interrupt stops the matrix after the current run and exits 3', async () => {
    const controller = new AbortController()
    let count = 0
    const fakeRun = async () => {
      if (++count === 2) controller.abort()
      return journal('contained')
    }
    const result = await runMatrix({experiment, levels: ['none', 'cgroup'], repeat: 3, seed: 's', failOn: 'mismatch', run: fakeRun, signal: controller.signal})
    expect(result.runs).toHaveLength(2)
    expect(result.interrupted).toBe(true)
    expect(result.exitCode).toBe(ExitCode.Aborted)
  })
})
