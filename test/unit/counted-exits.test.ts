// A neighbour's death is counted in the fault episode it happened in: however late the platform hears of it (an
// engine's event stream on a busy host), and whether or not that block's dose reached its full size.
import {describe, expect, it} from 'vitest'

import {DockerWorkflow} from '../../src/platforms/docker/workflow.js'
import type {WorkflowHandle} from '../../src/platforms/platform.js'
import {blockSet, type MeasuredBlock} from '../../src/run/blocks.js'
import type {Design} from '../../src/run/design.js'
import {WorkflowObserver} from '../../src/run/observe.js'
import {extractSignal} from '../../src/run/signals.js'

const interleavedDesign = {kind: 'interleaved'} as Design

describe('blockSet', () => {
  it('counts events over every fault episode, its dose landed or not; only landed pairs are compared', () => {
    const blocks: MeasuredBlock[] = [
      {arm: 'on', pair: 0, from: 1000, to: 9000, askedAt: 900, settledAt: 9500, landed: false},
      {arm: 'off', pair: 0, from: 9500, to: 17_500},
      {arm: 'off', pair: 1, from: 17_500, to: 19_500},
      {arm: 'on', pair: 1, from: 19_700, to: 21_700, askedAt: 19_500, settledAt: 22_200, landed: true},
    ]
    const set = blockSet(interleavedDesign, blocks, 1000)
    expect(set.episodes).toEqual([{from: 900, to: 9500}, {from: 19_500, to: 22_200}])
    expect(set.on).toEqual([{from: 19_700, to: 21_700}])
    expect(set.off).toEqual([{from: 17_500, to: 19_500}])
  })
})

/** A workflow whose samples the test takes at set times. */
function observed(workflow: DockerWorkflow): {observer: WorkflowObserver, sampleAt: (t: number) => void} {
  let now = 0
  const handle = Object.assign(workflow, {sample: () => ({t: now})}) as unknown as WorkflowHandle
  const observer = new WorkflowObserver(handle, 1000)
  return {observer, sampleAt: (t) => {
    now = t
    observer.sample()
  }}
}

describe('exits placed by when they happened', () => {
  const restarts = (observer: WorkflowObserver, from: number, to: number) => {
    const x = extractSignal(observer, 'restarts', {from, to}, 1000)
    return 'samples' in x && x.samples.kind === 'series' ? x.samples.values.reduce((a, b) => a + b, 0) : NaN
  }

  it('a die event that arrives two intervals late still counts in the episode in which the engine saw it', () => {
    const api = new DockerWorkflow({name: 'api', image: 'x'} as never, 'neighbor', 'shared', true, 'run')
    const {observer, sampleAt} = observed(api)
    for (const t of [1000, 2000, 3000, 4000]) sampleAt(t)
    // the container died at 3.5 s (the engine's time), and the news came at 5.5 s, after the episode [1 s, 4 s]
    for (const t of [5000]) sampleAt(t)
    api.onEvent('die', '137', 3500)
    sampleAt(6000)
    expect(restarts(observer, 1000, 4000)).toBe(1)
    expect(restarts(observer, 4000, 6000)).toBe(0)
    expect(api.unexpectedExits()).toBe(1)
    expect(api.lastExit()).toBe('killed by SIGKILL (OOM killer or kill -9)')
  })

  it('an exit between the last reading of one episode and the first of the next is counted once, in the episode it happened in', () => {
    // CI: the API died 0.3 s after episode 1's last reading and before episode 2's first; both episodes read 0
    const api = new DockerWorkflow({name: 'api', image: 'x'} as never, 'neighbor', 'shared', true, 'run')
    const {observer, sampleAt} = observed(api)
    for (const t of [1000, 2000, 3000, 4000]) sampleAt(t)
    api.onEvent('die', '137', 4300)
    for (const t of [5000, 6000, 7000]) sampleAt(t)
    expect(restarts(observer, 900, 4500)).toBe(1)
    expect(restarts(observer, 4500, 7500)).toBe(0)
  })

  it('a counter\'s increase between two readings counts in the window the step ends in: contiguous windows lose none', () => {
    let now = 0
    let kills = 0
    const handle = {name: 'api', role: 'neighbor', spec: {name: 'api'}, boundary: '', allowance: () => ({}), sample: () => ({t: now, oomKills: kills}), unexpectedExits: () => 0, lastExit: () => undefined} as unknown as WorkflowHandle
    const observer = new WorkflowObserver(handle, 1000)
    const at = (t: number) => {
      now = t
      observer.sample()
    }
    for (const t of [1000, 2000, 3000, 4000]) at(t)
    kills = 1 // between the reading at 4 s (last of the first window) and 5 s (first of the second)
    for (const t of [5000, 6000]) at(t)
    const sum = (from: number, to: number) => {
      const x = extractSignal(observer, 'oom_kills', {from, to}, 1000)
      return 'samples' in x && x.samples.kind === 'series' ? x.samples.values.reduce((a, b) => a + b, 0) : NaN
    }
    expect(sum(900, 4500) + sum(4500, 6500)).toBe(1)
    expect(sum(4500, 6500)).toBe(1)
  })

  it('without the engine\'s time, an exit counts from when it was heard of', () => {
    const api = new DockerWorkflow({name: 'api', image: 'x'} as never, 'neighbor', 'shared', true, 'run')
    const {observer, sampleAt} = observed(api)
    for (const t of [1000, 2000]) sampleAt(t)
    api.onEvent('die', '1')
    sampleAt(Date.now() + 1000)
    expect(restarts(observer, 0, Date.now() + 2000)).toBe(1)
    expect(restarts(observer, 1000, 2000)).toBe(0)
  })

  it('an exit the toolkit asked for (stopping) is not counted', () => {
    const api = new DockerWorkflow({name: 'api', image: 'x'} as never, 'neighbor', 'shared', true, 'run')
    api.stopping = true
    api.onEvent('die', '0', 10)
    expect(api.unexpectedExits()).toBe(0)
    expect(api.exitTimes()).toEqual([])
  })
})
