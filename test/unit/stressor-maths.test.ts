import {describe, expect, it} from 'vitest'
import {DUTY_HORIZON_S, MAX_DUTY_CORRECTION, nextDuty} from '../../src/stressors/cpu.js'
import {pacedChunkBytes} from '../../src/stressors/flood.js'
import {leakTarget} from '../../src/stressors/memory.js'
import {TokenBucket} from '../../src/stressors/token-bucket.js'

describe('TokenBucket', () => {
  it('lets through exactly what has accrued and says how long to wait for the rest', () => {
    const bucket = new TokenBucket(1000, 500, 0)
    expect(bucket.take(100, 0)).toBeCloseTo(100) // empty at start: 100 tokens at 1000/s is 100 ms away
    expect(bucket.take(100, 100)).toBe(0)
    expect(bucket.available(100)).toBeCloseTo(0)
    expect(bucket.take(300, 250)).toBeCloseTo(150)
    expect(bucket.take(300, 400)).toBe(0)
  })

  it('saves up no more than its capacity', () => {
    const bucket = new TokenBucket(1000, 500, 0)
    expect(bucket.available(60_000)).toBe(500)
    expect(bucket.take(500, 60_000)).toBe(0)
    expect(bucket.take(1, 60_000)).toBeCloseTo(1)
  })

  it('holds a long-run rate whatever the request size', () => {
    for (const size of [1, 7, 64, 499]) {
      const bucket = new TokenBucket(1000, 500, 0)
      let now = 0
      let taken = 0
      while (now < 10_000) {
        const wait = bucket.take(size, now)
        if (wait === 0) taken += size
        else now += wait
      }
      expect(taken / 10).toBeGreaterThan(1000 * 0.98)
      expect(taken / 10).toBeLessThan(1000 * 1.02 + 50)
    }
  })

  it('lets a request larger than the bucket through when full, and charges it in full', () => {
    const bucket = new TokenBucket(100, 10, 0, 10)
    expect(bucket.take(50, 0)).toBe(0)
    // 40 tokens in debt: the next 10 take (40 + 10) / 100 s
    expect(bucket.take(10, 0)).toBeCloseTo(500)
  })

  it('rejects a rate or capacity that is not positive', () => {
    expect(() => new TokenBucket(0, 10, 0)).toThrow(RangeError)
    expect(() => new TokenBucket(10, 0, 0)).toThrow(RangeError)
  })
})

describe('nextDuty (the cpu controller)', () => {
  const step = (load: number, used: number, workers = 1, elapsed = 0.1) => ({load, workers, usedCoreSeconds: used, elapsedSeconds: elapsed})

  it('keeps the asked load when delivery is exact', () => {
    expect(nextDuty(0, step(0.5, 0.05))).toEqual({debt: 0, duty: 0.5})
  })

  it('raises the duty by the debt spread over the horizon', () => {
    const {debt, duty} = nextDuty(0, step(0.5, 0.04))
    expect(debt).toBeCloseTo(0.01)
    expect(duty).toBeCloseTo(0.5 + 0.01 / DUTY_HORIZON_S)
  })

  it('spreads the correction over all workers', () => {
    const {duty} = nextDuty(0, step(0.5, 0.08, 2))
    expect(duty).toBeCloseTo(0.5 + 0.02 / (2 * DUTY_HORIZON_S))
  })

  it('never moves the duty more than MAX_DUTY_CORRECTION from the load (no wind-up when throttled)', () => {
    let debt = 0
    let duty = 0
    for (let i = 0; i < 100; i++) ({debt, duty} = nextDuty(debt, step(0.5, 0)))
    expect(duty).toBeCloseTo(0.5 + MAX_DUTY_CORRECTION)
    // the moment the CPU is free again, one step at full duty brings it straight back down
    ;({duty} = nextDuty(debt, step(0.5, 0.075)))
    expect(duty).toBeLessThan(0.5 + MAX_DUTY_CORRECTION)
  })

  it('stays within 0..1 and fixes the extremes', () => {
    expect(nextDuty(0, step(0.9, 0)).duty).toBe(1)
    expect(nextDuty(0, step(0.1, 0.1)).duty).toBe(0)
    expect(nextDuty(5, step(1, 0))).toEqual({debt: 0, duty: 1})
    expect(nextDuty(5, step(0, 1))).toEqual({debt: 0, duty: 0})
  })

  it('converges to the target rate against a steady overhead and a duty that under-delivers', () => {
    // a simulated process: the workers deliver 90% of their duty, and the runtime adds 0.03 cores
    const load = 0.5
    const workers = 2
    let debt = 0
    let duty = load
    const delivered: number[] = []
    for (let i = 0; i < 100; i++) {
      const used = (workers * duty * 0.9 + 0.03) * 0.1
      delivered.push(used / 0.1 / workers)
      ;({debt, duty} = nextDuty(debt, {load, workers, usedCoreSeconds: used, elapsedSeconds: 0.1}))
    }
    // settled after ~2 s (20 steps); the last 3 s average on target
    const tail = delivered.slice(-30)
    expect(tail.reduce((a, b) => a + b) / tail.length).toBeCloseTo(load, 3)
  })
})

describe('leakTarget (the memory ramp)', () => {
  it('grows at the rate and stops at the limit', () => {
    const params = {rate: 64 * 2 ** 20, limit: 100 * 2 ** 20}
    expect(leakTarget(params, 0)).toBe(0)
    expect(leakTarget(params, 500)).toBe(32 * 2 ** 20)
    expect(leakTarget(params, 1000)).toBe(64 * 2 ** 20)
    expect(leakTarget(params, 60_000)).toBe(100 * 2 ** 20)
    expect(leakTarget(params, -5)).toBe(0)
  })
})

describe('pacedChunkBytes', () => {
  it('is about 10 ms of the rate, within 1 KiB..64 KiB', () => {
    expect(pacedChunkBytes(8e6)).toBe(10_000)
    expect(pacedChunkBytes(1000)).toBe(1024)
    expect(pacedChunkBytes(1e11)).toBe(64 * 1024)
  })
})
