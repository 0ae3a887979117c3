// What the report renderers (JUnit, HTML, Markdown) share: escaping, the one-line dose, the CI gate that turns
// outcomes into an exit code (so the exit code, the JUnit failures and the summaries always agree), and writing
// the report files a command was asked for.
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {formatBitRate, formatBytes} from '../experiment/units.js'
import {ExitCode} from '../run/exit-codes.js'
import type {MatrixResult} from '../matrix/types.js'
import type {Journal, RunVerdict} from './journal.js'

// ---------------------------------------------------------------------------------------------------------
// Escaping: journals carry user strings (names, URLs, process exit messages), so every one is escaped.

/** Characters XML 1.0 cannot hold at all, even escaped: a process's output may contain them. */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

export function escapeXml(text: string): string {
  return text.replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

/** HTML text and attribute values (quoted with "). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

/** Text in a Markdown table cell or line: no markup, no HTML, no table breaks, one line. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[\\`*_{}[\]<>|#!~]/g, (c) => `\\${c}`)
}

// ---------------------------------------------------------------------------------------------------------
// Shared wording

export function doseSummary(journal: Journal): string {
  const e = journal.injection.efficacy
  if (!e) return 'not injected'
  return `${e.landed ? 'landed' : 'did not land'} (${Math.round(e.ratio * 100)}% of the ${e.unit} asked): ${e.note}`
}

/** A dose quantity in its unit: 312Mi, 98.1Mbit/s, 4.7 cpu-seconds. */
export function doseAmount(value: number, unit: string): string {
  if (unit === 'bytes') return formatBytes(value)
  if (unit === 'bits/s') return formatBitRate(value)
  return `${Number(value.toPrecision(3))} ${unit}`
}

export function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3)
}

export function runDurationMs(journal: Journal): number {
  return Math.max(0, Date.parse(journal.endedAt) - Date.parse(journal.startedAt)) || 0
}

export function phaseMs(journal: Journal, phase: keyof Journal['phases']): number {
  const span = journal.phases[phase]
  return span ? Math.max(0, Date.parse(span.end) - Date.parse(span.start)) : 0
}

/** Relative thresholds come with an interval of the change; absolute ones with an interval of the fault value. */
export function isRelativeThreshold(threshold: string): boolean {
  return /increase|decrease|rise|fall/.test(threshold)
}

// ---------------------------------------------------------------------------------------------------------
// The CI gate: `--fail-on breach|inconclusive|mismatch`

export const FAIL_ON = ['mismatch', 'breach', 'inconclusive'] as const
export type FailOn = (typeof FAIL_ON)[number]

/** What the gate looks at: a run's (or a matrix level's) verdict, what was expected of it, and its cleanup. */
export interface Outcome {
  verdict: RunVerdict
  /** undefined: nothing is expected (a matrix level the experiment was not written for) */
  expect?: 'contained' | 'breach'
  rollbackComplete: boolean
}

/**
 * The exit code of one outcome under a gate. Whatever the gate: rollback incomplete 5, aborted 3.
 * - mismatch (default, the run's own behaviour): 0 when the verdict is the expected one, 4 inconclusive, else 1;
 * - breach: 1 on any breach, whatever was expected; inconclusive and contained pass (0);
 * - inconclusive: 1 on a breach, 4 when inconclusive; only a proven containment passes.
 */
export function gateExitCode(outcome: Outcome, failOn: FailOn): number {
  if (!outcome.rollbackComplete) return ExitCode.RollbackIncomplete
  if (outcome.verdict === 'aborted') return ExitCode.Aborted
  switch (failOn) {
    case 'mismatch':
      if (outcome.expect === undefined) return ExitCode.Matched
      if (outcome.verdict === 'inconclusive') return ExitCode.Inconclusive
      return outcome.verdict === outcome.expect ? ExitCode.Matched : ExitCode.Mismatched
    case 'breach':
      return outcome.verdict === 'breach' ? ExitCode.Mismatched : ExitCode.Matched
    case 'inconclusive':
      return outcome.verdict === 'breach' ? ExitCode.Mismatched : outcome.verdict === 'inconclusive' ? ExitCode.Inconclusive : ExitCode.Matched
  }
}

export function journalOutcome(journal: Journal): Outcome {
  return {verdict: journal.verdict, expect: journal.expect, rollbackComplete: journal.rollback.complete}
}

export function journalExitCode(journal: Journal, failOn: FailOn): number {
  return gateExitCode(journalOutcome(journal), failOn)
}

/** Does the gate fail on a single signal's verdict? (JUnit marks such a testcase as a failure.) */
export function signalFails(verdict: 'contained' | 'breach' | 'inconclusive', expect: 'contained' | 'breach' | undefined, failOn: FailOn): boolean {
  if (verdict === 'contained') return false
  if (verdict === 'inconclusive') return failOn === 'inconclusive'
  return failOn !== 'mismatch' || expect === 'contained'
}

/** When several outcomes are gated together, the most serious decides. */
const SERIOUSNESS: number[] = [ExitCode.Matched, ExitCode.Inconclusive, ExitCode.Mismatched, ExitCode.Invalid, ExitCode.Aborted, ExitCode.RollbackIncomplete]

export function worseExitCode(a: number, b: number): number {
  return SERIOUSNESS.indexOf(b) > SERIOUSNESS.indexOf(a) ? b : a
}

// ---------------------------------------------------------------------------------------------------------
// What a report is about, and writing the files asked for

/** An experiment of a suite that did not run (the suite stopped, or it could not start). */
export interface NotRun {
  name: string
  file?: string
  reason: string
  /** the exit code it contributed: 0 when skipped on purpose, else why it could not start (2, 4...) */
  exitCode: number
}

export interface RunsReport {
  kind: 'runs'
  title: string
  journals: Journal[]
  notRun?: NotRun[]
  failOn: FailOn
  /** e.g. the suite's description or schedule */
  subtitle?: string
}

export const REPORT_FORMATS = ['junit', 'html', 'markdown'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]
export type ReportTargets = Partial<Record<ReportFormat, string>>

export function writeReport(file: string, content: string): void {
  mkdirSync(dirname(file), {recursive: true})
  writeFileSync(file, content.endsWith('\n') ? content : `${content}\n`)
}

export interface MatrixReport {
  kind: 'matrix'
  matrix: MatrixResult
}

export type ReportDocument = RunsReport | MatrixReport
