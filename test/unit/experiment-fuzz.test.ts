// Property: any damage to a valid experiment file either leaves a valid experiment or gives an ExperimentError
// whose every issue has a file:line:col inside the text; never another exception, never a crash. The suite
// runs 1,000 inputs; `CHAOS_FUZZ_RUNS=10000 npx vitest run test/unit/experiment-fuzz.test.ts` runs more.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {ExperimentError} from '../../src/experiment/issues.js'
import {parseExperiment} from '../../src/experiment/load.js'
import {mutate, mutationArb} from '../helpers/mutate.js'

const seeds = readdirSync('experiments').filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(join('experiments', f), 'utf8'))
  .filter((text) => /^kind: Experiment$/m.test(text))

describe('mutated experiment files', () => {
  const runs = Number(process.env.CHAOS_FUZZ_RUNS ?? 1000)
  it(`are valid, or refused with file:line:col, and nothing else (${runs} inputs)`, () => {
    let refused = 0
    fc.assert(fc.property(fc.constantFrom(...seeds), fc.array(mutationArb, {minLength: 1, maxLength: 4}), (seed, mutations) => {
      const text = mutate(seed, mutations)
      try {
        parseExperiment(text, 'fuzz.yaml')
      } catch (error) {
        if (!(error instanceof ExperimentError)) throw error
        refused++
        const lines = text.split('\n').length
        expect(error.issues.length).toBeGreaterThan(0)
        for (const issue of error.issues) {
          expect(issue.file).toBe('fuzz.yaml')
          expect(issue.line).toBeGreaterThanOrEqual(1)
          expect(issue.line).toBeLessThanOrEqual(lines + 1)
          expect(issue.col).toBeGreaterThanOrEqual(1)
          expect(issue.message.length).toBeGreaterThan(5)
        }
      }
    }), {numRuns: runs, seed: Number(process.env.CHAOS_FUZZ_SEED ?? 20261127)})
    // the mutations must mostly break files, or the property tests little
    expect(refused).toBeGreaterThan(runs / 2)
  })
})
