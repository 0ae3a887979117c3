// The experiments at full length through the real CLI: each gives its expected verdict (exit 0), proves
// its dose, and leaves nothing behind. `npm run test:slow`; scripts/repeat-experiments.js measures reliability.
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {Journal} from '../../src/report/journal.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'

const dir = mkdtempSync(join(tmpdir(), 'chaos-slow-'))
// experiments only: a game-day suite lives beside them
const files = readdirSync('experiments').filter((f) => f.endsWith('.yaml') && /^kind: Experiment$/m.test(readFileSync(join('experiments', f), 'utf8'))).sort()

function runCli(file: string, output: string): Promise<{code: number, stdout: string, stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/run.js', 'run', join('experiments', file), '--output', output, '--quiet'], {timeout: 240_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr})
    })
  })
}

describe('the experiments in experiments/', () => {
  it("are fifteen: a contained/breach pair per fault and direction, and cpu-hog's spread case", () => {
    expect(files).toHaveLength(15)
  })

  for (const file of files) {
    it(`${file} gives its expected verdict with the dose proven`, async () => {
      const output = join(dir, `${file}.json`)
      const started = Date.now()
      const result = await runCli(file, output)
      const journal = JSON.parse(readFileSync(output, 'utf8')) as Journal
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
      expect(journal.verdict).toBe(journal.expect)
      expect(journal.injection.efficacy?.landed).toBe(true)
      expect(journal.rollback.complete).toBe(true)
      // how long it took is a figure for docs/isolation-findings.md (scripts/repeat-experiments.js), not a test
      console.log(`${file}: ${journal.verdict} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
      expect(await waitForNoLeftovers(journal.runId, 3000)).toEqual([])
    })
  }
})
