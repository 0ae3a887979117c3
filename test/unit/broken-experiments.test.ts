// Every file in test/fixtures/broken states on its first line where the problem is and what the message
// says: `# expect: LINE:COL substring`. parseExperiment must refuse it with an issue exactly there.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {ExperimentError} from '../../src/experiment/issues.js'
import {parseExperiment} from '../../src/experiment/load.js'

const BROKEN_DIR = join(import.meta.dirname, '..', 'fixtures', 'broken')

interface BrokenFixture {
  name: string
  path: string
  text: string
  line: number
  col: number
  substring: string
}

function brokenFixtures(): BrokenFixture[] {
  return readdirSync(BROKEN_DIR).filter((f) => f.endsWith('.yaml')).sort().map((name) => {
    const path = join(BROKEN_DIR, name)
    const text = readFileSync(path, 'utf8')
    const expectation = /^# expect: (\d+):(\d+) (.+)$/m.exec(text.split('\n')[0])
    if (!expectation) throw new Error(`${name}: the first line must be "# expect: LINE:COL substring"`)
    return {name, path, text, line: Number(expectation[1]), col: Number(expectation[2]), substring: expectation[3]}
  })
}

const fixtures = brokenFixtures()

describe('broken experiments', () => {
  it('has enough fixtures to mean something', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(24)
  })

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    let error: unknown
    try {
      parseExperiment(fixture.text, fixture.name)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ExperimentError)
    const issues = (error as ExperimentError).issues
    const found = issues.find((i) => i.line === fixture.line && i.col === fixture.col && i.message.includes(fixture.substring))
    expect(found, `no issue at ${fixture.line}:${fixture.col} containing ${JSON.stringify(fixture.substring)}; got:\n${(error as ExperimentError).format()}`).toBeDefined()
    expect(found!.file).toBe(fixture.name)
    // Issues come in file order, and every one of them is placed inside the file.
    const lineCount = fixture.text.split('\n').length
    for (const issue of issues) {
      expect(issue.line).toBeGreaterThanOrEqual(1)
      expect(issue.line).toBeLessThanOrEqual(lineCount)
    }
    expect(issues.map((i) => i.line)).toEqual([...issues.map((i) => i.line)].sort((a, b) => a - b))
  })
})
