// Game-day suites: every problem at its file:line:col (the suite's own, or the experiment file's), paths relative
// to the suite, phase overrides, parallel groups refused when their experiments share a port; and the suite run:
// order, parallel groups at the same time, stopOnBreach, and the history it leaves.
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ExperimentError, formatIssue} from '../../src/experiment/issues.js'
import {readHistory, recordSuiteRun} from '../../src/gameday/history.js'
import {runSuite, suiteReport} from '../../src/gameday/run-suite.js'
import {checkSchedule, runOnSchedule} from '../../src/gameday/schedule.js'
import {loadSuite, type Suite} from '../../src/gameday/suite.js'
import type {Journal} from '../../src/report/journal.js'
import {renderJunit} from '../../src/report/junit.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import type {RunOptions} from '../../src/run/runner.js'
import {fixtureJournal} from '../fixtures/journals/load.js'

const EXPERIMENTS = resolve('experiments')
let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-gameday-unit-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function suiteFile(text: string, name = 'suite.yaml'): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

async function problems(text: string): Promise<string[]> {
  const file = suiteFile(text)
  try {
    await loadSuite(file)
  } catch (error) {
    expect(error).toBeInstanceOf(ExperimentError)
    return (error as ExperimentError).issues.map((i) => formatIssue({...i, file: i.file === file ? 'suite.yaml' : i.file}))
  }
  throw new Error('the suite loaded')
}

const HEADER = 'apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: nightly}\n'

describe('loading a suite', () => {
  it('loads experiments/gameday.yaml: paths relative to the suite, one parallel group', async () => {
    const suite = await loadSuite('experiments/gameday.yaml')
    expect(suite.name).toBe('process-boundaries')
    expect(suite.stopOnBreach).toBe(true)
    expect(suite.steps.map((s) => s.items.map((i) => i.experiment.metadata.name))).toEqual([
      ['memory-leak'], ['memory-leak-shared'], ['cpu-hog'], ['cpu-hog-none'], ['disk-fill', 'network-flood'], ['disk-fill-shared'], ['network-flood-none'],
    ])
    expect(suite.steps[4].parallel).toBe(true)
    expect(suite.steps[0].items[0].path).toBe('experiments/memory-leak.yaml')
  })

  it('applies phase overrides and levels', async () => {
    const file = suiteFile(`${HEADER}experiments:\n  - {file: ${EXPERIMENTS}/cpu-hog.yaml, warmup: 0s, baseline: 3s, inject: 4s, recover: 0s, level: none}\n`)
    const [item] = (await loadSuite(file)).steps[0].items
    expect(item.experiment.phases).toMatchObject({warmup: 0, baseline: 3000, inject: 4000, recover: 0})
    expect(item.level).toBe('none')
  })

  it('says where each problem is, with did-you-mean', async () => {
    expect(await problems([
      'apiVersion: chaos/v1',
      'kind: GameDey',
      'metadata: {name: Nightly}',
      'stopOnBreach: yes',
      'experiments:',
      `  - file: ${EXPERIMENTS}/cpu-hog.yaml`,
      '    injct: 10s',
      `  - {file: ${EXPERIMENTS}/cpu-hog.yaml, inject: 1s}`,
      '  - parallel: true',
      '    experiment: []',
    ].join('\n'))).toEqual([
      'suite.yaml:2:7: kind: expected "GameDay", got "GameDey"; did you mean "GameDay"?',
      'suite.yaml:3:18: metadata.name: expected a short lowercase name (letters, digits, dashes)',
      'suite.yaml:4:15: stopOnBreach: expected true or false, got "yes"',
      'suite.yaml:7:5: unknown key "injct" in experiments[0]; did you mean "inject"?',
      expect.stringMatching(/^suite\.yaml:8:\d+: experiments\[1\]\.inject: "1s" is out of range \(3s to 6h\)$/),
      'suite.yaml:9:5: missing required key "experiments" in experiments[2]',
      'suite.yaml:10:5: unknown key "experiment" in experiments[2]; did you mean "experiments"?',
    ])
  })

  it('a missing experiment file is reported at its file: line', async () => {
    expect(await problems(`${HEADER}experiments:\n  - file: nowhere.yaml\n`)).toEqual([
      expect.stringMatching(/^suite\.yaml:5:11: experiments\[0\]\.file: no such experiment file "nowhere\.yaml" \(looked for .*nowhere\.yaml; paths are relative to the suite file\)$/),
    ])
  })

  it('an invalid experiment file is reported at its own file:line:col', async () => {
    writeFileSync(join(dir, 'broken.yaml'), readFileSync('experiments/cpu-hog.yaml', 'utf8').replace('load: 100%', 'lod: 100%'))
    const [problem] = await problems(`${HEADER}experiments:\n  - file: broken.yaml\n`)
    expect(problem).toMatch(/broken\.yaml:\d+:\d+: unknown key "lod" in fault; did you mean "load"\?/)
  })

  it('refuses a parallel group whose experiments share a port', async () => {
    const [problem] = await problems(`${HEADER}experiments:\n  - parallel: true\n    experiments:\n      - file: ${EXPERIMENTS}/cpu-hog.yaml\n      - file: ${EXPERIMENTS}/cpu-hog-none.yaml\n`)
    expect(problem).toMatch(/^suite\.yaml:8:15: experiments\[0\]\.experiments\[1\]: .*cpu-hog-none\.yaml uses port 19111, 19112 like .*cpu-hog\.yaml in the same parallel group/)
  })

  it('refuses empty files, several documents and non-mappings', async () => {
    expect(await problems('')).toEqual([expect.stringMatching(/^suite\.yaml:1:1: the suite is empty/)])
    expect(await problems(`${HEADER}experiments: []\n---\na: 1\n`)).toEqual([expect.stringMatching(/^suite\.yaml:5:1: a second YAML document/)])
    expect(await problems('- a\n- b\n')).toEqual([expect.stringMatching(/^suite\.yaml:1:1: expected a mapping/)])
  })
})

describe('running a suite', () => {
  async function twoStepSuite(stopOnBreach: boolean): Promise<Suite> {
    const file = suiteFile(`${HEADER}stopOnBreach: ${stopOnBreach}\nexperiments:\n  - file: ${EXPERIMENTS}/cpu-hog-none.yaml\n  - file: ${EXPERIMENTS}/cpu-hog.yaml\n  - parallel: true\n    experiments:\n      - file: ${EXPERIMENTS}/disk-fill.yaml\n      - file: ${EXPERIMENTS}/network-flood.yaml\n`)
    return loadSuite(file)
  }

  const fake = (verdicts: Record<string, Journal['verdict']>, log: {name: string, start: number, end: number}[] = []) => async (options: RunOptions) => {
    const start = Date.now()
    await new Promise((r) => setTimeout(r, 30))
    const j = fixtureJournal('memory-leak-shared')
    j.experiment.name = options.experiment.metadata.name
    j.expect = options.experiment.expect
    j.verdict = verdicts[j.experiment.name] ?? 'contained'
    j.exitCode = j.verdict === j.expect ? 0 : 1
    j.runId = options.runId!
    log.push({name: j.experiment.name, start, end: Date.now()})
    return j
  }

  it('runs the steps in order and a parallel group at the same time', async () => {
    const log: {name: string, start: number, end: number}[] = []
    const result = await runSuite({suite: await twoStepSuite(true), failOn: 'mismatch', run: fake({'cpu-hog-none': 'breach'}, log)})
    expect(result.journals.map((j) => j.experiment.name)).toEqual(['cpu-hog-none', 'cpu-hog', 'disk-fill', 'network-flood'])
    const [disk, net] = [log.find((l) => l.name === 'disk-fill')!, log.find((l) => l.name === 'network-flood')!]
    expect(disk.start).toBeLessThan(net.end)
    expect(net.start).toBeLessThan(disk.end)
    expect(log.find((l) => l.name === 'cpu-hog')!.end).toBeLessThanOrEqual(disk.start)
    // the control breached as expected: no stop
    expect(result.stoppedAfter).toBeUndefined()
    expect(result.verdict).toBe('breach')
    expect(result.exitCode).toBe(ExitCode.Matched)
  })

  it('stopOnBreach stops after an unexpected breach; what did not run is reported', async () => {
    const result = await runSuite({suite: await twoStepSuite(true), failOn: 'mismatch', run: fake({'cpu-hog-none': 'breach', 'cpu-hog': 'breach'})})
    expect(result.stoppedAfter).toBe('cpu-hog')
    expect(result.journals).toHaveLength(2)
    expect(result.notRun.map((n) => [n.name, n.exitCode])).toEqual([['disk-fill', 0], ['network-flood', 0]])
    expect(result.exitCode).toBe(ExitCode.Mismatched)
    const xml = renderJunit(suiteReport(result, 'mismatch', 1))
    expect(xml.match(/<testsuite /g)).toHaveLength(4)
    expect(xml).toMatch(/<testsuite name="disk-fill"[\s\S]*?<skipped message="not run: stopOnBreach after cpu-hog breached"/)
  })

  it('without stopOnBreach it runs everything', async () => {
    const result = await runSuite({suite: await twoStepSuite(false), failOn: 'breach', run: fake({'cpu-hog': 'breach'})})
    expect(result.journals).toHaveLength(4)
    expect(result.exitCode).toBe(ExitCode.Mismatched)
  })

  it('records each suite run in its own directory and one history line', async () => {
    const suite = await twoStepSuite(true)
    const history = join(dir, 'history')
    for (let n = 1; n <= 2; n++) {
      const result = await runSuite({suite, failOn: 'mismatch', run: fake({})})
      recordSuiteRun(history, result, 'mismatch', {junit: '<x/>', html: '<!doctype html>', markdown: '#'})
    }
    const lines = readHistory(history)
    expect(lines.map((l) => l.run)).toEqual([1, 2])
    expect(lines[0].dir).toMatch(/^0001-\d{8}T\d{6}Z$/)
    expect(lines[1].experiments.map((e) => e.verdict)).toEqual(['contained', 'contained', 'contained', 'contained'])
    for (const line of lines) {
      for (const file of ['junit.xml', 'report.html', 'report.md']) expect(existsSync(join(history, line.dir, file))).toBe(true)
      for (const e of line.experiments) expect(JSON.parse(readFileSync(join(history, e.journal!), 'utf8')).runId).toBe(e.runId)
    }
  })
})

describe('the schedule', () => {
  it('refuses a pattern croner cannot read', () => {
    expect(() => checkSchedule('every night')).toThrow(/--schedule "every night": .*expected a cron pattern/)
    expect(checkSchedule('0 3 * * *')).toBeInstanceOf(Date)
  })

  it('runs on every tick, never two at once, and ends after --max-runs', async () => {
    const starts: number[] = []
    let running = 0
    let overlapped = false
    let skipped = 0
    const runs = await runOnSchedule({
      pattern: '* * * * * *', maxRuns: 2, onSkipped: () => skipped++,
      task: async () => {
        if (running > 0) overlapped = true
        running++
        starts.push(Date.now())
        await new Promise((r) => setTimeout(r, 1300)) // longer than the interval: the next tick is skipped
        running--
      },
    })
    expect(runs).toBe(2)
    expect(overlapped).toBe(false)
    expect(skipped).toBeGreaterThanOrEqual(1)
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(1900)
  })

  it('an abort while waiting ends the schedule', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    expect(await runOnSchedule({pattern: '0 3 * * *', signal: controller.signal, task: async () => undefined})).toBe(0)
  })
})
