// The HTML report: ONE self-contained file (inline CSS, inline SVG drawn here; no script, font or network at
// view time, which a Content-Security-Policy of default-src 'none' makes sure of). Per run: the verdict, the
// dose, the verdict table and, per neighbour, time-series charts of its timeline with the baseline, fault and
// recovery windows shaded. A matrix adds a per-level summary and a forest plot of each signal's change per
// level. Every string from a journal is escaped; it prints readably (print stylesheet, one run per page).
import {describeCounts} from '../matrix/aggregate.js'
import {formatMeasure, MATRIX_HEADER, matrixRows} from '../matrix/table.js'
import type {MatrixResult, MatrixRun, SignalAggregate} from '../matrix/types.js'
import {journalExitCode, type FailOn} from '../run/gate.js'
import {formatPercent, formatValue} from '../verdict/format.js'
import type {SignalVerdict} from '../verdict/types.js'
import {doseAmount, doseSummary, doseWord, escapeHtml as h, runDurationMs, type NotRun, type ReportDocument, type RunsReport} from './formats.js'
import type {Journal, TimelinePoint} from './journal.js'
import {VERDICT_COLUMNS, verdictRows} from './table.js'

export function renderHtml(document: ReportDocument): string {
  if (document.kind === 'matrix') {
    const m = document.matrix
    return page(`chaos matrix: ${m.experiment.name}`, matrixBody(m))
  }
  return page(`chaos: ${document.title}`, runsBody(document))
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="chaos">
<title>${h(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="page"><h1>${h(title)}</h1><p class="generated">generated ${h(new Date().toISOString())}</p></header>
<main>
${body}
</main>
</body>
</html>
`
}

// ---------------------------------------------------------------------------------------------------------
// Runs (one journal, several, or a game-day suite)

function runsBody(report: RunsReport): string {
  const parts: string[] = []
  if (report.subtitle) parts.push(`<p class="subtitle">${h(report.subtitle)}</p>`)
  const notRun = report.notRun ?? []
  if (report.journals.length + notRun.length > 1) parts.push(summaryTable(report.journals, notRun, report.failOn))
  for (const journal of report.journals) parts.push(journalSection(journal, report.failOn))
  return parts.join('\n')
}

function summaryTable(journals: Journal[], notRun: NotRun[], failOn: FailOn): string {
  const rows = journals.map((j) => `<tr><td><a href="#run-${h(j.runId)}">${h(j.experiment.name)}</a>${j.experiment.levelOverride ? ` <span class="muted">(${h(j.experiment.levelOverride)})</span>` : ''}</td>`
    + `<td>${badge(j.verdict)}</td><td>${h(j.expect)}</td><td>${h(j.injection.efficacy ? `${doseWord(j.injection.efficacy)} (${Math.round(j.injection.efficacy.ratio * 100)}%)` : 'not injected')}</td>`
    + `<td class="num">${journalExitCode(j, failOn)}</td></tr>`)
  for (const n of notRun) rows.push(`<tr><td>${h(n.name)}</td><td>${badge('not run')}</td><td colspan="2">${h(n.reason)}</td><td class="num">${n.exitCode}</td></tr>`)
  return `<section class="summary"><h2>Summary</h2><table class="grid"><thead><tr><th>experiment</th><th>verdict</th><th>expected</th><th>dose</th><th>exit (--fail-on ${h(failOn)})</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`
}

function journalSection(journal: Journal, failOn: FailOn, heading = journal.experiment.name): string {
  const level = journal.experiment.levelOverride
  const facts: [string, string][] = [
    ['run', journal.runId], ['platform', journal.platform], ['level', level ?? 'as written'], ['started', journal.startedAt],
    ['duration', `${(runDurationMs(journal) / 1000).toFixed(1)}s`], ['target', `${journal.target.name}: ${journal.target.boundary}`],
    ['rollback', journal.rollback.complete ? `complete in ${journal.rollback.durationMs}ms` : `INCOMPLETE: ${journal.rollback.leftovers.join(', ')}`],
    ['exit code', `${journal.exitCode} (gate --fail-on ${failOn}: ${journalExitCode(journal, failOn)})`],
  ]
  if (journal.experiment.file) facts.splice(1, 0, ['file', journal.experiment.file])
  const rows = verdictRows(journal)
  const signals = journal.neighbors.flatMap((n) => n.signals)
  const table = rows.length === 0 ? '<p class="muted">No signal was judged.</p>'
    : `<table class="grid verdicts"><thead><tr>${VERDICT_COLUMNS.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>${
      rows.map((r, i) => `<tr class="v-${h(signals[i].verdict)}">${r.slice(0, -1).map((c, j) => `<td${j >= 2 && j <= 6 ? ' class="num"' : ''}>${h(c)}</td>`).join('')}<td>${badge(signals[i].verdict)}</td></tr>`
        + `<tr class="reason"><td colspan="9">${h(signals[i].reason)}</td></tr>`).join('')}</tbody></table>`
  return `<section class="run v-${h(journal.verdict)}" id="run-${h(journal.runId)}">
<h2>${h(heading)} ${badge(journal.verdict)} <span class="expect">expected ${h(journal.expect)}</span></h2>
${journal.experiment.description ? `<p class="description">${h(journal.experiment.description)}</p>` : ''}
<p class="reason-line">${h(journal.reason)}</p>
${doseBlock(journal)}
<dl class="facts">${facts.map(([k, v]) => `<div><dt>${h(k)}</dt><dd>${h(v)}</dd></div>`).join('')}</dl>
<h3>Verdicts</h3>
${table}
${journal.neighbors.map((n) => neighbourCharts(journal, n)).join('\n')}
<h3>Plan</h3>
<pre class="plan">${h(journal.plan.join('\n'))}</pre>
</section>`
}

function badge(verdict: string): string {
  return `<span class="badge b-${h(verdict.replace(/\s+/g, '-'))}">${h(verdict.toUpperCase())}</span>`
}

/** The dose as a meter: achieved over asked, with the 90% a dose must reach to count as landed. */
function doseBlock(journal: Journal): string {
  const e = journal.injection.efficacy
  if (!e) return `<div class="dose dose-missed"><strong>Dose:</strong> ${h(doseSummary(journal))}</div>`
  const width = 240
  const filled = Math.max(0, Math.min(1.2, e.ratio)) / 1.2 * width
  const mark = 0.9 / 1.2 * width
  const meter = `<svg class="meter" viewBox="0 0 ${width} 14" width="${width}" height="14" role="img" aria-label="dose ${Math.round(e.ratio * 100)}% of asked">`
    + `<rect class="meter-track" x="0" y="2" width="${width}" height="10" rx="3"/><rect class="meter-fill ${e.landed ? 'ok' : 'missed'}" x="0" y="2" width="${filled.toFixed(1)}" height="10" rx="3"/>`
    + `<line class="meter-mark" x1="${mark.toFixed(1)}" x2="${mark.toFixed(1)}" y1="0" y2="14"/></svg>`
  return `<div class="dose ${e.landed ? 'dose-landed' : 'dose-missed'}"><strong>Dose ${doseWord(e)}:</strong> ${meter} `
    + `<span class="num">${h(`${doseAmount(e.achieved, e.unit)} of ${doseAmount(e.asked, e.unit)} (${Math.round(e.ratio * 100)}%)`)}</span><br><span class="muted">${h(e.note)}</span>${stressorEvents(journal)}</div>`
}

/** When each stressor was ready and how it ended; open when the dose fell short. */
function stressorEvents(journal: Journal): string {
  const events = journal.injection.events ?? []
  if (events.length === 0) return ''
  return `<details class="events"${journal.injection.efficacy?.landed ? '' : ' open'}><summary>stressors</summary><ul>${events.map((event) => `<li class="num">${h(event)}</li>`).join('')}</ul></details>`
}

function round(x: number): string {
  return String(Number(x.toPrecision(3)))
}

// ---------------------------------------------------------------------------------------------------------
// Time-series charts

type Neighbour = Journal['neighbors'][number]
type WindowKind = 'baseline' | 'fault' | 'recovery'

interface Series {
  key: string
  label: string
  values: (number | undefined)[]
  area?: boolean
}

interface ChartKind {
  key: string
  title: string
  /** judged signals this chart shows */
  covers: (signal: string) => boolean
  series: (timeline: TimelinePoint[]) => Series[]
  format: (v: number) => string
  /** a log scale when the values span more than this ratio (latency: a hog moves it by orders of magnitude) */
  logAbove?: number
}

const perInterval = (timeline: TimelinePoint[], f: (p: TimelinePoint, previous: TimelinePoint | undefined, dt: number) => number | undefined) =>
  timeline.map((p, i) => f(p, timeline[i - 1], i > 0 ? (p.t - timeline[i - 1].t) / 1000 : NaN))

const CHARTS: ChartKind[] = [
  {
    key: 'latency', title: 'Latency', covers: (s) => s.startsWith('latency_'), logAbove: 30,
    series: (tl) => [{key: 'p50', label: 'p50', values: tl.map((p) => p.p50)}, {key: 'p99', label: 'p99', values: tl.map((p) => p.p99)}],
    format: (v) => formatValue(v, 'seconds'),
  },
  {
    key: 'errors', title: 'Error rate', covers: (s) => s === 'error_rate',
    series: (tl) => [{key: 'errors', label: 'failed requests', area: true, values: tl.map((p) => (p.requests ? (p.errors ?? 0) / p.requests : p.requests === 0 ? 0 : undefined))}],
    format: (v) => formatPercent(v),
  },
  {
    key: 'throughput', title: 'Throughput', covers: (s) => s === 'throughput',
    series: (tl) => [{key: 'throughput', label: 'requests/s', values: perInterval(tl, (p, _, dt) => (p.requests !== undefined && dt > 0 ? p.requests / dt : undefined))}],
    format: (v) => formatValue(v, 'per_second'),
  },
  {
    key: 'cpu', title: 'CPU', covers: (s) => s.startsWith('cpu_'),
    series: (tl) => [{key: 'cpu', label: 'cores used', values: perInterval(tl, (p, prev, dt) => (p.cpuSeconds !== undefined && prev?.cpuSeconds !== undefined && dt > 0 ? Math.max(0, (p.cpuSeconds - prev.cpuSeconds) / dt) : undefined))}],
    format: (v) => `${round(v)} cores`,
  },
  {
    key: 'memory', title: 'Memory', covers: (s) => s === 'memory' || s === 'oom_kills' || s === 'memory_pressure',
    series: (tl) => [{key: 'memory', label: 'memory', values: tl.map((p) => p.memoryBytes)}],
    format: (v) => formatValue(v, 'bytes'),
  },
]

function neighbourCharts(journal: Journal, neighbour: Neighbour): string {
  const timeline = neighbour.timeline
  const figures: string[] = []
  const judged = neighbour.signals
  // charts of judged signals first: they are what the verdict is about
  const kinds = [...CHARTS].sort((a, b) => Number(judged.some((s) => b.covers(s.signal))) - Number(judged.some((s) => a.covers(s.signal))))
  for (const kind of kinds) {
    const series = kind.series(timeline)
    if (!series.some((s) => s.values.some((v) => v !== undefined && Number.isFinite(v)))) continue
    figures.push(chartFigure(journal, neighbour, kind, series, judged.filter((s) => kind.covers(s.signal))))
  }
  const uncharted = judged.filter((s) => !CHARTS.some((k) => k.covers(s.signal)))
  const note = uncharted.length > 0 ? `<p class="muted">No timeline for ${uncharted.map((s) => `${h(s.signal)} ${badge(s.verdict)}`).join(', ')}.</p>` : ''
  const exits = neighbour.unexpectedExits > 0 ? `<p class="warning">${h(neighbour.name)} ended ${neighbour.unexpectedExits} time(s) during the run: ${h(neighbour.lastExit ?? '')}</p>` : ''
  return `<h3>Neighbour ${h(neighbour.name)} <span class="muted">${h(neighbour.boundary)}</span></h3>${exits}
<div class="charts">${figures.length > 0 ? figures.join('\n') : '<p class="muted">No timeline was recorded.</p>'}</div>${note}`
}

const W = 720
const H = 220
const M = {left: 64, right: 16, top: 24, bottom: 32}

function chartFigure(journal: Journal, neighbour: Neighbour, kind: ChartKind, series: Series[], signals: SignalVerdict[]): string {
  const timeline = neighbour.timeline
  const origin = journal.phases.baseline ? Date.parse(journal.phases.baseline.start) : timeline[0].t
  const windows: {kind: WindowKind, from: number, to: number}[] = []
  const add = (kindName: WindowKind, span?: {start: string, end: string}) => {
    if (span) windows.push({kind: kindName, from: Date.parse(span.start), to: Date.parse(span.end)})
  }
  if (journal.design?.kind === 'interleaved') {
    // every block of the design: the fault-on and fault-off blocks the verdict compared
    for (const b of journal.design.blocks) add(b.arm === 'on' ? 'fault' : 'baseline', b)
  } else {
    add('baseline', journal.phases.baseline)
    add('fault', journal.phases.inject)
  }
  add('recovery', journal.phases.recover)
  const interval = timeline.length > 1 ? timeline[1].t - timeline[0].t : 1000
  const xFrom = Math.min(timeline[0].t - interval, ...windows.map((w) => w.from))
  const xTo = Math.max(timeline.at(-1)!.t, ...windows.map((w) => w.to))
  const x = (t: number) => M.left + (t - xFrom) / Math.max(1, xTo - xFrom) * (W - M.left - M.right)

  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)))
  const scale = yScale(values, kind)
  const bottom = H - M.bottom

  const svg: string[] = []
  svg.push(`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${h(`${kind.title} of ${neighbour.name}`)}" data-neighbor="${h(neighbour.name)}" data-chart="${kind.key}" data-signals="${h(signals.map((s) => s.signal).join(' '))}" preserveAspectRatio="xMidYMid meet">`)
  for (const w of windows) {
    const x1 = x(w.from)
    const x2 = x(w.to)
    svg.push(`<rect class="window window-${w.kind}" x="${f(x1)}" y="${M.top}" width="${f(Math.max(0, x2 - x1))}" height="${bottom - M.top}"><title>${w.kind} ${((w.to - w.from) / 1000).toFixed(1)}s</title></rect>`)
    if (x2 - x1 > 36) svg.push(`<text class="window-label" x="${f(x1 + 4)}" y="${M.top - 8}">${w.kind}</text>`)
  }
  // y grid and labels
  for (const tick of scale.ticks) {
    const y = scale.y(tick)
    svg.push(`<line class="gridline" x1="${M.left}" x2="${W - M.right}" y1="${f(y)}" y2="${f(y)}"/><text class="tick y" x="${M.left - 6}" y="${f(y + 4)}">${h(kind.format(tick))}</text>`)
  }
  // x ticks: seconds from the start of the baseline
  for (const tick of timeTicks(xFrom, xTo, origin)) {
    const px = x(tick)
    svg.push(`<line class="axis" x1="${f(px)}" x2="${f(px)}" y1="${bottom}" y2="${bottom + 4}"/><text class="tick x" x="${f(px)}" y="${bottom + 17}">${Math.round((tick - origin) / 1000)}s</text>`)
  }
  svg.push(`<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${bottom}" y2="${bottom}"/>`)
  for (const s of series) {
    const segments = pathSegments(timeline.map((p) => p.t), s.values, x, scale.y)
    if (s.area && segments.length > 0) {
      const areas = segments.map((seg) => `M${f(seg[0][0])},${bottom}${seg.map(([px, py]) => `L${f(px)},${f(py)}`).join('')}L${f(seg.at(-1)![0])},${bottom}Z`).join('')
      svg.push(`<path class="area area-${s.key}" d="${areas}"/>`)
    }
    const d = segments.map((seg) => seg.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${f(px)},${f(py)}`).join('')).join('')
    svg.push(`<path class="series series-${s.key}" data-series="${s.key}" d="${d || `M${M.left},${bottom}`}"><title>${h(s.label)}</title></path>`)
    // single points (isolated intervals) would not show as a path
    for (const seg of segments) if (seg.length === 1) svg.push(`<circle class="dot series-${s.key}" cx="${f(seg[0][0])}" cy="${f(seg[0][1])}" r="2.5"/>`)
  }
  if (scale.log) svg.push(`<text class="scale-note" x="4" y="${H - 4}">log scale</text>`)
  svg.push('</svg>')

  const legend = series.map((s) => `<span class="key"><span class="swatch sw-${s.key}"></span>${h(s.label)}</span>`).join('')
    + `<span class="key"><span class="swatch sw-baseline"></span>baseline</span><span class="key"><span class="swatch sw-fault"></span>fault</span><span class="key"><span class="swatch sw-recovery"></span>recovery</span>`
  const judged = signals.map((s) => `<span class="judged">${h(s.signal)} ${badge(s.verdict)}</span>`).join(' ')
  return `<figure class="chart-figure" data-neighbor="${h(neighbour.name)}" data-chart="${kind.key}">
<figcaption><strong>${h(kind.title)}</strong> — ${h(neighbour.name)} ${judged}<div class="legend">${legend}</div></figcaption>
${svg.join('')}
</figure>`
}

function f(n: number): string {
  return (Math.round(n * 10) / 10).toString()
}

function pathSegments(times: number[], values: (number | undefined)[], x: (t: number) => number, y: (v: number) => number): [number, number][][] {
  const segments: [number, number][][] = []
  let current: [number, number][] = []
  values.forEach((v, i) => {
    if (v === undefined || !Number.isFinite(v)) {
      if (current.length > 0) segments.push(current)
      current = []
      return
    }
    current.push([x(times[i]), y(v)])
  })
  if (current.length > 0) segments.push(current)
  return segments
}

interface YScale {
  y: (v: number) => number
  ticks: number[]
  log: boolean
}

function yScale(values: number[], kind: ChartKind): YScale {
  const top = M.top + 4
  const bottom = H - M.bottom
  const positive = values.filter((v) => v > 0)
  const max = Math.max(0, ...values)
  const minPositive = positive.length > 0 ? Math.min(...positive) : 0
  if (kind.logAbove && minPositive > 0 && max / minPositive > kind.logAbove) {
    const lo = Math.floor(Math.log10(minPositive))
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)))
    const y = (v: number) => bottom - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo) * (bottom - top)
    const ticks: number[] = []
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e)
    return {y, ticks, log: true}
  }
  const step = niceStep((max || 1) / 4)
  const niceMax = Math.max(step, Math.ceil((max || 1) / step) * step)
  const ticks: number[] = []
  for (let v = 0; v <= niceMax + step / 2; v += step) ticks.push(Number(v.toPrecision(12)))
  return {y: (v) => bottom - v / niceMax * (bottom - top), ticks, log: false}
}

export function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough))
  const fraction = rough / power
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power
}

function linearTicks(from: number, to: number): number[] {
  const step = niceStep((to - from) / 5 || 1)
  const ticks: number[] = []
  for (let v = Math.ceil(from / step) * step; v <= to; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

function timeTicks(from: number, to: number, origin: number): number[] {
  const spanS = (to - from) / 1000
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => spanS / s <= 12) ?? 1800
  const ticks: number[] = []
  const first = Math.ceil((from - origin) / 1000 / step) * step
  for (let s = first; origin + s * 1000 <= to; s += step) ticks.push(origin + s * 1000)
  return ticks
}

// ---------------------------------------------------------------------------------------------------------
// Matrix

function matrixBody(matrix: MatrixResult): string {
  const parts: string[] = []
  if (matrix.experiment.description) parts.push(`<p class="subtitle">${h(matrix.experiment.description)}</p>`)
  parts.push(`<section class="summary"><h2>Levels</h2><div class="levels">${matrix.summary.map((level) => `<div class="level-card v-${h(level.verdict)}" data-level="${h(level.level)}">
<div class="level-name">${h(level.level)}</div>${badge(level.verdict)}
<div>${h(describeCounts(level.counts, level.planned))}</div><div>dose landed ${level.doseLanded}/${level.planned}</div>
<div class="muted">${h(level.expect ? `expected ${level.expect}` : 'informs only')}; exit ${level.exitCode}</div></div>`).join('')}</div>
<p class="muted">${h(`order (seed ${matrix.seed}): ${matrix.order.map((s) => `${s.level}#${s.repetition}`).join(' ')}; gate --fail-on ${matrix.failOn}, exit code ${matrix.exitCode}${matrix.interrupted ? '; interrupted' : ''}`)}</p></section>`)
  const rows = matrixRows(matrix)
  const signalAggregates = matrix.summary.flatMap((l) => l.signals)
  parts.push(`<section class="matrix"><h2>Level x neighbour signal</h2>${rows.length === 0 ? '<p class="muted">No signal was judged.</p>' : `<table class="grid"><thead><tr>${MATRIX_HEADER.map((c) => `<th>${h(c)}</th>`).join('')}</tr></thead><tbody>${
    rows.map((r, i) => `<tr class="v-${h(signalAggregates[i].verdict)}">${r.slice(0, -1).map((c, j) => `<td${j >= 3 && j <= 6 ? ' class="num"' : ''}>${h(c)}</td>`).join('')}<td>${badge(signalAggregates[i].verdict)}</td></tr>`).join('')}</tbody></table>`}
${forestPlots(matrix)}</section>`)
  const failOn = matrix.failOn
  for (const run of matrix.runs) parts.push(matrixRunSection(run, failOn))
  return parts.join('\n')
}

function matrixRunSection(run: MatrixRun, failOn: FailOn): string {
  const title = `#${run.index} ${run.level}, repeat ${run.repetition}`
  if (run.journal) return journalSection(run.journal, failOn, `${title}: ${run.journal.experiment.name}`)
  return `<section class="run v-inconclusive"><h2>${h(title)} ${badge('not run')}</h2><p>${h(run.error?.message ?? 'not run')}</p></section>`
}

/** Per neighbour signal: each level's repeats (dots) and pooled estimate with its interval (bar). */
function forestPlots(matrix: MatrixResult): string {
  const keys = [...new Set(matrix.summary.flatMap((l) => l.signals.map((s) => `${s.neighbor}\u0000${s.signal}`)))]
  return `<div class="forests">${keys.map((key) => {
    const [neighbor, signal] = key.split('\u0000')
    const rows = matrix.summary.map((level) => ({level: level.level, planned: level.planned, s: level.signals.find((x) => x.neighbor === neighbor && x.signal === signal)}))
    return forestPlot(neighbor, signal, rows)
  }).join('\n')}</div>`
}

const FOREST = {left: 80, right: 250, row: 34}
/** Ticks of a change axis (fractions): dense near no change, sparse as the change grows by orders of magnitude. */
const CHANGE_TICKS = [-0.9, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]

function forestPlot(neighbor: string, signal: string, rows: {level: string, planned: number, s?: SignalAggregate}[]): string {
  const any = rows.find((r) => r.s)?.s
  if (!any) return ''
  const relative = any.measure === 'change'
  // changes on a log-ratio axis, so +1000% and -50% are both readable; values on a linear one
  const toAxis = (v: number) => (relative ? Math.log1p(Math.max(v, -0.99)) : v)
  const numbers = rows.flatMap((r) => [...(r.s?.values ?? []), r.s?.pooled?.interval?.low, r.s?.pooled?.interval?.high, r.s?.pooled?.estimate])
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  numbers.push(0)
  const lo = Math.min(...numbers.map(toAxis))
  const hi = Math.max(...numbers.map(toAxis))
  const pad = (hi - lo) * 0.08 || 0.1
  const [a, b] = [lo - pad, hi + pad]
  const height = 30 + rows.length * FOREST.row
  const x = (v: number) => FOREST.left + (toAxis(v) - a) / (b - a) * (W - FOREST.left - FOREST.right)
  const svg: string[] = [`<svg class="forest" viewBox="0 0 ${W} ${height}" role="img" aria-label="${h(`${neighbor} ${signal} per level`)}" data-neighbor="${h(neighbor)}" data-signal="${h(signal)}">`]
  const axisY = height - 20
  const candidates = relative ? CHANGE_TICKS.filter((t) => toAxis(t) >= a && toAxis(t) <= b) : linearTicks(a, b)
  // labels need about 56px each: keep no change (0%) and those far enough from the last one kept
  const ticks: number[] = []
  for (const t of [...candidates].sort((p, q) => Math.abs(p) - Math.abs(q))) if (ticks.every((k) => Math.abs(x(k) - x(t)) >= 56)) ticks.push(t)
  for (const t of ticks) {
    svg.push(`<line class="${t === 0 ? 'zero' : 'gridline'}" x1="${f(x(t))}" x2="${f(x(t))}" y1="6" y2="${axisY}"/><text class="tick x" x="${f(x(t))}" y="${axisY + 14}">${h(formatMeasure(any, t))}</text>`)
  }
  svg.push(`<line class="axis" x1="${FOREST.left}" x2="${W - FOREST.right}" y1="${axisY}" y2="${axisY}"/>`)
  rows.forEach((row, i) => {
    const y = 18 + i * FOREST.row
    svg.push(`<text class="forest-level" x="${FOREST.left - 10}" y="${y + 4}">${h(row.level)}</text>`)
    if (!row.s) return
    const s = row.s
    if (s.pooled?.interval) svg.push(`<line class="ci v-${h(s.verdict)}" x1="${f(x(s.pooled.interval.low))}" x2="${f(x(s.pooled.interval.high))}" y1="${y}" y2="${y}"><title>pooled 95% CI</title></line>`)
    if (s.pooled) svg.push(`<rect class="pooled" x="${f(x(s.pooled.estimate) - 4)}" y="${y - 4}" width="8" height="8"><title>${h(`pooled ${formatMeasure(s, s.pooled.estimate)}`)}</title></rect>`)
    for (const v of s.values) if (v !== null && Number.isFinite(v)) svg.push(`<circle class="repeat" cx="${f(x(v))}" cy="${y + 10}" r="3"><title>${h(formatMeasure(s, v))}</title></circle>`)
    svg.push(`<text class="forest-verdict v-${h(s.verdict)}" x="${W - FOREST.right + 12}" y="${y + 2}">${h(s.verdict.toUpperCase())}</text>`)
    svg.push(`<text class="forest-counts" x="${W - FOREST.right + 12}" y="${y + 15}">${h(describeCounts(s.counts, row.planned))}</text>`)
  })
  svg.push('</svg>')
  return `<figure class="chart-figure forest-figure"><figcaption><strong>${h(neighbor)} ${h(signal)}</strong> <span class="muted">${h(relative ? 'change from the baseline' : 'value during the fault')} per level: circles are repeats, the square and bar the pooled estimate and its 95% CI; threshold ${any.threshold}</span></figcaption>${svg.join('')}</figure>`
}

// ---------------------------------------------------------------------------------------------------------

const STYLE = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --card: #fff;
  --contained: #1a7f37; --breach: #cf222e; --inconclusive: #9a6700; --aborted: #6e7781;
  --baseline: #ddf4ff; --fault: #ffebe9; --recovery: #dafbe1;
  --p50: #0969da; --p99: #bc4c00; --errors: #cf222e; --throughput: #1a7f37; --cpu: #8250df; --memory: #1b7c83; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header.page, main { max-width: 1100px; margin: 0 auto; padding: 0 20px; }
header.page { padding-top: 20px; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 18px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
.generated, .muted, .subtitle { color: var(--muted); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: .04em; padding: 2px 8px; border-radius: 10px; color: #fff; vertical-align: middle; background: var(--aborted); }
.b-contained { background: var(--contained); } .b-breach { background: var(--breach); } .b-inconclusive { background: var(--inconclusive); }
.expect { font-size: 13px; font-weight: 400; color: var(--muted); }
.reason-line { margin: 4px 0 10px; }
.dose { padding: 8px 12px; border-radius: 6px; margin: 8px 0; border-left: 4px solid var(--contained); background: #f0fff4; }
.dose-missed { border-left-color: var(--inconclusive); background: #fff8c5; }
.meter { vertical-align: middle; margin: 0 6px; }
.meter-track { fill: #e6e9ed; } .meter-fill.ok { fill: var(--contained); } .meter-fill.missed { fill: var(--inconclusive); }
.meter-mark { stroke: var(--fg); stroke-width: 1.5; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 4px 16px; margin: 8px 0; }
dl.facts div { min-width: 0; } dt { font-size: 11px; text-transform: uppercase; color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
table.grid { border-collapse: collapse; width: 100%; font-size: 13px; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
table.grid th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.reason td { color: var(--muted); font-size: 12px; padding-top: 0; border-bottom: 1px solid var(--line); }
tr.v-breach td:first-child { box-shadow: inset 3px 0 var(--breach); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px; }
figure.chart-figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; break-inside: avoid; }
figcaption { font-size: 13px; margin-bottom: 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: 12px; color: var(--muted); margin-top: 2px; }
.swatch { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; border-radius: 2px; }
.sw-p50 { background: var(--p50); } .sw-p99 { background: var(--p99); } .sw-errors { background: var(--errors); } .sw-throughput { background: var(--throughput); }
.sw-cpu { background: var(--cpu); } .sw-memory { background: var(--memory); }
.sw-baseline { background: var(--baseline); border: 1px solid #9cd1f5; } .sw-fault { background: var(--fault); border: 1px solid #f5a8a2; } .sw-recovery { background: var(--recovery); border: 1px solid #8fd8a0; }
svg.chart, svg.forest { width: 100%; height: auto; display: block; font-size: 12px; }
.window-baseline { fill: var(--baseline); } .window-fault { fill: var(--fault); } .window-recovery { fill: var(--recovery); }
.window-label { fill: var(--muted); font-size: 11px; }
line.gridline { stroke: #eaeef2; stroke-width: 1; }
.axis { stroke: #8c959f; }
.tick { fill: var(--muted); } .tick.y { text-anchor: end; } .tick.x { text-anchor: middle; }
.scale-note { fill: var(--muted); font-style: italic; }
path.series { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
.series-p50 { stroke: var(--p50); fill: var(--p50); } .series-p99 { stroke: var(--p99); fill: var(--p99); } .series-errors { stroke: var(--errors); fill: var(--errors); }
.series-throughput { stroke: var(--throughput); fill: var(--throughput); } .series-cpu { stroke: var(--cpu); fill: var(--cpu); } .series-memory { stroke: var(--memory); fill: var(--memory); }
path.series { fill: none; }
path.area { fill: var(--errors); opacity: .18; stroke: none; }
.judged { font-size: 12px; margin-left: 6px; }
.levels { display: flex; flex-wrap: wrap; gap: 12px; }
.level-card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 180px; border-top: 4px solid var(--aborted); }
.level-card.v-breach { border-top-color: var(--breach); } .level-card.v-contained { border-top-color: var(--contained); } .level-card.v-inconclusive { border-top-color: var(--inconclusive); }
.level-name { font-weight: 700; font-size: 16px; }
.zero { stroke: #8c959f; stroke-dasharray: 3 3; }
line.ci { stroke-width: 3; stroke: var(--aborted); } line.ci.v-breach { stroke: var(--breach); } line.ci.v-contained { stroke: var(--contained); } line.ci.v-inconclusive { stroke: var(--inconclusive); }
rect.pooled { fill: var(--fg); } .repeat { fill: none; stroke: var(--fg); stroke-width: 1.2; }
.forest-verdict { fill: var(--muted); font-weight: 600; } .forest-verdict.v-breach { fill: var(--breach); } .forest-verdict.v-contained { fill: var(--contained); } .forest-verdict.v-inconclusive { fill: var(--inconclusive); }
.forest-counts { fill: var(--muted); font-size: 11px; }
.forest-level { text-anchor: end; font-weight: 600; fill: var(--fg); }
.forests { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; margin-top: 12px; }
svg.forest { max-width: 760px; }
pre.plan { background: var(--bg); padding: 8px 10px; border-radius: 6px; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.warning { color: var(--breach); }
a { color: var(--p50); }
@media print {
  @page { size: A4; margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { background: #fff; font-size: 10pt; }
  header.page, main { max-width: none; padding: 0; }
  section { border: none; border-radius: 0; padding: 0; margin: 0 0 10mm; }
  section.run { break-before: page; }
  .charts { grid-template-columns: 1fr 1fr; }
  figure.chart-figure, table.grid tr, .dose, .level-card { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  pre.plan { font-size: 8pt; }
}
`
