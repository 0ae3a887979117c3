// A breach at a short dose stands; containment needs the whole dose (verdict/judge.ts BREACH_DOSE_FLOOR). What the
// run's blocks, its pooled dose and its looks do with a dose short of the one asked.
import {describe, expect, it} from 'vitest'

import {blockSet, type MeasuredBlock, pooledEfficacy} from '../../src/run/blocks.js'
import type {Design} from '../../src/run/design.js'
import {breachOnly, type LookResult} from '../../src/run/judging.js'
import {attributable} from '../../src/verdict/judge.js'
import type {Efficacy, SignalVerdict} from '../../src/verdict/types.js'

const interleaved = {kind: 'interleaved'} as Design
const windows = {kind: 'windows'} as Design
const block = (ratio: number): Efficacy => ({landed: ratio >= 0.9, asked: 1.5, achieved: 1.5 * ratio, unit: 'cpu-seconds', ratio, note: `${(1.5 * ratio).toFixed(2)} of 1.50 cores asked`})

describe('blockSet at a short dose', () => {
  const blocks: MeasuredBlock[] = [
    {arm: 'on', pair: 0, from: 1000, to: 4000, landed: false, partial: true},
    {arm: 'off', pair: 0, from: 4500, to: 7500},
    {arm: 'off', pair: 1, from: 8000, to: 11_000},
    {arm: 'on', pair: 1, from: 11_500, to: 14_500, landed: false, partial: false},
    {arm: 'on', pair: 2, from: 15_000, to: 18_000, landed: true},
    {arm: 'off', pair: 2, from: 18_500, to: 21_500},
  ]

  it('compares only the landed pairs until the run judges for a breach at a short dose', () => {
    expect(blockSet(interleaved, blocks, 1000).on).toEqual([{from: 15_000, to: 18_000}])
  })

  it('then adds the pairs whose dose was short but enough, never one below the floor', () => {
    const set = blockSet(interleaved, blocks, 1000, true)
    expect(set.on).toEqual([{from: 1000, to: 4000}, {from: 15_000, to: 18_000}])
    expect(set.off).toEqual([{from: 4500, to: 7500}, {from: 18_500, to: 21_500}])
  })
})

describe('pooledEfficacy at a short dose', () => {
  it('pools the blocks the run judged and is partial, never landed', () => {
    const pooled = pooledEfficacy([block(0.8), block(0.82), block(0.3), block(0.81)], interleaved, true)!
    expect(pooled.landed).toBe(false)
    expect(pooled.partial).toBe(true)
    expect(pooled.ratio).toBeCloseTo((0.8 + 0.82 + 0.81) / 3, 6)
    expect(pooled.note).toBe('landed in full in 0 of 4 fault blocks, at least 50% in the 3 judged for a breach only; 1.22 of 1.50 cores asked')
  })

  it('otherwise partial only in the windows design, whose one window is judged whatever its dose', () => {
    const runs = pooledEfficacy([block(0.8), block(0.8), block(0.8)], interleaved)!
    expect(runs.landed).toBe(false)
    expect(runs.partial).toBeUndefined()
    expect(pooledEfficacy([block(0.8)], windows)!.partial).toBe(true)
    expect(pooledEfficacy([block(0.4)], windows)!.partial).toBeUndefined()
    expect(pooledEfficacy([block(0.95)], windows)!.landed).toBe(true)
  })
})

describe('a look for a breach only', () => {
  const signal = (verdict: SignalVerdict['verdict']): SignalVerdict => ({
    neighbor: 'api', signal: 'latency_p50', statistic: 'p50', unit: 'seconds', baseline: 0.004, fault: 0.004, baselineCount: 600, faultCount: 600,
    change: 0.01, interval: {low: -0.05, high: 0.07, level: 0.95}, test: 'paired-blocks', pValue: null, effectSize: null, threshold: 'max_increase 25%', verdict, reason: `${verdict} reason`,
  })
  const result = (verdicts: SignalVerdict['verdict'][], decision: LookResult['decision']): LookResult => ({
    signals: new Map([['api', verdicts.map(signal)]]), decision, corrected: 0, noise: new Map(), blocks: new Map(),
  })

  it('turns containment into inconclusive, so that it does not end the run', () => {
    const looked = breachOnly(result(['contained', 'contained'], 'contained'), '80%, 81%, 82% of it in the first 3 fault blocks')
    expect(looked.decision).toBe('undecided')
    expect(looked.signals.get('api')!.map((s) => s.verdict)).toEqual(['inconclusive', 'inconclusive'])
    expect(looked.signals.get('api')![0].reason).toBe('contained reason; but the dose was short of the one asked (80%, 81%, 82% of it in the first 3 fault blocks), and containment needs the whole of it')
  })

  it('leaves a breach standing', () => {
    const looked = breachOnly(result(['breach', 'contained'], 'breach'), '80%')
    expect(looked.decision).toBe('breach')
    expect(looked.signals.get('api')!.map((s) => s.verdict)).toEqual(['breach', 'inconclusive'])
  })
})

describe('attributable', () => {
  it('any verdict at the whole dose, a breach alone at a partial one, nothing at a dose below the floor', () => {
    expect(attributable(block(0.95), 'contained')).toBe(true)
    const partial = {...block(0.8), partial: true}
    expect(attributable(partial, 'breach')).toBe(true)
    expect(attributable(partial, 'contained')).toBe(false)
    expect(attributable(partial, 'inconclusive')).toBe(false)
    expect(attributable(block(0.3), 'breach')).toBe(false)
    expect(attributable(null, 'breach')).toBe(false)
  })
})
