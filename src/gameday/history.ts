// A game day's history: one directory per suite run (each journal, plus the run's JUnit, HTML and Markdown) and
// one line per suite run in history.jsonl, so a dashboard or a person can follow the suite over time.
import {appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {RunVerdict} from '../report/journal.js'
import type {FailOn} from '../run/gate.js'
import type {SuiteRunResult} from './run-suite.js'

export const HISTORY_FILE = 'history.jsonl'

export interface HistoryLine {
  suite: string
  /** 1-based, counting every suite run this history holds */
  run: number
  /** the run's directory, relative to the history directory */
  dir: string
  startedAt: string
  endedAt: string
  verdict: RunVerdict
  exitCode: number
  failOn: FailOn
  interrupted: boolean
  stoppedAfter?: string
  experiments: {name: string, file?: string, runId?: string, verdict: RunVerdict | 'not run', expect?: string, exitCode: number, doseLanded?: boolean, journal?: string, reason?: string}[]
}

export function readHistory(historyDir: string): HistoryLine[] {
  const file = join(historyDir, HISTORY_FILE)
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as HistoryLine)
}

/** "0003-20261127T174255Z": sorts by run number, and says when. */
export function runDirName(run: number, startedAt: string): string {
  return `${String(run).padStart(4, '0')}-${startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`
}

export interface SuiteRunFiles {
  junit: string
  html: string
  markdown: string
}

/** Writes the run's directory and appends its history line; returns the line. */
export function recordSuiteRun(historyDir: string, result: SuiteRunResult, failOn: FailOn, reports: SuiteRunFiles): HistoryLine {
  const run = readHistory(historyDir).length + 1
  const dir = runDirName(run, result.startedAt)
  const full = join(historyDir, dir)
  mkdirSync(full, {recursive: true})
  const experiments: HistoryLine['experiments'] = result.journals.map((journal, i) => {
    const name = `${String(i + 1).padStart(2, '0')}-${journal.experiment.name}${journal.experiment.levelOverride ? `-${journal.experiment.levelOverride}` : ''}.json`
    writeFileSync(join(full, name), `${JSON.stringify(journal, null, 2)}\n`)
    return {
      name: journal.experiment.name, file: journal.experiment.file, runId: journal.runId, verdict: journal.verdict, expect: journal.expect,
      exitCode: journal.exitCode, doseLanded: journal.injection.efficacy?.landed ?? false, journal: `${dir}/${name}`,
    }
  })
  for (const n of result.notRun) experiments.push({name: n.name, file: n.file, verdict: 'not run', exitCode: n.exitCode, reason: n.reason})
  writeFileSync(join(full, 'junit.xml'), reports.junit)
  writeFileSync(join(full, 'report.html'), reports.html)
  writeFileSync(join(full, 'report.md'), reports.markdown)
  const line: HistoryLine = {
    suite: result.suite, run, dir, startedAt: result.startedAt, endedAt: result.endedAt, verdict: result.verdict, exitCode: result.exitCode,
    failOn, interrupted: result.interrupted, ...(result.stoppedAfter ? {stoppedAfter: result.stoppedAfter} : {}), experiments,
  }
  appendFileSync(join(historyDir, HISTORY_FILE), `${JSON.stringify(line)}\n`)
  return line
}
