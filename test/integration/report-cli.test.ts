// `chaos report` and the report flags of `chaos run`, as a user runs them: JUnit that validates against the JUnit
// XSD with xmllint (fixture journals, a matrix, hostile strings, and a fresh run), Markdown and HTML files.
import {execFile, execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {Journal} from '../../src/report/journal.js'
import {ledgerDir} from '../../src/rollback/ledger.js'
import {journalExitCode} from '../../src/run/gate.js'
import {hostileJournal} from '../fixtures/journals/load.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'
import {requireTool} from '../helpers/tools.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const XSD = join(ROOT, 'test', 'fixtures', 'junit', 'junit.xsd')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'journals')
const JOURNALS = ['cpu-hog-cgroup', 'cpu-hog-none', 'memory-leak-shared'].map((n) => join(FIXTURES, `${n}.json`))
const dir = mkdtempSync(join(tmpdir(), 'chaos-report-it-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function chaos(args: string[], timeout = 60_000): Promise<{code: number, stdout: string, stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd: ROOT, timeout, killSignal: 'SIGINT', env: {...process.env, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
  })
}

/** xmllint's verdict: "FILE validates" on stderr and exit 0, else it throws with the reasons. */
function validate(file: string): string {
  requireTool('xmllint', 'libxml2-utils')
  try {
    execFileSync('xmllint', ['--schema', XSD, '--noout', file], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
    return 'valid'
  } catch (error) {
    return (error as {stderr?: string}).stderr ?? String(error)
  }
}

describe('chaos report', () => {
  it('JUnit from journals validates against the JUnit XSD, under every gate', async () => {
    for (const failOn of ['mismatch', 'breach', 'inconclusive']) {
      const file = join(dir, `journals-${failOn}.xml`)
      const result = await chaos(['report', ...JOURNALS, '--format', 'junit', '--fail-on', failOn, '--output', file])
      expect(result.code, result.stderr).toBe(0)
      expect(validate(file)).toBe('valid')
    }
  })

  it('JUnit from a matrix result and from hostile strings validates too', async () => {
    const matrix = join(dir, 'matrix.xml')
    expect((await chaos(['report', join(FIXTURES, 'matrix-cpu-hog.json'), '--format', 'junit', '-o', matrix])).code).toBe(0)
    expect(validate(matrix)).toBe('valid')
    const hostile = join(dir, 'hostile.json')
    writeFileSync(hostile, JSON.stringify(hostileJournal()))
    const out = join(dir, 'hostile.xml')
    expect((await chaos(['report', hostile, '--format', 'junit', '-o', out])).code).toBe(0)
    expect(validate(out)).toBe('valid')
  })

  it('the XSD does reject a malformed report (the check is not vacuous)', () => {
    const bad = join(dir, 'bad.xml')
    writeFileSync(bad, '<?xml version="1.0"?>\n<testsuites><testsuite name="x" tests="one" failures="0" errors="0" time="1"><testcase name="a"/></testsuite></testsuites>\n')
    expect(validate(bad)).toMatch(/tests.*not a valid value|classname.*required/s)
  })

  it('Markdown and HTML on stdout; unreadable input is exit 2', async () => {
    const markdown = await chaos(['report', JOURNALS[2], '--format', 'markdown'])
    expect(markdown.stdout).toMatch(/^### ✅ memory-leak-shared: BREACH \(expected breach\)/)
    const html = await chaos(['report', JOURNALS[0], '--format', 'html'])
    expect(html.stdout).toMatch(/^<!doctype html>/)
    const notJson = await chaos(['report', join(ROOT, 'experiments', 'cpu-hog.yaml'), '--format', 'html'])
    expect(notJson.code).toBe(2)
    expect(notJson.stderr).toMatch(/cpu-hog\.yaml: cannot read a journal/)
    const notJournal = join(dir, 'other.json')
    writeFileSync(notJournal, '{"hello": 1}')
    const refused = await chaos(['report', notJournal, '--format', 'junit'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('not a chaos journal (missing runId')
  })
})

describe('chaos run --junit --html --markdown --fail-on', () => {
  it('writes the three reports of a real run, and exits as the gate says', async () => {
    const files = {journal: join(dir, 'run.json'), junit: join(dir, 'run.xml'), html: join(dir, 'run.html'), markdown: join(dir, 'run.md')}
    const result = await chaos(['run', 'experiments/disk-fill.yaml', '--warmup', '1s', '--baseline', '3s', '--inject', '3s', '--recover', '0s', '--quiet',
      '--output', files.journal, '--junit', files.junit, '--html', files.html, '--markdown', files.markdown, '--fail-on', 'breach'])
    const journal = JSON.parse(readFileSync(files.journal, 'utf8')) as Journal
    expect(result.code, result.stderr).toBe(journalExitCode(journal, 'breach'))
    expect(validate(files.junit)).toBe('valid')
    expect(readFileSync(files.junit, 'utf8')).toContain('<property name="failOn" value="breach"/>')
    expect(readFileSync(files.markdown, 'utf8')).toMatch(/^### .* disk-fill: /)
    expect(readFileSync(files.html, 'utf8')).toContain(`id="run-${journal.runId}"`)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    expect(existsSync(`${ledgerDir()}/${journal.runId}.json`)).toBe(false)
  })
})
