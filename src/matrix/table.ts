// The matrix as text: one table of level x neighbour signal, then one summary line per level.
import {renderTable} from '../report/table.js'
import {formatPercent, formatValue} from '../verdict/format.js'
import {describeCounts} from './aggregate.js'
import type {LevelAggregate, MatrixResult, SignalAggregate} from './types.js'

export const MATRIX_HEADER = ['level', 'neighbour', 'signal', 'median', 'range', 'pooled', '95% CI', 'repeats', 'threshold', 'verdict']

/** A measure as the table shows it: a signed change (+45%) or a value in its unit (0.12%, 26.8ms). */
export function formatMeasure(s: SignalAggregate, x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-'
  return s.measure === 'change' ? formatPercent(x, true) : formatValue(x, s.unit)
}

export function matrixRows(result: MatrixResult): string[][] {
  return result.summary.flatMap((level) => level.signals.map((s) => [
    level.level,
    s.neighbor,
    s.signal,
    formatMeasure(s, s.median),
    s.range && s.values.length > 1 ? `${formatMeasure(s, s.range.low)} … ${formatMeasure(s, s.range.high)}` : '-',
    formatMeasure(s, s.pooled?.estimate),
    s.pooled?.interval ? `[${formatMeasure(s, s.pooled.interval.low)}, ${formatMeasure(s, s.pooled.interval.high)}]` : '-',
    describeCounts(s.counts, level.planned),
    s.threshold,
    s.verdict.toUpperCase(),
  ]))
}

export function levelSummaryLine(level: LevelAggregate): string {
  const expected = level.expect ? `expected ${level.expect}` : 'informs only'
  return `${level.level}: ${level.verdict.toUpperCase()} (${expected}) — ${level.reason}${level.rollbackComplete ? '' : '; ROLLBACK INCOMPLETE'}`
}

export function renderMatrix(result: MatrixResult): string {
  const out: string[] = []
  const rows = matrixRows(result)
  if (rows.length > 0) out.push(renderTable(MATRIX_HEADER, rows))
  else out.push('no signal was judged at any level')
  out.push('')
  for (const level of result.summary) out.push(levelSummaryLine(level))
  out.push(`order (seed ${result.seed}): ${result.order.map((s) => `${s.level}#${s.repetition}`).join(' ')}${result.interrupted ? ' (interrupted)' : ''}`)
  out.push(`exit code ${result.exitCode} (--fail-on ${result.failOn})`)
  return out.join('\n')
}
