// The real CLI, as a user runs it: `node bin/run.js validate FILE`. Assumes dist/ is built (`npm test`
// builds first). Checks exit codes, file:line:col output, and that no stack trace ever reaches the user.
import {execFile} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const BROKEN_DIR = join(ROOT, 'test', 'fixtures', 'broken')
const EXPERIMENTS_DIR = join(ROOT, 'experiments')
const CONCURRENCY = 4

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

function chaos(args: string[], cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd, timeout: 30_000, env: {...process.env, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
  })
}

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of the results. */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index])
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return results
}

const broken = readdirSync(BROKEN_DIR).filter((f) => f.endsWith('.yaml')).sort().map((name) => {
  const expectation = /^# expect: (\d+):(\d+) /.exec(readFileSync(join(BROKEN_DIR, name), 'utf8'))
  return {file: relative(ROOT, join(BROKEN_DIR, name)), line: Number(expectation?.[1]), col: Number(expectation?.[2])}
})
const experiments = existsSync(EXPERIMENTS_DIR)
  ? readdirSync(EXPERIMENTS_DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => relative(ROOT, join(EXPERIMENTS_DIR, f)))
  : []

const STACK_LINE = /^ {4}at /m

describe('chaos validate', () => {
  let brokenResults: CliResult[]
  let experimentResults: CliResult[]

  beforeAll(async () => {
    brokenResults = await mapLimited(broken, CONCURRENCY, (f) => chaos(['validate', f.file]))
    experimentResults = await mapLimited(experiments, CONCURRENCY, (f) => chaos(['validate', f]))
  })

  it.each(broken.map((f, i) => [f.file, i] as const))('refuses %s with exit 2 at file:line:col', (file, i) => {
    const {code, stdout, stderr} = brokenResults[i]
    const output = stdout + stderr
    expect(code, output).toBe(2)
    expect(output).toContain(`${file}:${broken[i].line}:${broken[i].col}: `)
    expect(output).not.toMatch(STACK_LINE)
    expect(stdout).not.toContain('ok  ')
  })

  if (experiments.length === 0) it.skip('accepts every experiments/*.yaml (there are none yet)', () => {})
  it.each(experiments.map((f, i) => [f, i] as const))('accepts %s', (file, i) => {
    const {code, stdout, stderr} = experimentResults[i]
    expect(code, stdout + stderr).toBe(0)
    expect(stdout).toContain(`ok  ${file}`)
  })

  it('checks several files in one run and prints JSON with --json', async () => {
    const files = [broken[0].file, broken[1].file]
    const {code, stdout, stderr} = await chaos(['validate', ...files, '--json'])
    expect(code, stderr).toBe(2)
    const results = JSON.parse(stdout) as {file: string, valid: boolean, issues: {line: number, col: number, message: string}[]}[]
    expect(results.map((r) => [r.file, r.valid])).toEqual(files.map((f) => [f, false]))
    expect(results[0].issues[0]).toMatchObject({line: broken[0].line, col: broken[0].col})
  })

  it('reports a missing file as an issue, not a crash', async () => {
    const {code, stdout, stderr} = await chaos(['validate', 'no/such/file.yaml'])
    expect(code).toBe(2)
    expect(stderr).toContain('no/such/file.yaml:1:1: cannot read the file')
    expect(stdout + stderr).not.toMatch(STACK_LINE)
  })
})

describe('chaos init', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chaos-init-'))
  })
  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it.each(['memory-leak', 'cpu-hog', 'disk-fill', 'network-flood', 'process-exhaustion'])('writes a %s starter that validates', async (fault) => {
    const file = join(dir, 'nested', `${fault}.yaml`)
    const init = await chaos(['init', file, '--fault', fault])
    expect(init.code, init.stderr).toBe(0)
    const schemaLine = readFileSync(file, 'utf8').split('\n')[0]
    const schemaPath = /^# yaml-language-server: \$schema=(.+)$/.exec(schemaLine)?.[1]
    expect(schemaPath).toBeDefined()
    expect(join(dir, 'nested', schemaPath!)).toBe(join(ROOT, 'schema', 'experiment.schema.json'))
    const validate = await chaos(['validate', file])
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stdout).toContain(`ok  ${file}`)
  })

  it('does not overwrite a file without --force', async () => {
    const file = join(dir, 'twice.yaml')
    expect((await chaos(['init', file])).code).toBe(0)
    const again = await chaos(['init', file])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('already exists')
    expect((await chaos(['init', file, '--force', '--fault', 'cpu-hog'])).code).toBe(0)
    expect(readFileSync(file, 'utf8')).toContain('type: cpu-hog')
  })

  it('writes experiment.yaml in the current directory by default, pointing at the schema', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'chaos-init-default-'))
    try {
      expect((await chaos(['init'], cwd)).code).toBe(0)
      expect(existsSync(join(cwd, 'experiment.yaml'))).toBe(true)
    } finally {
      await rm(cwd, {recursive: true, force: true})
    }
  })
})
