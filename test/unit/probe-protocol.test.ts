import {describe, expect, it} from 'vitest'
import {packRecord, unpackRecord, type PackedRecord} from '../../src/metrics/probe-protocol.js'
import type {ProbeRecord} from '../../src/metrics/probe.js'

describe('the probe process\'s packed records', () => {
  it('carry every field through, the send lag with them', () => {
    const records: ProbeRecord[] = [
      {t: 1000, latencySeconds: 0.004, ok: true, status: 200, sendLagMs: 0.7},
      {t: 1010, latencySeconds: 2, ok: false, error: 'timeout', sendLagMs: 12.5},
      {t: 1020, latencySeconds: 0.1, ok: false, status: 503, error: 'ECONNRESET', sendLagMs: 0},
      {t: 1030, latencySeconds: 0.003, ok: true, status: 200},
      {t: 1040, latencySeconds: 0.5, ok: false, error: 'ECONNREFUSED'},
    ]
    for (const r of records) expect(unpackRecord(packRecord(r))).toEqual(r)
    expect(packRecord(records[0])).toEqual([1000, 0.004, 1, 200, null, 0.7])
  })

  it('still read records packed before the send lag was kept (bench recordings)', () => {
    const old: PackedRecord[] = [[1000, 0.004, 1, 200], [1010, 2, 0, null, 'timeout']]
    expect(old.map(unpackRecord)).toEqual([
      {t: 1000, latencySeconds: 0.004, ok: true, status: 200},
      {t: 1010, latencySeconds: 2, ok: false, error: 'timeout'},
    ])
  })
})
