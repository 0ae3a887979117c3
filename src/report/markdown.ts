// A short Markdown summary for a pull-request comment or a CI job summary ($GITHUB_STEP_SUMMARY): the verdict,
// the dose and a compact table per experiment (per level for a matrix). Every journal string is escaped.
import {describeCounts} from '../matrix/aggregate.js'
import {MATRIX_HEADER, matrixRows} from '../matrix/table.js'
import type {MatrixResult} from '../matrix/types.js'
import {ExitCode} from '../run/exit-codes.js'
import {journalExitCode, type FailOn} from '../run/gate.js'
import {doseSummary, doseWord, escapeMarkdown, type ReportDocument, type RunsReport} from './formats.js'
import type {Journal, RunVerdict} from './journal.js'
import {VERDICT_COLUMNS, verdictRows} from './table.js'

export function renderMarkdown(document: ReportDocument): string {
  return `${(document.kind === 'matrix' ? matrixMarkdown(document.matrix) : runsMarkdown(document)).join('\n')}\n`
}

/** ✅ the gate passes, ⚠️ it passes an inconclusive result, ❌ it fails. */
function icon(exitCode: number, verdict: RunVerdict | 'not run'): string {
  if (exitCode !== ExitCode.Matched) return '❌'
  return verdict === 'inconclusive' || verdict === 'not run' ? '⚠️' : '✅'
}

function table(header: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.map(escapeMarkdown).join(' | ')} |`
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)]
}

function runsMarkdown(report: RunsReport): string[] {
  const out: string[] = []
  const {journals, failOn} = report
  const notRun = report.notRun ?? []
  if (journals.length === 1 && notRun.length === 0) {
    out.push(`### ${journalHeading(journals[0], failOn)}`, '')
    out.push(...journalBody(journals[0]))
    return out
  }
  const worstFails = journals.some((j) => journalExitCode(j, failOn) !== ExitCode.Matched) || notRun.some((n) => n.exitCode !== ExitCode.Matched)
  out.push(`### ${worstFails ? '❌' : '✅'} chaos ${escapeMarkdown(report.title)}`, '')
  if (report.subtitle) out.push(escapeMarkdown(report.subtitle), '')
  const rows = journals.map((j) => [
    `${icon(journalExitCode(j, failOn), j.verdict)} ${j.experiment.name}${j.experiment.levelOverride ? ` (${j.experiment.levelOverride})` : ''}`,
    j.verdict.toUpperCase(), j.expect, j.injection.efficacy ? `${doseWord(j.injection.efficacy)} (${Math.round(j.injection.efficacy.ratio * 100)}%)` : 'not injected',
    String(journalExitCode(j, failOn)),
  ])
  for (const n of notRun) rows.push([`${icon(n.exitCode, 'not run')} ${n.name}`, 'NOT RUN', '-', '-', String(n.exitCode)])
  out.push(...table(['experiment', 'verdict', 'expected', 'dose', 'exit'], rows), '')
  for (const journal of journals) {
    out.push(`#### ${journalHeading(journal, failOn)}`, '')
    out.push(...journalBody(journal))
  }
  for (const n of notRun) out.push(`- **${escapeMarkdown(n.name)}** not run: ${escapeMarkdown(n.reason)}`)
  out.push(`gate: \`--fail-on ${failOn}\``)
  return out
}

function journalHeading(journal: Journal, failOn: FailOn): string {
  const level = journal.experiment.levelOverride ? ` at level ${journal.experiment.levelOverride}` : ''
  return `${icon(journalExitCode(journal, failOn), journal.verdict)} ${escapeMarkdown(journal.experiment.name)}${level}: ${journal.verdict.toUpperCase()} (expected ${journal.expect})`
}

function journalBody(journal: Journal): string[] {
  const out = [escapeMarkdown(journal.reason), '', `**Dose:** ${escapeMarkdown(doseSummary(journal))}`, '']
  const events = journal.injection.efficacy?.landed === false ? journal.injection.events ?? [] : []
  if (events.length > 0) out.push(...events.map((event) => `- ${escapeMarkdown(event)}`), '')
  const rows = verdictRows(journal)
  if (rows.length > 0) out.push(...table(VERDICT_COLUMNS, rows), '')
  if (!journal.rollback.complete) out.push(`**Rollback incomplete:** ${escapeMarkdown(journal.rollback.leftovers.join(', '))}`, '')
  out.push(`<sub>run ${escapeMarkdown(journal.runId)}, ${escapeMarkdown(journal.startedAt)}, exit code ${journal.exitCode}</sub>`, '')
  return out
}

function matrixMarkdown(matrix: MatrixResult): string[] {
  const out: string[] = []
  const fails = matrix.exitCode !== ExitCode.Matched
  out.push(`### ${fails ? '❌' : '✅'} chaos matrix ${escapeMarkdown(matrix.experiment.name)}: ${matrix.levels.join(', ')} x ${matrix.repeat}`, '')
  out.push(...table(['level', 'verdict', 'expected', 'repeats', 'dose landed', 'exit'], matrix.summary.map((level) => [
    `${icon(level.exitCode, level.verdict)} ${level.level}`, level.verdict.toUpperCase(), level.expect ?? 'informs only',
    describeCounts(level.counts, level.planned), `${level.doseLanded}/${level.planned}`, String(level.exitCode),
  ])), '')
  const rows = matrixRows(matrix)
  if (rows.length > 0) out.push(...table(MATRIX_HEADER, rows), '')
  out.push(`<sub>order (seed ${escapeMarkdown(matrix.seed)}): ${escapeMarkdown(matrix.order.map((s) => `${s.level}#${s.repetition}`).join(' '))}; gate \`--fail-on ${matrix.failOn}\`, exit code ${matrix.exitCode}</sub>`)
  return out
}
