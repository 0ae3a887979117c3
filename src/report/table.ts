// The verdict table printed after a run: neighbour x signal, with the statistics behind each verdict.
import {doseWord} from './formats.js'
import type {Journal} from './journal.js'
import type {SignalVerdict} from '../verdict/types.js'

function value(v: number | null, unit: SignalVerdict['unit']): string {
  if (v === null || !Number.isFinite(v)) return '-'
  switch (unit) {
    case 'seconds': return v < 1 ? `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)}ms` : `${v.toFixed(2)}s`
    case 'ratio': return `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`
    case 'bytes': return v >= 1024 ** 2 ? `${(v / 1024 ** 2).toFixed(1)}Mi` : `${Math.round(v / 1024)}Ki`
    case 'per_second': return `${v.toFixed(1)}/s`
    default: return Number.isInteger(v) ? String(v) : v.toFixed(3)
  }
}

function signed(fraction: number | null): string {
  if (fraction === null || !Number.isFinite(fraction)) return '-'
  return `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(Math.abs(fraction) < 0.1 ? 1 : 0)}%`
}

function interval(s: SignalVerdict): string {
  if (!s.interval) return '-'
  // relative thresholds come with an interval of the change; absolute ones with an interval of the fault value
  const relative = /increase|decrease|rise|fall/.test(s.threshold)
  const f = (x: number) => (relative ? signed(x) : value(x, s.unit))
  return `[${f(s.interval.low)}, ${f(s.interval.high)}]`
}

function pValue(p: number | null): string {
  if (p === null) return '-'
  return p < 0.001 ? '<0.001' : p.toFixed(3)
}

/** The verdict table's columns, for the text, Markdown and HTML reports alike. CI: the interval at the deciding
 * look's level; p: the one-sided p-value of the breach claim (against the threshold, not against no change). */
export const VERDICT_COLUMNS = ['neighbour', 'signal', 'baseline', 'fault', 'change', 'CI', 'p', 'threshold', 'verdict']

export function verdictRows(journal: Journal): string[][] {
  return journal.neighbors.flatMap((n) => n.signals.map((s) => [
    n.name, s.signal, value(s.baseline, s.unit), value(s.fault, s.unit), signed(s.change), interval(s), pValue(s.pValue), s.threshold, s.verdict.toUpperCase(),
  ]))
}

export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function renderVerdict(journal: Journal): string {
  const out: string[] = []
  const rows = verdictRows(journal)
  if (rows.length > 0) out.push(renderTable(VERDICT_COLUMNS, rows))
  for (const n of journal.neighbors) {
    for (const s of n.signals) if (s.verdict !== 'contained') out.push(`  ${n.name} ${s.signal}: ${s.reason}`)
    if (n.unexpectedExits > 0) out.push(`  ${n.name} ended ${n.unexpectedExits} time(s) during the run: ${n.lastExit}`)
  }
  const e = journal.injection.efficacy
  out.push('')
  // an unbounded fault asks only for a floor; a percentage of it says nothing
  const share = e && e.ratio <= 2 ? ` (${Math.round(e.ratio * 100)}% of the ${e.unit} asked)` : ''
  out.push(`dose: ${e ? `${e.landed ? 'landed' : doseWord(e).toUpperCase()}${share}: ${e.note}` : 'not injected'}`)
  // how a short dose came about: when each stressor was ready and how it ended
  if (e && !e.landed) for (const event of journal.injection.events ?? []) out.push(`  ${event}`)
  if (journal.design) out.push(`measured: ${describeMeasuring(journal.design)}`)
  if (journal.target.unexpectedExits > 0) out.push(`target ${journal.target.name}: ${journal.target.lastExit}`)
  out.push(`rollback: ${journal.rollback.complete ? `complete in ${journal.rollback.durationMs}ms` : `INCOMPLETE, left: ${journal.rollback.leftovers.join(', ')}`}`)
  out.push(`verdict: ${journal.verdict.toUpperCase()} (expected ${journal.expect}) — ${journal.reason}`)
  out.push(`exit code ${journal.exitCode}`)
  return out.join('\n')
}

/** "6 interleaved pairs of 4s blocks in 58s, 2 looks; stopped: decided contained after 6 usable pairs" */
export function describeMeasuring(design: NonNullable<Journal['design']>): string {
  const on = design.blocks.filter((b) => b.arm === 'on')
  const span = design.blocks.length ? (Date.parse(design.blocks.at(-1)!.end) - Date.parse(design.blocks[0].start)) / 1000 : 0
  const startups = on.map((b) => b.startupMs ?? 0).sort((a, b) => a - b)
  const startup = startups.length ? `; the fault took ${(startups[Math.floor(startups.length / 2)] / 1000).toFixed(1)} s (median) to start working` : ''
  const lengths = on.map((b) => (Date.parse(b.end) - Date.parse(b.start)) / 1000).sort((a, b) => a - b)
  const blocks = design.episodic && lengths.length
    ? `episode blocks (median ${lengths[Math.floor(lengths.length / 2)].toFixed(1)}s)`
    : `${design.blockMs / 1000}s blocks`
  const what = design.kind === 'interleaved'
    ? `${on.length} interleaved pair${on.length === 1 ? '' : 's'} of ${blocks} in ${Math.round(span)}s`
    : 'one baseline window and one fault window'
  const lagged = design.instrument.filter((i) => i.laggedIntervals > 0)
    .map((i) => `; the probe of ${i.neighbor} lagged in ${i.laggedIntervals} interval${i.laggedIntervals === 1 ? '' : 's'} (${i.requestsInLaggedIntervals} requests, judged all the same)`).join('')
  return `${what}, ${design.looks.length} look${design.looks.length === 1 ? '' : 's'}${startup}${lagged}; stopped: ${design.stoppedBecause}`
}
