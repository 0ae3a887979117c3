// The measuring design fixed in the plan, and a look at the data: Holm over the breach claims.
import {describe, expect, it} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import {describeDesign, planDesign} from '../../src/run/design.js'
import {look, type BlockSet} from '../../src/run/judging.js'
import type {Window} from '../../src/metrics/source.js'
import {seededRng} from '../../src/verdict/stats.js'
import {fromYaml} from '../helpers/experiments.js'

const base = `apiVersion: chaos/v1
kind: Experiment
metadata: {name: design}
target: {name: worker, run: [sleep, "60"], isolation: {level: cgroup}}
neighbors: [{name: api, run: [sleep, "60"], probe: {http: {url: "http://127.0.0.1:1/x", rate: 100}}}]
fault: {type: cpu-hog, cores: 0.5}
hypothesis: [{signal: latency_p99, max_increase: 50%}]
`

function experiment(extra = ''): Experiment {
  return fromYaml(`${base}${extra}`)
}

describe('planDesign', () => {
  it('plans looks from the first look to the budget, each with its boundary, and says so', () => {
    const design = planDesign(experiment('verdict: {block: 4s, settle: 1s, budget: 2m, firstLook: 4, lookEvery: 2}\n'), 'abc')
    expect(design.kind).toBe('interleaved')
    // a pair takes two 4 s blocks, a settle after each and a start-up (10.5 s): 120 s hold 11 of them
    expect(design.maxPairs).toBe(11)
    expect(design.looks.map((l) => l.pairs)).toEqual([4, 6, 8, 10, 11])
    for (const l of design.looks) expect(l.z).toBeGreaterThan(1.645)
    expect(describeDesign(design)).toMatch(/looks after 4, 6, 8, 10, 11 pairs \(pocock spending, alpha 0\.05/)
    expect(describeDesign(design)).toContain('1s settle after each block (fault-on or off, so both arms sit alike in a pair)')
  })

  it('a fault that ends itself is measured over its episode: the plan expects its length from the file, and budgets pairs by it', () => {
    const leak = (fault: string, isolation = '{level: cgroup, memory: 128Mi}') =>
      fromYaml(base.replace('fault: {type: cpu-hog, cores: 0.5}', `fault: ${fault}`).replace('isolation: {level: cgroup}', `isolation: ${isolation}`) + 'verdict: {block: 4s, settle: 1s, budget: 2m}\n')
    // 128Mi at 64Mi/s: the box's limit is met after 2 s, long before the leak's own 1Gi
    const boxed = planDesign(leak('{type: memory-leak, rate: 64Mi/s, limit: 1Gi}'), 'abc')
    expect(boxed.episodic).toBe(true)
    expect(boxed.blockMs).toBe(2000)
    // a pair: two 2 s blocks, their settles and a start-up (6.5 s); 120 s hold 18 of them, where 4 s blocks held 11
    expect(boxed.maxPairs).toBe(18)
    expect(describeDesign(boxed)).toMatch(/fault-on blocks that are the fault's own episodes \(it ends itself; about 2s expected, at least 1s\)/)
    // the leak's own limit first: 32Mi at 64Mi/s is half a second, measured for the floor of 1 s
    expect(planDesign(leak('{type: memory-leak, rate: 64Mi/s, limit: 32Mi}'), 'abc').blockMs).toBe(1000)
    // a percentage of the box: 50% of 128Mi at 16Mi/s
    expect(planDesign(leak('{type: memory-leak, rate: 16Mi/s, limit: 50%}'), 'abc').blockMs).toBe(4000)
    // no box limit: the leak's own 1Gi at 64Mi/s is 16 s, capped by phases.inject as every episode is
    const open = leak('{type: memory-leak, rate: 64Mi/s, limit: 1Gi}', '{level: cgroup}')
    open.phases.inject = 10_000
    expect(planDesign(open, 'abc').blockMs).toBe(10_000)
    // a share of a box limit the file does not give: the episode's length is unknown, so the block's is the guess
    const unknown = planDesign(leak('{type: memory-leak, rate: 64Mi/s, limit: 50%}', '{level: cgroup}'), 'abc')
    expect(unknown.episodic).toBe(true)
    expect(unknown.blockMs).toBe(4000)
    // in a box shared with the neighbours, what they hold decides where the leak meets the limit: unknown too
    expect(planDesign(leak('{type: memory-leak, rate: 64Mi/s, limit: 1Gi}', '{level: shared, memory: 128Mi}'), 'abc').blockMs).toBe(4000)
    // a fault that does not end itself keeps the fixed block
    const hog = planDesign(experiment('verdict: {block: 4s}\n'), 'abc')
    expect(hog.episodic).toBe(false)
    expect(hog.blockMs).toBe(4000)
  })

  it('obrien-fleming keeps alpha for the last look: strict early, near one look\'s 1.645 at the end', () => {
    const design = planDesign(experiment('verdict: {spending: obrien-fleming, budget: 2m}\n'), 'abc')
    const zs = design.looks.map((l) => l.z)
    expect(zs[0]).toBeGreaterThan(3)
    expect(zs.at(-1)!).toBeLessThan(2)
    expect([...zs].sort((a, b) => b - a)).toEqual(zs)
  })

  it('orders the arms by the run id, the first pair fault-off first', () => {
    const a = planDesign(experiment(), 'run-a')
    const again = planDesign(experiment(), 'run-a')
    const b = planDesign(experiment(), 'run-b')
    expect(a.order).toEqual(again.order)
    expect(a.order).not.toEqual(b.order)
    expect(a.order[0]).toEqual(['off', 'on'])
    const onFirst = a.order.filter((p) => p[0] === 'on').length
    expect(onFirst).toBeGreaterThan(0)
    expect(onFirst).toBeLessThan(a.order.length)
  })

  it('windows: one look at one look\'s boundary; the default with a Prometheus source, and the plan says why', () => {
    const windows = planDesign(experiment('verdict: {design: windows}\n'), 'abc')
    expect(windows.looks).toEqual([{pairs: 1, z: expect.closeTo(1.645, 3)}])
    const prometheus = planDesign(experiment('metrics: {source: prometheus, url: "http://127.0.0.1:9090"}\n'), 'abc')
    expect(prometheus.kind).toBe('windows')
    expect(describeDesign(prometheus)).toMatch(/scrapes lag/)
  })
})

describe('look', () => {
  /** Windows whose index says which arm and pair they are; latencies drawn per window, the on-arm's scaled. */
  function blocks(pairs: number): BlockSet {
    const on: Window[] = []
    const off: Window[] = []
    for (let i = 0; i < pairs; i++) {
      off.push({from: 2 * i * 1000, to: 2 * i * 1000 + 1000})
      on.push({from: (2 * i + 1) * 1000, to: (2 * i + 1) * 1000 + 1000})
    }
    return {on, off, episodes: on}
  }

  function extractWith(changes: Record<string, number>) {
    return (neighbor: string, _h: unknown, w: Window) => {
      const rng = seededRng(`${neighbor}/${w.from}`)
      const onArm = (w.from / 1000) % 2 === 1
      const scale = (onArm ? 1 + (changes[neighbor] ?? 0) : 1) * Math.exp(0.25 * (rng() - 0.5))
      return {samples: {kind: 'observations' as const, values: Array.from({length: 200}, () => 0.01 * scale * (1 + rng()))}, statistic: 'p99' as const, unit: 'seconds' as const}
    }
  }

  const hypotheses = [{signal: 'latency_p99' as const, max_increase: 0.5}]

  it('decides contained only when every signal of every neighbour is', () => {
    const result = look([{name: 'a', hypotheses}, {name: 'b', hypotheses}], blocks(10), true, 2.2, extractWith({}))
    expect(result.decision).toBe('contained')
    expect(result.signals.get('a')![0].verdict).toBe('contained')
  })

  it('a clear breach stands Holm\'s correction and decides the look', () => {
    const result = look([{name: 'a', hypotheses}, {name: 'b', hypotheses}], blocks(10), true, 2.2, extractWith({b: 2}))
    expect(result.decision).toBe('breach')
    expect(result.corrected).toBe(0)
    expect(result.signals.get('b')![0].verdict).toBe('breach')
  })

  it('gives the block statistics each signal was judged on, pair by pair, so a journal can be re-judged', () => {
    const result = look([{name: 'b', hypotheses}], blocks(8), true, 2.2, extractWith({b: 2}))
    const values = result.blocks.get('b')![0]!
    expect(values.on).toHaveLength(8)
    expect(values.off).toHaveLength(8)
    // the on-arm tripled: every pair's ratio shows it, and their mean of logs is the verdict's change
    for (let i = 0; i < 8; i++) expect(values.on[i] / values.off[i]).toBeGreaterThan(2)
    const meanLog = values.on.reduce((a, v, i) => a + Math.log(v / values.off[i]), 0) / 8
    expect(Math.exp(meanLog) - 1).toBeCloseTo(result.signals.get('b')![0].change!, 10)
    // and none of it leaks into the verdict itself
    expect(result.signals.get('b')![0]).not.toHaveProperty('blocks')
  })

  it('a signal a neighbour cannot give is inconclusive, and the look undecided', () => {
    const result = look([{name: 'a', hypotheses}], blocks(6), true, 2.2, () => ({unavailable: 'no probe here'}))
    expect(result.decision).toBe('undecided')
    expect(result.signals.get('a')![0]).toMatchObject({verdict: 'inconclusive', reason: 'no probe here'})
  })
})
