// `chaos matrix` end to end, as a user runs it (dist/ must be built): cpu-hog at levels none and cgroup, one
// shortened repeat each, prints the level x signal table and writes the JSON; nothing is left behind.
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {MatrixResult} from '../../src/matrix/types.js'
import {ledgerDir} from '../../src/rollback/ledger.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const dir = mkdtempSync(join(tmpdir(), 'chaos-matrix-it-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function chaos(args: string[], timeout = 110_000): Promise<{code: number, stdout: string, stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd: ROOT, timeout, killSignal: 'SIGINT', env: {...process.env, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
  })
}

describe('chaos matrix', () => {
  it('refuses an unknown level with exit 2, starting nothing', async () => {
    const result = await chaos(['matrix', 'experiments/cpu-hog.yaml', '--levels', 'none,pods'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--levels: unknown isolation level "pods" (expected none, shared, cgroup, container)')
  })

  it('runs cpu-hog at none and cgroup in the seeded order, prints the table and writes the JSON', async () => {
    const output = join(dir, 'matrix.json')
    const html = join(dir, 'matrix.html')
    const result = await chaos(['matrix', 'experiments/cpu-hog.yaml', '--levels', 'none,cgroup', '--repeat', '1', '--seed', '3',
      '--warmup', '2s', '--baseline', '4s', '--inject', '5s', '--recover', '0s', '--quiet', '--output', output, '--html', html])
    expect([0, 1, 4], result.stderr).toContain(result.code)
    expect(result.stderr).toMatch(/matrix cpu-hog: none, cgroup x 1 repeat = 2 runs/)
    expect(result.stderr).toMatch(/order \(seed 3\): (none#1 cgroup#1|cgroup#1 none#1)/)
    expect(result.stdout).toMatch(/^level +neighbour +signal +median +range +pooled +95% CI +repeats +threshold +verdict$/m)
    for (const level of ['none', 'cgroup']) {
      for (const signal of ['error_rate', 'latency_p50', 'latency_p95']) expect(result.stdout).toMatch(new RegExp(`^${level} +api +${signal} `, 'm'))
      expect(result.stdout).toMatch(new RegExp(`^${level}: (CONTAINED|BREACH|INCONCLUSIVE) \\(.*\\) — .*dose landed in [01]/1`, 'm'))
    }
    const matrix = JSON.parse(readFileSync(output, 'utf8')) as MatrixResult
    expect(matrix.kind).toBe('chaos-matrix')
    expect(matrix.runs.map((r) => r.level)).toEqual(matrix.order.map((s) => s.level))
    expect(matrix.exitCode).toBe(result.code)
    for (const run of matrix.runs) {
      expect(run.journal?.experiment.levelOverride).toBe(run.level)
      expect(run.journal?.rollback.complete).toBe(true)
      expect(await waitForNoLeftovers(run.journal!.runId, 2000)).toEqual([])
      expect(existsSync(`${ledgerDir()}/${run.journal!.runId}.json`)).toBe(false)
    }
    expect(readFileSync(html, 'utf8')).toContain('<svg class="forest"')
  })
})
