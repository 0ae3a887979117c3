// A scrape of the toolkit's histogram holds the requests counted in it before the scrape, whenever they were sent:
// the cross-check against Prometheus cuts the probe's records the same way (by when they were counted).
import {describe, expect, it} from 'vitest'

import {RecordStore} from '../../src/metrics/probe.js'
import type {WorkflowObserver} from '../../src/run/observe.js'
import {extractSignal} from '../../src/run/signals.js'

const store = new RecordStore()
// sent at 0.9 s and counted at 1.3 s (a slow request, its batch late): in the scrape at 1.5 s, outside [1 s, 2 s) by send
store.push({t: 900, latencySeconds: 0.3, ok: true, observedAt: 1300})
store.push({t: 1000, latencySeconds: 0.004, ok: true, observedAt: 1100})
// sent at 1.9 s, counted at 2.1 s: sent in the window, counted after it
store.push({t: 1900, latencySeconds: 0.15, ok: true, observedAt: 2100})
store.push({t: 1950, latencySeconds: 0.002, ok: true})

describe('a probe\'s records by when they were counted', () => {
  it('cuts by observedAt; records never counted are in no such cut', () => {
    expect(store.observedBetween(1000, 2000).map((r) => r.t)).toEqual([900, 1000])
    expect(store.between(1000, 2000).map((r) => r.t)).toEqual([1000, 1900, 1950])
  })

  it('gives the cross-check the latencies a scrape would hold', () => {
    const observer = {probe: {records: (a: number, b: number) => store.between(a, b), recordsObserved: (a: number, b: number) => store.observedBetween(a, b), timeoutMs: 2000}} as unknown as WorkflowObserver
    const observed = extractSignal(observer, 'latency_p99', {from: 1000, to: 2000}, 1000, 'observed')
    expect(observed).toMatchObject({samples: {kind: 'observations', values: [0.3, 0.004], blocks: [0, 0]}})
    const sent = extractSignal(observer, 'latency_p99', {from: 1000, to: 2000}, 1000)
    expect(sent).toMatchObject({samples: {kind: 'observations', values: [0.004, 0.15, 0.002]}})
    // every probe signal takes the same requests under the same cut
    expect(extractSignal(observer, 'error_rate', {from: 1000, to: 2000}, 1000, 'observed')).toMatchObject({samples: {kind: 'proportion', events: 0, total: 2}})
    expect(extractSignal(observer, 'error_rate', {from: 1000, to: 2000}, 1000)).toMatchObject({samples: {kind: 'proportion', events: 0, total: 3}})
    expect(extractSignal(observer, 'throughput', {from: 1000, to: 2000}, 1000, 'observed')).toMatchObject({samples: {kind: 'series', values: [2]}})
  })
})
