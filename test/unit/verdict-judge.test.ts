import {describe, expect, it} from 'vitest'

import {judgeOverall} from '../../src/verdict/judge.js'
import type {Efficacy, SignalVerdict} from '../../src/verdict/types.js'

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

  it('a breach at a partial dose stands and says the dose; anything else at one is inconclusive', () => {
    const partial: Efficacy = {landed: false, partial: true, asked: 4.5, achieved: 3.6, unit: 'cpu-seconds', ratio: 0.8, note: '1.20 of 1.50 cores asked'}
    const breach = judgeOverall([verdictOf('api', 'breach', 'p50 rose 60%'), verdictOf('db', 'inconclusive')], partial)
    expect(breach.verdict).toBe('breach')
    expect(breach.reason).toBe('api latency_p99: p50 rose 60%; at a short dose, 80% of the cpu-seconds asked (1.20 of 1.50 cores asked): a boundary that did not contain that much does not contain the dose asked')
    expect(judgeOverall([verdictOf('api', 'contained'), verdictOf('db', 'contained')], partial).verdict).toBe('inconclusive')
    // the same short dose whose pairs were not judged for a breach (not partial): inconclusive, as before
    expect(judgeOverall([verdictOf('api', 'breach')], {...partial, partial: undefined}).verdict).toBe('inconclusive')
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
