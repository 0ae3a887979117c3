import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Args, Command, Flags} from '@oclif/core'

import type {MatrixResult} from '../matrix/types.js'
import {REPORT_FORMATS, writeReport, type ReportDocument} from '../report/formats.js'
import {renderHtml} from '../report/html.js'
import type {Journal} from '../report/journal.js'
import {renderJunit} from '../report/junit.js'
import {renderMarkdown} from '../report/markdown.js'
import {ExitCode} from '../run/exit-codes.js'
import {FAIL_ON, type FailOn} from '../run/gate.js'

const RENDERERS = {junit: renderJunit, html: renderHtml, markdown: renderMarkdown}

export default class Report extends Command {
  static override summary = 'Render journals (or a matrix result) as HTML, JUnit XML or Markdown'
  static override description = `Takes journals written by "run --output" (or "run --json"), a directory of them (a game-day suite run),
or one result of "matrix --output". --fail-on only decides which testcases JUnit marks as failures and the
icons of the summaries; the exit code is 0 unless the input is unreadable (2).`

  static override examples = [
    '<%= config.bin %> report journal.json --format html --output report.html',
    '<%= config.bin %> report chaos-gameday/nightly/0003-* --format junit --output junit.xml',
  ]

  static override strict = false
  static override args = {journal: Args.string({description: 'journal file(s), directories of journals, or one matrix result', required: true})}

  static override flags = {
    format: Flags.string({char: 'f', description: 'output format', options: [...REPORT_FORMATS], required: true}),
    output: Flags.string({char: 'o', description: 'write here instead of stdout'}),
    title: Flags.string({description: 'title of a report over several journals'}),
    'fail-on': Flags.string({description: 'the gate the report shows (docs/ci.md)', options: [...FAIL_ON], default: 'mismatch'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Report)
    let document: ReportDocument
    try {
      document = readDocument(argv as string[], flags['fail-on'] as FailOn, flags.title)
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`)
      return this.exit(ExitCode.Invalid)
    }
    const text = RENDERERS[flags.format as keyof typeof RENDERERS](document)
    if (flags.output) writeReport(flags.output, text)
    else process.stdout.write(text)
  }
}

function readDocument(paths: string[], failOn: FailOn, title?: string): ReportDocument {
  const journals: Journal[] = []
  const matrices: MatrixResult[] = []
  for (const path of paths.flatMap(expand)) {
    let data: unknown
    try {
      data = JSON.parse(readFileSync(path, 'utf8'))
    } catch (error) {
      throw new Error(`${path}: cannot read a journal: ${(error as Error).message}`)
    }
    if (isMatrix(data)) matrices.push(data)
    else for (const item of Array.isArray(data) ? data : [data]) journals.push(asJournal(item, path))
  }
  if (matrices.length > 0) {
    if (matrices.length > 1 || journals.length > 0) throw new Error('a matrix result is reported on its own: pass one matrix file, or journals')
    return {kind: 'matrix', matrix: {...matrices[0], failOn}}
  }
  if (journals.length === 0) throw new Error('no journal found')
  return {kind: 'runs', title: title ?? journals.map((j) => j.experiment.name).filter((n, i, all) => all.indexOf(n) === i).join(', '), journals, failOn}
}

/** A directory stands for the journals in it (a game-day suite run's directory), in name order. */
function expand(path: string): string[] {
  let info
  try {
    info = statSync(path)
  } catch {
    throw new Error(`${path}: no such file`)
  }
  if (!info.isDirectory()) return [path]
  return readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f))
}

function isMatrix(data: unknown): data is MatrixResult {
  return typeof data === 'object' && data !== null && (data as {kind?: unknown}).kind === 'chaos-matrix'
}

/** Enough of the journal contract to render it; anything else is refused with what is missing. */
function asJournal(data: unknown, path: string): Journal {
  const j = data as Partial<Journal> | null
  const missing = ['runId', 'experiment', 'verdict', 'injection', 'neighbors', 'phases', 'rollback'].filter((k) => j === null || typeof j !== 'object' || !(k in j))
  if (missing.length > 0) throw new Error(`${path}: not a chaos journal (missing ${missing.join(', ')})`)
  if (j!.schemaVersion !== 1) throw new Error(`${path}: journal schemaVersion ${String(j!.schemaVersion)} is not supported (expected 1)`)
  return j as Journal
}
