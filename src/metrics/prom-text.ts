// A parser for the Prometheus text exposition format 0.0.4, and the arithmetic the toolkit needs on top of it:
// histogram quantiles with PromQL's histogram_quantile semantics, and increases of counters and histograms
// between two scrapes (with counter-reset handling), so a quantile can be computed for any window.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  /** the sample's own name, e.g. `http_request_duration_seconds_bucket` */
  name: string
  labels: Record<string, string>
  value: number
  /** milliseconds since the epoch, when the exposition gives one */
  timestamp?: number
}

export interface MetricFamily {
  /** the family name, e.g. `http_request_duration_seconds` for a histogram's `_bucket`, `_sum`, `_count` samples */
  name: string
  type: MetricType
  help?: string
  samples: Sample[]
}

export class PrometheusParseError extends Error {
  constructor(message: string, readonly lineNumber: number, readonly lineText: string) {
    super(`line ${lineNumber}: ${message}: ${JSON.stringify(lineText.length > 200 ? `${lineText.slice(0, 200)}...` : lineText)}`)
    this.name = 'PrometheusParseError'
  }
}

const METRIC_TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const METADATA = /^#[ \t]*(HELP|TYPE)[ \t]+([^ \t]+)(?:[ \t]+(.*))?$/

/** A sample value as Go's strconv.ParseFloat reads it (decimal, NaN, ±Inf), or undefined. */
export function parseSampleValue(token: string): number | undefined {
  if (DECIMAL.test(token)) return Number(token)
  const lower = token.toLowerCase()
  if (lower === 'nan') return Number.NaN
  if (/^\+?inf(inity)?$/.test(lower)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/.test(lower)) return Number.NEGATIVE_INFINITY
  return undefined
}

/** Which suffixed sample names belong to a family of each type. */
const SUFFIXES: Partial<Record<MetricType, string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
}

/**
 * Parses a text exposition into metric families, in order of first appearance. Samples without a TYPE line
 * form untyped families of their own. Throws PrometheusParseError naming the line it cannot parse. With `only`,
 * the lines of other families are skipped unread (a scraper that needs two families of a service's hundred).
 */
export function parsePrometheusText(text: string, only?: ReadonlySet<string>): MetricFamily[] {
  const families = new Map<string, MetricFamily>()
  const typeDeclared = new Set<string>()
  const lines = text.split('\n')

  const familyFor = (sampleName: string): MetricFamily => {
    const exact = families.get(sampleName)
    if (exact) return exact
    for (const [type, suffixes] of Object.entries(SUFFIXES)) {
      for (const suffix of suffixes) {
        if (!sampleName.endsWith(suffix)) continue
        const base = families.get(sampleName.slice(0, -suffix.length))
        if (base?.type === type) return base
      }
    }
    const created: MetricFamily = {name: sampleName, type: 'untyped', samples: []}
    families.set(sampleName, created)
    return created
  }

  for (let index = 0; index < lines.length; index++) {
    if (only && !wanted(lines[index], only)) continue
    const line = lines[index].endsWith('\r') ? lines[index].slice(0, -1) : lines[index]
    const lineNumber = index + 1
    if (line.trim() === '') continue
    const fail = (message: string): never => {
      throw new PrometheusParseError(message, lineNumber, line)
    }

    if (line.startsWith('#')) {
      const metadata = METADATA.exec(line)
      if (!metadata) continue // an ordinary comment
      const [, keyword, name, rest = ''] = metadata
      if (!METRIC_NAME.test(name) || METRIC_NAME.exec(name)![0] !== name) fail(`invalid metric name ${JSON.stringify(name)}`)
      let family = families.get(name)
      if (keyword === 'HELP') {
        if (family?.help !== undefined) fail(`second HELP line for ${name}`)
        family ??= createFamily(families, name)
        family.help = unescapeHelp(rest)
      } else {
        const type = rest.trim() as MetricType
        if (!METRIC_TYPES.has(type)) fail(`unknown metric type ${JSON.stringify(rest.trim())}`)
        if (typeDeclared.has(name)) fail(`second TYPE line for ${name}`)
        if (family && family.samples.length > 0) fail(`TYPE line for ${name} after its samples`)
        family ??= createFamily(families, name)
        family.type = type
        typeDeclared.add(name)
      }
      continue
    }

    const sample = parseSampleLine(line, fail)
    familyFor(sample.name).samples.push(sample)
  }
  return [...families.values()]
}

/** Whether a line may belong to one of the wanted families: by the name it starts with (after # HELP/TYPE). */
function wanted(line: string, only: ReadonlySet<string>): boolean {
  let start = 0
  if (line.startsWith('#')) {
    const metadata = /^#[ \t]*(?:HELP|TYPE)[ \t]+/.exec(line)
    if (!metadata) return false
    start = metadata[0].length
  } else {
    while (line[start] === ' ' || line[start] === '\t') start++
  }
  let end = start
  while (end < line.length && line[end] !== '{' && line[end] !== ' ' && line[end] !== '\t') end++
  const name = line.slice(start, end)
  if (name === '') return false
  if (only.has(name)) return true
  for (const suffix of ['_bucket', '_sum', '_count']) if (name.endsWith(suffix) && only.has(name.slice(0, -suffix.length))) return true
  return false
}

function createFamily(families: Map<string, MetricFamily>, name: string): MetricFamily {
  const family: MetricFamily = {name, type: 'untyped', samples: []}
  families.set(name, family)
  return family
}

function unescapeHelp(text: string): string {
  return text.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'))
}

function parseSampleLine(line: string, fail: (message: string) => never): Sample {
  let position = 0
  const skipBlanks = () => {
    while (line[position] === ' ' || line[position] === '\t') position++
  }

  skipBlanks()
  const nameMatch = METRIC_NAME.exec(line.slice(position))
  if (!nameMatch) fail('expected a metric name')
  const name = nameMatch![0]
  position += name.length

  const labels: Record<string, string> = {}
  skipBlanks()
  if (line[position] === '{') {
    position++
    for (;;) {
      skipBlanks()
      if (line[position] === '}') {
        position++
        break
      }
      const labelMatch = LABEL_NAME.exec(line.slice(position))
      if (!labelMatch) fail('expected a label name or "}"')
      const labelName = labelMatch![0]
      position += labelName.length
      skipBlanks()
      if (line[position] !== '=') fail(`expected "=" after label ${labelName}`)
      position++
      skipBlanks()
      if (line[position] !== '"') fail(`expected a quoted value for label ${labelName}`)
      position++
      let value = ''
      for (;;) {
        const c = line[position]
        if (c === undefined) fail(`unterminated value for label ${labelName}`)
        position++
        if (c === '"') break
        if (c === '\\') {
          const escaped = line[position++]
          if (escaped === '\\') value += '\\'
          else if (escaped === '"') value += '"'
          else if (escaped === 'n') value += '\n'
          else fail(`invalid escape sequence "\\${escaped ?? ''}" in label ${labelName}`)
        } else {
          value += c
        }
      }
      if (Object.hasOwn(labels, labelName)) fail(`duplicate label ${labelName}`)
      labels[labelName] = value
      skipBlanks()
      if (line[position] === ',') position++
      else if (line[position] !== '}') fail('expected "," or "}" after a label value')
    }
  }

  const tokens = line.slice(position).trim().split(/[ \t]+/).filter((t) => t !== '')
  if (tokens.length === 0) fail('expected a sample value')
  if (tokens.length > 2) fail('unexpected text after the timestamp')
  const value = parseSampleValue(tokens[0])
  if (value === undefined) fail(`invalid sample value ${JSON.stringify(tokens[0])}`)
  const sample: Sample = {name, labels, value: value!}
  if (tokens.length === 2) {
    if (!/^-?\d+$/.test(tokens[1])) fail(`invalid timestamp ${JSON.stringify(tokens[1])}`)
    sample.timestamp = Number(tokens[1])
  }
  return sample
}

// ---------------------------------------------------------------------------------------------------------------
// Histogram and counter arithmetic

export interface Bucket {
  /** inclusive upper bound; Infinity for the +Inf bucket */
  le: number
  /** cumulative count of observations <= le */
  count: number
}

export interface HistogramData {
  /** cumulative buckets sorted by le, ending with +Inf when the exposition has it */
  buckets: Bucket[]
  sum: number
  count: number
}

/** Label values a series must have: exact strings, or patterns the whole value must match. */
export type LabelMatch = Record<string, string | RegExp>

export function matchesLabels(labels: Record<string, string>, match: LabelMatch = {}): boolean {
  for (const [name, expected] of Object.entries(match)) {
    const actual = labels[name] ?? ''
    if (typeof expected === 'string' ? actual !== expected : !new RegExp(`^(?:${expected.source})$`, expected.flags).test(actual)) {
      return false
    }
  }
  return true
}

/**
 * The φ-quantile of a classic histogram, exactly as PromQL's histogram_quantile computes it: linear
 * interpolation inside the bucket the rank falls in, 0 as the lower bound of the first bucket (when its bound is
 * positive), the second-highest bound when the rank falls in the +Inf bucket, NaN without a +Inf bucket or
 * observations, -Inf/+Inf for q outside [0, 1].
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN
  if (q < 0) return Number.NEGATIVE_INFINITY
  if (q > 1) return Number.POSITIVE_INFINITY
  if (buckets.length === 0) return Number.NaN
  const sorted = [...buckets].map((b) => ({...b})).sort((a, b) => a.le - b.le)
  if (sorted[sorted.length - 1].le !== Number.POSITIVE_INFINITY) return Number.NaN

  // Merge buckets with the same bound, then force monotonic counts (both as Prometheus does).
  const merged: Bucket[] = []
  for (const bucket of sorted) {
    const last = merged[merged.length - 1]
    if (last && last.le === bucket.le) last.count += bucket.count
    else merged.push(bucket)
  }
  for (let i = 1; i < merged.length; i++) merged[i].count = Math.max(merged[i].count, merged[i - 1].count)
  if (merged.length < 2) return Number.NaN

  const observations = merged[merged.length - 1].count
  if (observations === 0) return Number.NaN
  let rank = q * observations
  let b = merged.findIndex((bucket, i) => i < merged.length - 1 && bucket.count >= rank)
  if (b === -1) b = merged.length - 1
  if (b === merged.length - 1) return merged[merged.length - 2].le
  if (b === 0 && merged[0].le <= 0) return merged[0].le
  let bucketStart = 0
  let count = merged[b].count
  if (b > 0) {
    bucketStart = merged[b - 1].le
    count -= merged[b - 1].count
    rank -= merged[b - 1].count
  }
  return bucketStart + (merged[b].le - bucketStart) * (rank / count)
}

/** The increase of a counter between two readings; a lower second reading means the counter restarted at 0. */
export function counterIncrease(before: number, after: number): number {
  return after >= before ? after - before : after
}

export function findFamily(families: readonly MetricFamily[], name: string): MetricFamily | undefined {
  return families.find((f) => f.name === name)
}

interface SeriesHistogram {
  buckets: Map<number, number>
  sum: number
  count: number
}

/** Histogram series of one family keyed by their labels (without le), restricted to those matching. */
function histogramSeries(families: readonly MetricFamily[], name: string, labelMatch: LabelMatch): Map<string, SeriesHistogram> {
  const familyName = name.endsWith('_bucket') ? name.slice(0, -'_bucket'.length) : name
  const series = new Map<string, SeriesHistogram>()
  // Look at every family: without a TYPE line the _bucket, _sum and _count samples form untyped families.
  for (const sample of families.flatMap((f) => f.samples)) {
    const part = sample.name.startsWith(familyName) ? sample.name.slice(familyName.length) : ''
    if (part !== '_bucket' && part !== '_sum' && part !== '_count') continue
    const {le, ...identity} = sample.labels
    if (!matchesLabels(identity, labelMatch)) continue
    const key = seriesKey(identity)
    let entry = series.get(key)
    if (!entry) {
      entry = {buckets: new Map(), sum: 0, count: Number.NaN}
      series.set(key, entry)
    }
    if (part === '_bucket') {
      const bound = le === undefined ? undefined : parseSampleValue(le)
      if (bound !== undefined && !Number.isNaN(bound)) entry.buckets.set(bound, (entry.buckets.get(bound) ?? 0) + sample.value)
    } else if (part === '_sum') {
      entry.sum = sample.value
    } else {
      entry.count = sample.value
    }
  }
  for (const entry of series.values()) {
    // Expositions always carry _count, but fall back on the +Inf bucket rather than report NaN.
    if (Number.isNaN(entry.count)) entry.count = entry.buckets.get(Number.POSITIVE_INFINITY) ?? 0
  }
  return series
}

function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]))
}

function addSeries(total: Map<number, number>, buckets: Map<number, number>, sign: 1 | -1 = 1) {
  for (const [le, count] of buckets) total.set(le, (total.get(le) ?? 0) + sign * count)
}

function toHistogramData(buckets: Map<number, number>, sum: number, count: number): HistogramData {
  return {buckets: [...buckets].map(([le, c]) => ({le, count: c})).sort((a, b) => a.le - b.le), sum, count}
}

/** A histogram as one scrape shows it, summed over the series that match (like `sum by (le)`). */
export function histogramBuckets(families: readonly MetricFamily[], name: string, labelMatch: LabelMatch = {}): HistogramData {
  const buckets = new Map<number, number>()
  let sum = 0
  let count = 0
  for (const series of histogramSeries(families, name, labelMatch).values()) {
    addSeries(buckets, series.buckets)
    sum += series.sum
    count += series.count
  }
  return toHistogramData(buckets, sum, count)
}

/**
 * How much each bucket of a histogram grew between two scrapes, summed over the matching series (like
 * `sum by (le) (increase(name_bucket[...]))` without extrapolation). A series whose counts went down was
 * restarted: its whole `after` value counts as the increase. A series absent `before` (or `before` itself
 * absent) started from zero.
 */
export function histogramDelta(
  before: readonly MetricFamily[] | undefined,
  after: readonly MetricFamily[],
  name: string,
  labelMatch: LabelMatch = {},
): HistogramData {
  const earlier = before ? histogramSeries(before, name, labelMatch) : new Map<string, SeriesHistogram>()
  const buckets = new Map<number, number>()
  let sum = 0
  let count = 0
  for (const [key, later] of histogramSeries(after, name, labelMatch)) {
    const previous = earlier.get(key)
    const restarted = !previous || later.count < previous.count
      || [...later.buckets].some(([le, c]) => c < (previous.buckets.get(le) ?? 0))
    addSeries(buckets, later.buckets)
    sum += later.sum
    count += later.count
    if (!restarted) {
      addSeries(buckets, previous.buckets, -1)
      sum -= previous.sum
      count -= previous.count
    }
  }
  return toHistogramData(buckets, sum, count)
}

/**
 * How much a counter grew between two scrapes, summed over the series (samples named exactly `name`) that
 * match, with each series' resets handled.
 */
export function counterDelta(
  before: readonly MetricFamily[] | undefined,
  after: readonly MetricFamily[],
  name: string,
  labelMatch: LabelMatch = {},
): number {
  const values = (families: readonly MetricFamily[]) => {
    const byKey = new Map<string, number>()
    for (const family of families) {
      for (const sample of family.samples) {
        if (sample.name === name && matchesLabels(sample.labels, labelMatch)) byKey.set(seriesKey(sample.labels), sample.value)
      }
    }
    return byKey
  }
  const earlier = before ? values(before) : new Map<string, number>()
  let total = 0
  for (const [key, value] of values(after)) total += counterIncrease(earlier.get(key) ?? 0, value)
  return total
}

/** A gauge or counter value as one scrape shows it, summed over the matching series; undefined when absent. */
export function sampleValue(families: readonly MetricFamily[], name: string, labelMatch: LabelMatch = {}): number | undefined {
  let total: number | undefined
  for (const family of families) {
    for (const sample of family.samples) {
      if (sample.name === name && matchesLabels(sample.labels, labelMatch)) total = (total ?? 0) + sample.value
    }
  }
  return total
}
