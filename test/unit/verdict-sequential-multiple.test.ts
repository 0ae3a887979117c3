// Breach claims over several signals judged over the same looks, on simulated quiet blocks (see
// verdict-sequential-simulation.test.ts for the single-signal rates): each signal's true change equals its threshold,
// so every breach is false, and "any false breach" is the family-wise error that sequentialHolm must hold at alpha.
import {describe, expect, it} from 'vitest'

import {pairedLogRatio} from '../../src/verdict/blocks.js'
import {LookPlan, sequentialHolm} from '../../src/verdict/sequential.js'
import {seededRng} from '../../src/verdict/stats.js'
import {threeWay} from '../../src/verdict/three-way.js'
import {blockSource, mcError, QUIET} from '../helpers/bursty-blocks.js'

const L = 0.5
const ALPHA = 0.05
const RUNS = 2000

describe('three signals judged together, each exactly at its threshold', () => {
  it('sequential Holm keeps the chance of any false breach at most alpha; uncorrected it is about three times that', () => {
    const looks = 6
    const perLook = 8
    const plan = new LookPlan(looks, ALPHA)
    const limit = Math.log1p(L)
    const familyWise = (corrected: boolean) => {
      const rng = seededRng(`verdict-sequential-simulation/holm/${corrected}`)
      let anyBreach = 0
      for (let r = 0; r < RUNS; r++) {
        const signals = Array.from({length: 3}, () => ({next: blockSource(rng, QUIET), on: [] as number[], off: [] as number[], state: 'open' as 'open' | 'breach' | 'contained'}))
        for (let look = 1; look <= looks && signals.some(s => s.state === 'open'); look++) {
          const pBreach = signals.map(signal => {
            if (signal.state !== 'open') return 1
            for (let i = 0; i < perLook; i++) {
              signal.on.push(signal.next(1 + L))
              signal.off.push(signal.next(1))
            }
            const result = threeWay(pairedLogRatio(signal.on, signal.off), limit, 'above', plan.z(look))
            // "all contained" is an intersection of claims and needs no correction (Berger 1982)
            if (result.verdict === 'contained') signal.state = 'contained'
            if (!corrected && result.verdict === 'breach') signal.state = 'breach'
            return signal.state === 'open' ? result.pBreach : 1
          })
          if (corrected) {
            const stands = sequentialHolm(pBreach, look, looks, ALPHA, 'obrien-fleming', signals.map(s => s.state === 'breach'))
            stands.forEach((claim, i) => {
              if (claim) signals[i].state = 'breach'
            })
          }
        }
        if (signals.some(s => s.state === 'breach')) anyBreach++
      }
      return anyBreach / RUNS
    }
    const corrected = familyWise(true)
    const uncorrected = familyWise(false)
    // measured: corrected .049, uncorrected .151
    expect(corrected).toBeLessThanOrEqual(ALPHA + 3 * mcError(ALPHA, RUNS))
    expect(uncorrected).toBeGreaterThan(2 * ALPHA)
  })
})
