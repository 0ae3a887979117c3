// The settings an isolation can ask for are listed once (the schema's keys) and each reaches the box that makes it.
import {describe, expect, it} from 'vitest'

import {Isolation, ISOLATION_SETTINGS, isolationSettingsOf} from '../../src/experiment/schema.js'
import {summedLimits} from '../../src/host/cpus.js'
import {DEFAULT_CPU_WEIGHT, runBoxWeight, v1CpuShares} from '../../src/host/cgroupfs.js'

describe('isolation settings', () => {
  it('are every key of the schema but level, so a new one cannot be missed by the attached-workflow refusal', () => {
    expect(ISOLATION_SETTINGS).toContain('cpuWeight')
    expect(ISOLATION_SETTINGS).not.toContain('level')
    expect(new Set(ISOLATION_SETTINGS)).toEqual(new Set(Object.keys(Isolation.shape).filter((k) => k !== 'level')))
  })

  it('names the ones a workflow asks for', () => {
    expect(isolationSettingsOf(Isolation.parse({level: 'none'}))).toEqual([])
    expect(isolationSettingsOf(Isolation.parse({level: 'cgroup', memory: '64Mi', cpuWeight: 10}))).toEqual(['memory', 'cpuWeight'])
  })

  it('refuses a CPU weight outside v2\'s 1-10000', () => {
    expect(Isolation.safeParse({level: 'cgroup', cpuWeight: 0}).success).toBe(false)
    expect(Isolation.safeParse({level: 'cgroup', cpuWeight: 10_001}).success).toBe(false)
    expect(Isolation.safeParse({level: 'cgroup', cpuWeight: 2.5}).success).toBe(false)
  })

  it('maps a v2 weight onto v1 shares as runc does, never under the kernel\'s minimum of 2', () => {
    expect(v1CpuShares(100)).toBe(1024)
    expect(v1CpuShares(10)).toBe(102)
    expect(v1CpuShares(1)).toBe(10)
    expect(v1CpuShares(10_000)).toBe(102_400)
  })

  it('weighs a shared box as its members together, like a pod\'s cpu.shares, only when each has a weight', () => {
    const member = (cpuWeight?: number) => Isolation.parse({level: 'shared', ...(cpuWeight === undefined ? {} : {cpuWeight})})
    expect(summedLimits([member(10), member(100)]).cpuWeight).toBe(110)
    expect(summedLimits([member(10), member()]).cpuWeight).toBeUndefined()
    expect(summedLimits([member(9000), member(9000)]).cpuWeight).toBe(10_000)
  })

  it('makes a shared box idle only when every member asks to be, so no member is starved by another\'s idleness', () => {
    const member = (cpuIdle?: boolean) => Isolation.parse({level: 'shared', ...(cpuIdle === undefined ? {} : {cpuIdle})})
    expect(summedLimits([member(true), member(true)]).cpuIdle).toBe(true)
    expect(summedLimits([member(true), member()]).cpuIdle).toBeUndefined()
  })

  it('weighs a run\'s own cgroup as the sum of its boxes, so their weights count against the host\'s other work', () => {
    expect(runBoxWeight([10, DEFAULT_CPU_WEIGHT])).toBe(110)
    expect(runBoxWeight([DEFAULT_CPU_WEIGHT, DEFAULT_CPU_WEIGHT])).toBe(200)
    expect(runBoxWeight([10_000, DEFAULT_CPU_WEIGHT])).toBe(10_000)
    expect(runBoxWeight([1])).toBe(1)
  })
})
