// `chaos gameday` on a fast schedule (every 2 s, two suite runs) with a suite of one shortened experiment: two
// suite runs in the history, each with its journal and a JUnit report that validates against the JUnit XSD.
import {execFile, execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {HistoryLine} from '../../src/gameday/history.js'
import {ledgerDir} from '../../src/rollback/ledger.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const XSD = join(ROOT, 'test', 'fixtures', 'junit', 'junit.xsd')
const dir = mkdtempSync(join(tmpdir(), 'chaos-gameday-it-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function chaos(args: string[], timeout = 110_000): Promise<{code: number, stdout: string, stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd: ROOT, timeout, killSignal: 'SIGINT', env: {...process.env, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
  })
}

function xmllint(file: string): string {
  return execFileSync('xmllint', ['--schema', XSD, '--noout', file], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

describe('chaos gameday', () => {
  it('refuses a broken suite with file:line:col and exit 2', async () => {
    const suite = join(dir, 'broken.yaml')
    writeFileSync(suite, `apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: tiny}\nexperiments:\n  - file: ${ROOT}/experiments/disk-fill.yaml\n    injct: 3s\n`)
    const result = await chaos(['gameday', suite])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`${suite}:6:5: unknown key "injct" in experiments[0]; did you mean "inject"?`)
  })

  it('runs on a schedule: two suite runs in the history, each with its journal and a valid JUnit', async () => {
    const suite = join(dir, 'tiny.yaml')
    writeFileSync(suite, `apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: tiny}\nexperiments:\n  - {file: ${ROOT}/experiments/disk-fill.yaml, warmup: 1s, baseline: 3s, inject: 3s, recover: 0s}\n`)
    const history = join(dir, 'history')
    const junit = join(dir, 'latest.xml')
    const result = await chaos(['gameday', suite, '--schedule', '*/2 * * * * *', '--max-runs', '2', '--history', history, '--junit', junit, '--quiet'])
    expect([0, 1, 4], result.stderr).toContain(result.code)
    expect(result.stdout).toMatch(/game day tiny, suite run 1: /)
    expect(result.stdout).toMatch(/game day tiny, suite run 2: /)

    const lines = readFileSync(join(history, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as HistoryLine)
    expect(lines.map((l) => l.run)).toEqual([1, 2])
    expect(readdirSync(history).sort()).toEqual([lines[0].dir, lines[1].dir, 'history.jsonl'].sort())
    expect(Date.parse(lines[1].startedAt)).toBeGreaterThan(Date.parse(lines[0].endedAt) - 1)
    for (const line of lines) {
      expect(line.suite).toBe('tiny')
      expect(line.experiments).toHaveLength(1)
      const [experiment] = line.experiments
      expect(experiment.name).toBe('disk-fill')
      const journal = JSON.parse(readFileSync(join(history, experiment.journal!), 'utf8'))
      expect(journal.runId).toBe(experiment.runId)
      expect(journal.rollback.complete).toBe(true)
      expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
      expect(existsSync(`${ledgerDir()}/${journal.runId}.json`)).toBe(false)
      for (const file of ['junit.xml', 'report.html', 'report.md']) expect(existsSync(join(history, line.dir, file))).toBe(true)
      expect(() => xmllint(join(history, line.dir, 'junit.xml'))).not.toThrow()
      expect(readFileSync(join(history, line.dir, 'junit.xml'), 'utf8')).toMatch(/<testcase name="api error_rate" classname="disk-fill"/)
    }
    // --junit holds the latest suite run's report
    expect(readFileSync(junit, 'utf8')).toBe(readFileSync(join(history, lines[1].dir, 'junit.xml'), 'utf8'))
  })
})
