// Choosing pods (seeded, printed in the plan), quantities, limit-relative scaling, the schema's kubernetes fields.
import {describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import {scaleParams} from '../../src/platforms/kubernetes/index.js'
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

  it('a second container gets the dose relative to its own limits', () => {
    const ref = {name: 'a', cpuLimit: 0.5, memoryLimit: 256 * 1024 ** 2}
    const other = {name: 'b', cpuLimit: 1, memoryLimit: 128 * 1024 ** 2}
    expect(scaleParams('cpu', {workers: 1, loadPerWorker: 0.25}, ref, other)).toEqual({params: {workers: 1, loadPerWorker: 0.5}, weight: 2})
    expect(scaleParams('memory', {rate: 64 * 1024 ** 2, limit: 200 * 1024 ** 2, hold: true}, ref, other).params).toMatchObject({limit: 100 * 1024 ** 2, rate: 32 * 1024 ** 2})
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
