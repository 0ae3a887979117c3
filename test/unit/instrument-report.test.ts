import {describe, expect, it} from 'vitest'
import type {ProbeRecord} from '../../src/metrics/probe.js'
import {instrumentReport, type MeasuredBlock} from '../../src/run/blocks.js'
import type {WorkflowObserver} from '../../src/run/observe.js'

/** A neighbour whose probe holds these records: what instrumentReport reads of a real one (observe.ts). */
function observer(records: ProbeRecord[], laggedFrom = Infinity): WorkflowObserver {
  const probe = {
    stats: () => ({meanSendLagMs: 1, maxSendLagMs: 9}),
    records: (from = -Infinity, to = Infinity) => records.filter((r) => r.t >= from && r.t < to),
    lag: (from = -Infinity, to = Infinity) => (laggedFrom >= from && laggedFrom < to ? [{from: laggedFrom, to: laggedFrom + 1000, lagged: true}] : []),
    laggedAt: (t: number) => t >= laggedFrom && t < laggedFrom + 1000,
  }
  return {workflow: {name: 'api'}, probe} as unknown as WorkflowObserver
}

/** 10 requests a second over [from, to), each with this send lag */
const requests = (from: number, to: number, sendLagMs?: number): ProbeRecord[] =>
  Array.from({length: (to - from) / 100}, (_, i) => ({t: from + i * 100, latencySeconds: 0.004, ok: true, ...(sendLagMs === undefined ? {} : {sendLagMs})}))

const blocks: MeasuredBlock[] = [
  {arm: 'off', pair: 0, from: 0, to: 2000},
  {arm: 'on', pair: 0, from: 2100, to: 4100, landed: true},
  {arm: 'off', pair: 1, from: 5100, to: 7100},
  {arm: 'on', pair: 1, from: 7200, to: 9200, landed: true},
]

describe('the instrument report', () => {
  it('gives the probe\'s mean send lag in each arm\'s blocks, leaving out requests between blocks', () => {
    const records = [
      ...requests(0, 2000, 0.5), ...requests(2100, 4100, 0.9), ...requests(4100, 5100, 40),
      ...requests(5100, 7100, 0.7), ...requests(7200, 9200, 1.1),
    ]
    const [report] = instrumentReport([observer(records)], blocks)!
    expect(report.neighbor).toBe('api')
    expect(report.sendLagMsByArm!.off).toBeCloseTo(0.6, 9)
    expect(report.sendLagMsByArm!.on).toBeCloseTo(1.0, 9)
    expect(report.laggedIntervals).toBe(0)
  })

  it('counts the lagged interval and its requests, and has no arms to compare without send lags', () => {
    const records = [...requests(0, 2000), ...requests(2100, 4100), ...requests(5100, 7100), ...requests(7200, 9200)]
    const [report] = instrumentReport([observer(records, 7200)], blocks)!
    expect(report.sendLagMsByArm).toBeUndefined()
    expect(report.laggedIntervals).toBe(1)
    expect(report.requestsInLaggedIntervals).toBe(10)
  })
})
