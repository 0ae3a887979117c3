// JUnit XML (the Jenkins/Ant dialect every CI understands; test/fixtures/junit/junit.xsd). One <testsuite> per
// experiment run (per level for a matrix) with testcases for the dose, each neighbour signal and the verdict.
// A testcase fails exactly when the --fail-on gate fails on it, so the CI's test view and the exit code agree:
// - "neighbour signal": breach → <failure type="breach"> (unless the gate is mismatch and a breach was expected);
//   inconclusive → <failure type="inconclusive"> under --fail-on inconclusive, else <skipped>;
// - "dose": did not land → <failure type="dose"> when the gate fails an inconclusive run, else <skipped>;
// - "verdict": the run as the gate sees it: <failure> for exit 1 or 4, <error> for aborted (3) or rollback
//   incomplete (5), <skipped> for an inconclusive run the gate lets pass.
import {hostname} from 'node:os'

import {describeCounts} from '../matrix/aggregate.js'
import {formatMeasure} from '../matrix/table.js'
import type {LevelAggregate, MatrixResult, SignalAggregate} from '../matrix/types.js'
import {ExitCode} from '../run/exit-codes.js'
import {gateExitCode, journalExitCode, signalFails, type FailOn} from '../run/gate.js'
import {formatP} from '../verdict/format.js'
import {attributable} from '../verdict/judge.js'
import {doseSummary, escapeXml, phaseMs, runDurationMs, seconds, type NotRun, type ReportDocument, type RunsReport} from './formats.js'
import type {Journal} from './journal.js'

type Attributes = Record<string, string | number | undefined>

interface Outcome {
  kind: 'pass' | 'failure' | 'error' | 'skipped'
  type?: string
  message?: string
  detail?: string
}

interface TestCase {
  name: string
  classname: string
  time: number
  outcome: Outcome
  out?: string
}

interface TestSuite {
  name: string
  timeMs: number
  timestamp: string
  id: number
  properties: [string, string][]
  cases: TestCase[]
  out?: string
}

export function renderJunit(document: ReportDocument): string {
  const suites = document.kind === 'matrix' ? matrixSuites(document.matrix) : runSuites(document)
  const title = document.kind === 'matrix' ? `chaos matrix ${document.matrix.experiment.name}` : `chaos ${document.title}`
  return serialise(title, suites)
}

// ---------------------------------------------------------------------------------------------------------
// Runs

function runSuites(report: RunsReport): TestSuite[] {
  const suites = report.journals.map((journal, i) => journalSuite(journal, report.failOn, i))
  for (const notRun of report.notRun ?? []) suites.push(notRunSuite(notRun, suites.length))
  return suites
}

function journalSuite(journal: Journal, failOn: FailOn, id: number): TestSuite {
  const classname = journal.experiment.name
  const cases: TestCase[] = [doseCase(journal, classname, failOn)]
  const efficacy = journal.injection.efficacy
  for (const neighbour of journal.neighbors) {
    for (const s of neighbour.signals) {
      const label = `${s.neighbor} ${s.signal}`
      const statistics = `threshold ${s.threshold}; test ${s.test}${s.pValue === null ? '' : `, ${formatP(s.pValue)}`}; samples: ${s.baselineCount} baseline, ${s.faultCount} fault`
      const outcome = signalOutcome(s.verdict, `${label}: ${s.reason}`, journal.expect, failOn, attributable(efficacy, s.verdict) ? undefined : efficacy?.partial === true ? 'the dose was short of the one asked' : 'the dose did not land')
      cases.push({name: label, classname, time: 0, out: `${s.verdict.toUpperCase()}: ${s.reason}\n${statistics}`, outcome: {...outcome, detail: statistics}})
    }
  }
  cases.push({name: 'verdict', classname, time: runDurationMs(journal), outcome: verdictOutcome(journal, failOn)})
  const level = journal.experiment.levelOverride
  return {
    name: level ? `${journal.experiment.name} (level ${level})` : journal.experiment.name,
    timeMs: runDurationMs(journal),
    timestamp: journal.startedAt,
    id,
    properties: [
      ['runId', journal.runId], ['file', journal.experiment.file ?? ''], ['platform', journal.platform], ['level', level ?? 'as written'],
      ['expect', journal.expect], ['verdict', journal.verdict], ['exitCode', String(journal.exitCode)], ['failOn', failOn],
      ['dose', doseSummary(journal)], ['rollback', journal.rollback.complete ? 'complete' : `incomplete: ${journal.rollback.leftovers.join(', ')}`],
    ],
    cases,
    out: journal.plan.join('\n'),
  }
}

function doseCase(journal: Journal, classname: string, failOn: FailOn): TestCase {
  const efficacy = journal.injection.efficacy
  const summary = doseSummary(journal)
  const inconclusiveFails = gateExitCode({verdict: 'inconclusive', expect: journal.expect, rollbackComplete: true}, failOn) !== ExitCode.Matched
  let outcome: Outcome
  // a short dose was enough for the breach the run found at it
  if (efficacy?.landed || (efficacy?.partial && journal.verdict === 'breach')) outcome = {kind: 'pass'}
  else if (!efficacy) outcome = {kind: 'skipped', message: 'the fault was not injected'}
  else if (inconclusiveFails) outcome = {kind: 'failure', type: 'dose', message: `the dose ${summary}`}
  else outcome = {kind: 'skipped', message: `the dose ${summary}`}
  return {name: 'dose', classname, time: phaseMs(journal, 'inject'), outcome, out: `dose ${summary}`}
}

/**
 * A signal only fails when the dose is enough for it: without it the run is inconclusive, and its own testcases say
 * so. `doseShort` is why the dose is not enough for this verdict, undefined when it is.
 */
function signalOutcome(verdict: 'contained' | 'breach' | 'inconclusive', message: string, expect: 'contained' | 'breach' | undefined, failOn: FailOn, doseShort: string | undefined): Outcome {
  if (doseShort !== undefined && verdict !== 'contained') return {kind: 'skipped', message: `${doseShort}, so this is not attributable to the fault: ${message}`}
  if (signalFails(verdict, expect, failOn)) return {kind: 'failure', type: verdict, message}
  if (verdict === 'inconclusive') return {kind: 'skipped', message}
  return {kind: 'pass'}
}

function verdictOutcome(journal: Journal, failOn: FailOn): Outcome {
  return gateOutcome(journalExitCode(journal, failOn), journal.verdict, `${journal.verdict.toUpperCase()} (expected ${journal.expect}): ${journal.reason}`)
}

function gateOutcome(exitCode: number, verdict: string, message: string): Outcome {
  if (exitCode === ExitCode.Aborted) return {kind: 'error', type: 'aborted', message}
  if (exitCode === ExitCode.RollbackIncomplete) return {kind: 'error', type: 'rollback-incomplete', message}
  if (exitCode !== ExitCode.Matched) return {kind: 'failure', type: verdict, message}
  if (verdict === 'inconclusive') return {kind: 'skipped', message}
  return {kind: 'pass'}
}

function notRunSuite(notRun: NotRun, id: number): TestSuite {
  const outcome: Outcome = notRun.exitCode === ExitCode.Matched
    ? {kind: 'skipped', message: notRun.reason}
    : {kind: 'error', type: 'not-run', message: notRun.reason}
  return {
    name: notRun.name, timeMs: 0, timestamp: new Date().toISOString(), id,
    properties: [['file', notRun.file ?? ''], ['verdict', 'not run']],
    cases: [{name: 'verdict', classname: notRun.name, time: 0, outcome}],
  }
}

// ---------------------------------------------------------------------------------------------------------
// Matrix: one suite per level, testcases aggregated over the repeats

function matrixSuites(matrix: MatrixResult): TestSuite[] {
  return matrix.summary.map((level, i) => levelSuite(matrix, level, i))
}

function levelSuite(matrix: MatrixResult, level: LevelAggregate, id: number): TestSuite {
  const classname = `${matrix.experiment.name}.${level.level}`
  const inconclusiveFails = gateExitCode({verdict: 'inconclusive', expect: level.expect, rollbackComplete: true}, matrix.failOn) !== ExitCode.Matched
  const doseMessage = `the dose landed in ${level.doseLanded}/${level.planned} repeats`
  const doseLanded = level.doseLanded * 2 > level.planned
  const cases: TestCase[] = [{
    name: 'dose', classname, time: 0, out: doseMessage,
    outcome: doseLanded ? {kind: 'pass'} : inconclusiveFails ? {kind: 'failure', type: 'dose', message: doseMessage} : {kind: 'skipped', message: doseMessage},
  }]
  for (const s of level.signals) {
    const label = `${s.neighbor} ${s.signal}`
    const message = `${label}: ${s.verdict.toUpperCase()} in ${describeCounts(s.counts, level.planned)}; ${describeAggregate(s)}`
    // the level's counts already treat a repeat without its dose as inconclusive
    cases.push({name: label, classname, time: 0, outcome: signalOutcome(s.verdict, message, level.expect, matrix.failOn, undefined), out: message})
  }
  const runs = matrix.runs.filter((r) => r.level === level.level)
  const timeMs = runs.reduce((total, r) => total + (r.journal ? runDurationMs(r.journal) : 0), 0)
  cases.push({name: 'verdict', classname, time: timeMs, outcome: gateOutcome(level.exitCode, level.verdict, `${level.level}: ${level.verdict.toUpperCase()} (${level.expect ? `expected ${level.expect}` : 'informs only'}): ${level.reason}`)})
  return {
    name: `${matrix.experiment.name} (level ${level.level})`,
    timeMs,
    timestamp: runs[0]?.journal?.startedAt ?? matrix.startedAt,
    id,
    properties: [
      ['level', level.level], ['repeats', String(level.planned)], ['seed', matrix.seed], ['expect', level.expect ?? 'none'],
      ['verdict', level.verdict], ['failOn', matrix.failOn], ['runIds', runs.map((r) => r.journal?.runId ?? '-').join(' ')],
    ],
    cases,
  }
}

/** "median +402% (range +300% … +500%), pooled +380% [95% CI +310%, +460%], threshold rise <= 25%". */
export function describeAggregate(s: SignalAggregate): string {
  const parts = [`median ${formatMeasure(s, s.median)}`]
  if (s.range && s.values.length > 1) parts[0] += ` (range ${formatMeasure(s, s.range.low)} … ${formatMeasure(s, s.range.high)})`
  if (s.pooled) {
    const ci = s.pooled.interval ? ` [95% CI ${formatMeasure(s, s.pooled.interval.low)}, ${formatMeasure(s, s.pooled.interval.high)}]` : ''
    parts.push(`pooled ${formatMeasure(s, s.pooled.estimate)}${ci} (${s.pooled.method})`)
  }
  parts.push(`threshold ${s.threshold}`)
  return parts.join(', ')
}

// ---------------------------------------------------------------------------------------------------------
// XML

function serialise(title: string, suites: TestSuite[]): string {
  const count = (suite: TestSuite, kind: Outcome['kind']) => suite.cases.filter((c) => c.outcome.kind === kind).length
  const total = (kind?: Outcome['kind']) => suites.reduce((n, s) => n + (kind ? count(s, kind) : s.cases.length), 0)
  const host = hostname()
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>']
  lines.push(open('testsuites', {name: title, tests: total(), failures: total('failure'), errors: total('error'), time: seconds(suites.reduce((t, s) => t + s.timeMs, 0))}))
  for (const suite of suites) {
    lines.push(`  ${open('testsuite', {
      name: suite.name, tests: suite.cases.length, failures: count(suite, 'failure'), errors: count(suite, 'error'), skipped: count(suite, 'skipped'),
      time: seconds(suite.timeMs), timestamp: xmlTimestamp(suite.timestamp), hostname: host, id: suite.id, package: 'chaos',
    })}`)
    if (suite.properties.length > 0) {
      lines.push('    <properties>')
      for (const [name, value] of suite.properties) lines.push(`      ${empty('property', {name, value})}`)
      lines.push('    </properties>')
    }
    for (const testcase of suite.cases) lines.push(...caseLines(testcase))
    if (suite.out) lines.push(`    <system-out>${escapeXml(suite.out)}</system-out>`)
    lines.push('  </testsuite>')
  }
  lines.push('</testsuites>')
  return `${lines.join('\n')}\n`
}

function caseLines(testcase: TestCase): string[] {
  const attributes = {name: testcase.name, classname: testcase.classname, time: seconds(testcase.time)}
  const {outcome} = testcase
  const children: string[] = []
  if (outcome.kind === 'skipped') children.push(empty('skipped', {message: outcome.message}))
  if (outcome.kind === 'failure' || outcome.kind === 'error') {
    children.push(`${open(outcome.kind, {type: outcome.type, message: outcome.message})}${escapeXml(outcome.detail ?? outcome.message ?? '')}</${outcome.kind}>`)
  }
  if (testcase.out) children.push(`<system-out>${escapeXml(testcase.out)}</system-out>`)
  if (children.length === 0) return [`    ${empty('testcase', attributes)}`]
  return [`    ${open('testcase', attributes)}`, ...children.map((c) => `      ${c}`), '    </testcase>']
}

function attributeText(attributes: Attributes): string {
  return Object.entries(attributes).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join('')
}

function open(name: string, attributes: Attributes): string {
  return `<${name}${attributeText(attributes)}>`
}

function empty(name: string, attributes: Attributes): string {
  return `<${name}${attributeText(attributes)}/>`
}

/** Ant's format: ISO 8601 to the second, no zone (the value is UTC). */
function xmlTimestamp(iso: string): string {
  const date = new Date(iso)
  return (Number.isNaN(date.getTime()) ? new Date(0) : date).toISOString().slice(0, 19)
}
