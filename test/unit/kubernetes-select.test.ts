// Choosing pods (seeded, printed in the plan), quantities, each container's limit-relative dose, the schema's kubernetes fields.
import {describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import {cpuHog} from '../../src/faults/cpu-hog.js'
import {memoryLeak} from '../../src/faults/memory-leak.js'
import type {FaultContext} from '../../src/faults/fault.js'
import {containerAllowance} from '../../src/platforms/kubernetes/workflow.js'
import type {StressorPlacement} from '../../src/platforms/platform.js'
import type {StressorHandle} from '../../src/stressors/spawn.js'
import {fakePlatform} from '../helpers/fake-platform.js'
import {parseQuantity} from '../../src/platforms/kubernetes/quantity.js'
import {choosePods, pickCount} from '../../src/platforms/kubernetes/select.js'

const pods = Array.from({length: 40}, (_, i) => ({metadata: {namespace: 'shop', name: `p-${String(i).padStart(2, '0')}`}}))

describe('kubernetes selection', () => {
  it('one, all, count and percent', () => {
    expect(pickCount('one', 40)).toBe(1)
    expect(pickCount('all', 40)).toBe(40)
    expect(pickCount({count: 5}, 40)).toBe(5)
    expect(pickCount({count: 50}, 40)).toBe(40)
    expect(pickCount({percent: 0.1}, 40)).toBe(4)
    expect(pickCount({percent: 0.01}, 40)).toBe(1)
    expect(pickCount('one', 0)).toBe(0)
  })

  it('the same seed chooses the same pods whatever the list order; another seed others', () => {
    const a = choosePods(pods, {count: 5}, 42).map((p) => p.metadata!.name!)
    const b = choosePods([...pods].reverse(), {count: 5}, 42).map((p) => p.metadata!.name!)
    const c = choosePods(pods, {count: 5}, 43).map((p) => p.metadata!.name!)
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
    expect(new Set(a).size).toBe(5)
  })

  it('the draw is roughly uniform', () => {
    const counts = new Map<string, number>()
    for (let seed = 0; seed < 4000; seed++) for (const p of choosePods(pods, 'one', seed)) counts.set(p.metadata!.name!, (counts.get(p.metadata!.name!) ?? 0) + 1)
    expect(counts.size).toBe(40)
    for (const n of counts.values()) expect(n).toBeGreaterThan(50)
  })

  it('quantities', () => {
    expect(parseQuantity('500m')).toBe(0.5)
    expect(parseQuantity('2')).toBe(2)
    expect(parseQuantity('256Mi')).toBe(256 * 1024 ** 2)
    expect(parseQuantity('1G')).toBe(1e9)
    expect(parseQuantity('123456789n')).toBeCloseTo(0.123456789)
    expect(parseQuantity('1e3')).toBe(1000)
    expect(parseQuantity('12Qi')).toBeUndefined()
  })

  it('a second container gets the fault\'s own dose against its own limits', async () => {
    const Mi = 1024 ** 2
    const ref = {name: 'a', cpuLimit: 0.5, memoryLimit: 256 * Mi}
    const other = {name: 'b', cpuLimit: 1, memoryLimit: 128 * Mi}
    /** the placement a fault's start() asks the (kubernetes-like) platform for, with the target's first container */
    async function placementOf(fault: string, start: (spec: never, ctx: FaultContext) => Promise<unknown>): Promise<StressorPlacement> {
      const experiment = parseExperiment(`apiVersion: chaos/v1
kind: Experiment
metadata: {name: k}
target: {name: worker, run: [sleep, "60"]}
neighbors: [{name: api, run: [sleep, "60"]}]
fault: ${fault}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
`, 'inline.yaml')
      let asked: StressorPlacement | undefined
      const handle = {ready: Promise.resolve({type: 'ready', pid: 1, t: 0}), onMessage: () => () => undefined, exited: new Promise(() => undefined)} as unknown as StressorHandle
      const platform = fakePlatform({target: {boundary: 'container a', allowance: () => containerAllowance('worker', ref)}, launchStressor: (p) => (asked = p, handle)})
      await start(experiment.fault as never, {experiment, platform, runId: 'r', deadline: Date.now() + 10_000, log: () => undefined, launchStressor: (p) => platform.launchStressor(p)})
      return asked!
    }
    // 50% of each container's CPU: a quarter of a core in the first, half a core in the second (cpuDose's workers)
    const cpu = await placementOf('{type: cpu-hog, load: 50%}', cpuHog.start.bind(cpuHog))
    expect(cpu.params).toEqual({workers: 1, loadPerWorker: 0.25})
    expect(cpu.doseFor!(containerAllowance('worker', other))).toEqual({params: {workers: 1, loadPerWorker: 0.5}, weight: 2})
    // the dose's refusal is the fault's own: an absolute dose above the second container's allowance
    await expect(placementOf('{type: cpu-hog, cores: 0.5}', cpuHog.start.bind(cpuHog)).then((p) => p.doseFor!(containerAllowance('worker', {...other, cpuLimit: 0.25}))))
      .rejects.toThrow(/cores 0.5 is above the target's allowance of 0.25 CPU/)
    // a leak up to 80% of each container's memory limit, at the rate the fault gives
    const leak = await placementOf('{type: memory-leak, rate: 64Mi/s, limit: 80%}', memoryLeak.start.bind(memoryLeak))
    expect(leak.params).toMatchObject({limit: Math.round(0.8 * 256 * Mi), rate: 64 * Mi})
    expect(leak.doseFor!(containerAllowance('worker', other))).toEqual({params: {limit: Math.round(0.8 * 128 * Mi), rate: 64 * Mi, hold: true}, weight: expect.closeTo(0.5, 6)})
  })
})

describe('experiment schema, platform kubernetes', () => {
  const base = (extra: string) => `apiVersion: chaos/v1
kind: Experiment
metadata: {name: k}
platform: kubernetes
target: {name: t, pods: {namespace: shop, selector: "app=w", pick: {percent: 25%}}${extra}}
neighbors: [{name: n, pods: {selector: "app=api"}}]
fault: {type: cpu-hog, load: 50%}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: restarts, max: 0}]
`
  it('accepts pods and defaults the settings', () => {
    const e = parseExperiment(base(''), 'k.yaml')
    expect(e.target.pods).toMatchObject({namespace: 'shop', pick: {percent: 0.25}, allContainers: false})
    expect(e.neighbors[0].pods?.namespace).toBe('default')
  })

  it('refuses process fields and isolation on kubernetes, and pods elsewhere', () => {
    expect(() => parseExperiment(base(', isolation: {level: cgroup}'), 'k.yaml')).toThrow(/keep the isolation the cluster gave them/)
    expect(() => parseExperiment(base('').replace('pods: {namespace: shop, selector: "app=w", pick: {percent: 25%}}', 'run: [chaos]'), 'k.yaml')).toThrow(/not for platform kubernetes/)
    expect(() => parseExperiment(base('').replace('platform: kubernetes', 'platform: process'), 'k.yaml')).toThrow(/pods is for platform kubernetes/)
  })
})
