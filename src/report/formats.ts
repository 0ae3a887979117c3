// What the report renderers (JUnit, HTML, Markdown) share: escaping, the one-line dose, and writing the report
// files a command was asked for. The CI gate they all show is run/gate.ts, so the exit code, the JUnit failures and
// the summaries always agree.
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {formatBitRate, formatBytes} from '../experiment/units.js'
import type {MatrixResult} from '../matrix/types.js'
import type {FailOn} from '../run/gate.js'
import type {Efficacy} from '../verdict/types.js'
import type {Journal} from './journal.js'

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

/** Whether the dose landed, in a word or three: a short one that still lets a breach stand says so (verdict/judge.ts). */
export function doseWord(e: Efficacy): string {
  return e.landed ? 'landed' : e.partial ? 'short, enough for a breach' : 'did not land'
}

export function doseSummary(journal: Journal): string {
  const e = journal.injection.efficacy
  if (!e) return 'not injected'
  return `${doseWord(e)} (${Math.round(e.ratio * 100)}% of the ${e.unit} asked): ${e.note}`
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
