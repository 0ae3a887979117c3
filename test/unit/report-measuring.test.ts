// The one line that says how a verdict was measured: fixed blocks by their length, a fault's own episodes by the
// median length they really had (the plan only expected it).
import {describe, expect, it} from 'vitest'

import type {Journal} from '../../src/report/journal.js'
import {describeMeasuring} from '../../src/report/table.js'

type Design = NonNullable<Journal['design']>

function design(onLengthsMs: number[], episodic: boolean): Design {
  const blocks: Design['blocks'] = []
  let t = Date.parse('2026-12-05T08:00:00Z')
  onLengthsMs.forEach((ms, pair) => {
    for (const arm of ['off', 'on'] as const) {
      blocks.push({arm, pair, start: new Date(t).toISOString(), end: new Date(t + ms).toISOString()})
      t += ms + 500
    }
  })
  return {
    kind: 'interleaved', blockMs: 2000, ...(episodic ? {episodic: true} : {}), settleMs: 1000, budgetMs: 150_000, alpha: 0.05,
    spending: 'pocock', maxPairs: 27, plannedLooks: [4], blocks, looks: [], stoppedBecause: 'decided contained after 4 usable pairs', instrument: [],
  }
}

describe('describeMeasuring', () => {
  it('names episode blocks by the median length they had, not the planned one', () => {
    const line = describeMeasuring(design([1600, 1700, 1900, 1650], true))
    expect(line).toMatch(/^4 interleaved pairs of episode blocks \(median 1\.7s\) in \d+s, 0 looks/)
    expect(line).toMatch(/stopped: decided contained after 4 usable pairs$/)
  })

  it('names fixed blocks by the planned length', () => {
    expect(describeMeasuring(design([2000, 2000], false))).toMatch(/^2 interleaved pairs of 2s blocks in \d+s/)
  })
})
