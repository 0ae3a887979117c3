// The embedded measurement is lost only when a neighbour's /metrics fails while the neighbour itself answers;
// a neighbour killed by the fault fails both, and that is harm to judge, not a lost measurement.
import {describe, expect, it} from 'vitest'

import {embeddedSourceLost, type WorkflowObserver} from '../../src/run/observe.js'

const now = 100_000
const interval = 1000

function observer(scrapeFailures: number[], scrapeOk: number[], probe?: {t: number, ok: boolean}[]): WorkflowObserver {
  return {
    workflow: {name: 'api'},
    scraper: {
      url: 'http://127.0.0.1:1/metrics',
      failures: () => scrapeFailures.map((t) => ({t, error: 'ECONNREFUSED'})),
      snapshots: (from: number, to: number) => scrapeOk.filter((t) => t >= from && t <= to).map((t) => ({t})),
    },
    probe: probe && {records: (from: number, to: number) => probe.filter((r) => r.t >= from && r.t <= to), failure: () => undefined},
  } as unknown as WorkflowObserver
}

const answering = Array.from({length: 30}, (_, i) => ({t: now - 3000 + i * 100, ok: true}))
const dying = Array.from({length: 30}, (_, i) => ({t: now - 3000 + i * 100, ok: i < 15}))

describe('embeddedSourceLost', () => {
  it('fires when /metrics failed for two intervals while the probe still succeeds', () => {
    expect(embeddedSourceLost([observer([now - 1500, now - 500], [now - 4000], answering)], interval, now)).toMatch(/metrics endpoint of api .* stopped answering for two intervals \(ECONNREFUSED\)/)
  })

  it('does not fire when the neighbour itself stopped answering (the fault killed it)', () => {
    expect(embeddedSourceLost([observer([now - 1500, now - 500], [now - 4000], dying)], interval, now)).toBeUndefined()
  })

  it('does not fire on one failed scrape, or when a scrape succeeded since', () => {
    expect(embeddedSourceLost([observer([now - 500], [now - 1500], answering)], interval, now)).toBeUndefined()
    expect(embeddedSourceLost([observer([now - 1800, now - 1200], [now - 300], answering)], interval, now)).toBeUndefined()
  })

  it('fires for a neighbour with no probe: nothing else measures it', () => {
    expect(embeddedSourceLost([observer([now - 1500, now - 500], [])], interval, now)).toBeDefined()
  })
})
