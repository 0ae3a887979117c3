import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry, Summary} from 'prom-client'
import {describe, expect, it} from 'vitest'
import {
  counterDelta,
  counterIncrease,
  findFamily,
  histogramBuckets,
  histogramDelta,
  histogramQuantile,
  matchesLabels,
  parsePrometheusText,
  PrometheusParseError,
  sampleValue,
} from '../../src/metrics/prom-text.js'

// The example exposition from the Prometheus documentation (exposition_formats.md), verbatim.
const DOCS_EXAMPLE = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`

describe('parsePrometheusText', () => {
  it('parses the documentation example into typed families', () => {
    const families = parsePrometheusText(DOCS_EXAMPLE)
    expect(families.map((f) => [f.name, f.type, f.samples.length])).toEqual([
      ['http_requests_total', 'counter', 2],
      ['msdos_file_access_time_seconds', 'untyped', 1],
      ['metric_without_timestamp_and_labels', 'untyped', 1],
      ['something_weird', 'untyped', 1],
      ['http_request_duration_seconds', 'histogram', 8],
      ['rpc_duration_seconds', 'summary', 7],
    ])
    const requests = findFamily(families, 'http_requests_total')!
    expect(requests.help).toBe('The total number of HTTP requests.')
    expect(requests.samples[1]).toEqual({name: 'http_requests_total', labels: {method: 'post', code: '400'}, value: 3, timestamp: 1395066363000})
    expect(findFamily(families, 'msdos_file_access_time_seconds')!.samples[0].labels).toEqual({
      path: 'C:\\DIR\\FILE.TXT',
      error: 'Cannot find file:\n"FILE.TXT"',
    })
    expect(findFamily(families, 'msdos_file_access_time_seconds')!.samples[0].value).toBe(1.458255915e9)
    expect(findFamily(families, 'something_weird')!.samples[0]).toMatchObject({value: Number.POSITIVE_INFINITY, timestamp: -3982045})
    const summary = findFamily(families, 'rpc_duration_seconds')!
    expect(summary.samples.map((s) => s.name)).toContain('rpc_duration_seconds_count')
    expect(summary.samples[2].labels).toEqual({quantile: '0.5'})
  })

  it('reads NaN, +Inf and -Inf values and tolerates blank lines, CRLF and a trailing comma', () => {
    const families = parsePrometheusText('a NaN\r\n\nb -Inf\nc{x="1",} +Inf\nd 1e-3 17\n')
    expect(Number.isNaN(families[0].samples[0].value)).toBe(true)
    expect(families[1].samples[0].value).toBe(Number.NEGATIVE_INFINITY)
    expect(families[2].samples[0]).toEqual({name: 'c', labels: {x: '1'}, value: Number.POSITIVE_INFINITY})
    expect(families[3].samples[0]).toEqual({name: 'd', labels: {}, value: 0.001, timestamp: 17})
  })

  it('unescapes HELP text', () => {
    const [family] = parsePrometheusText('# HELP m first line\\nsecond \\\\ back\n# TYPE m gauge\nm 1\n')
    expect(family.help).toBe('first line\nsecond \\ back')
    expect(family.type).toBe('gauge')
  })

  it('reads back what prom-client writes, escaped label values included', async () => {
    const registry = new Registry()
    collectDefaultMetrics({register: registry})
    const histogram = new Histogram({
      name: 'request_seconds', help: 'Latency "quoted" \\ and\nnewline', labelNames: ['path'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1], registers: [registry],
    })
    const awkward = 'a "quoted" C:\\path\nnext line'
    // 1000 observations spread evenly over (0, 10 ms]
    for (let i = 1; i <= 1000; i++) histogram.observe({path: awkward}, i / 100_000)
    new Counter({name: 'jobs_total', help: 'jobs', registers: [registry]}).inc(7)
    new Gauge({name: 'queue_depth', help: 'depth', registers: [registry]}).set(-2.5)
    const summary = new Summary({name: 'rpc_seconds', help: 'rpc', percentiles: [0.5, 0.9], registers: [registry]})
    summary.observe(1)

    const families = parsePrometheusText(await registry.metrics())
    const family = findFamily(families, 'request_seconds')!
    expect(family.type).toBe('histogram')
    expect(family.help).toBe('Latency "quoted" \\ and\nnewline')
    expect(family.samples.every((s) => s.labels.path === awkward)).toBe(true)
    expect(findFamily(families, 'jobs_total')).toMatchObject({type: 'counter', samples: [{value: 7}]})
    expect(findFamily(families, 'queue_depth')!.samples[0].value).toBe(-2.5)
    expect(findFamily(families, 'rpc_seconds')!.type).toBe('summary')
    expect(findFamily(families, 'process_cpu_seconds_total')?.type).toBe('counter')
    expect(findFamily(families, 'nodejs_eventloop_lag_seconds')?.type).toBe('gauge')

    const {buckets, count, sum} = histogramBuckets(families, 'request_seconds', {path: awkward})
    expect(count).toBe(1000)
    expect(sum).toBeCloseTo(5.005, 6)
    // 500 observations up to 5 ms, 500 more in (5, 10] ms: p50 is at 5 ms, p90 interpolates to 9 ms.
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.005, 9)
    expect(histogramQuantile(0.9, buckets)).toBeCloseTo(0.009, 9)
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.0099, 9)
  })

  it('names the line it cannot parse', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['# TYPE a counter\na 1\nb{x="1} 2\n', 3, /unterminated/],
      ['a 1\nb\n', 2, /expected a sample value/],
      ['a abc\n', 1, /invalid sample value/],
      ['a 1 1.5\n', 1, /invalid timestamp/],
      ['a 1 2 3\n', 1, /after the timestamp/],
      ['# TYPE a speedometer\n', 1, /unknown metric type/],
      ['\n\na{x=1} 1\n', 3, /quoted value/],
      ['a{x="\\t"} 1\n', 1, /invalid escape/],
      ['a{x="1" y="2"} 1\n', 1, /","/],
      ['a{x="1",x="2"} 1\n', 1, /duplicate label/],
      ['{x="1"} 1\n', 1, /metric name/],
      ['# TYPE a gauge\n# TYPE a gauge\n', 2, /second TYPE/],
      ['# HELP a one\n# HELP a two\n', 2, /second HELP/],
      ['a 1\n# TYPE a gauge\n', 2, /after its samples/],
    ]
    for (const [text, line, message] of cases) {
      let caught: unknown
      try {
        parsePrometheusText(text)
      } catch (error) {
        caught = error
      }
      expect(caught, text).toBeInstanceOf(PrometheusParseError)
      expect((caught as PrometheusParseError).lineNumber, text).toBe(line)
      expect((caught as Error).message, text).toMatch(new RegExp(`^line ${line}: `))
      expect((caught as Error).message, text).toMatch(message)
    }
  })
})

describe('histogramQuantile', () => {
  const docsBuckets = [
    {le: 0.05, count: 24054}, {le: 0.1, count: 33444}, {le: 0.2, count: 100392},
    {le: 0.5, count: 129389}, {le: 1, count: 133988}, {le: Number.POSITIVE_INFINITY, count: 144320},
  ]

  it('interpolates linearly inside the bucket, from 0 in the first one', () => {
    // rank 0.5 × 144320 = 72160 falls in (0.1, 0.2], which holds 100392 - 33444 = 66948, 72160 - 33444 = 38716 in.
    expect(histogramQuantile(0.5, docsBuckets)).toBeCloseTo(0.1 + 0.1 * (38716 / 66948), 12)
    // rank 0.9 × 144320 = 129888 falls in (0.5, 1]: 129888 - 129389 = 499 of 133988 - 129389 = 4599.
    expect(histogramQuantile(0.9, docsBuckets)).toBeCloseTo(0.5 + 0.5 * (499 / 4599), 12)
    // rank 0.01 × 144320 = 1443.2 in the first bucket, interpolated from 0.
    expect(histogramQuantile(0.01, docsBuckets)).toBeCloseTo(0.05 * (1443.2 / 24054), 12)
  })

  it('answers the highest finite bound when the rank falls in the +Inf bucket', () => {
    // rank 0.99 × 144320 = 142876.8 > 133988, the count up to le=1.
    expect(histogramQuantile(0.99, docsBuckets)).toBe(1)
    expect(histogramQuantile(1, docsBuckets)).toBe(1)
  })

  it('sorts, merges equal bounds and forces monotonic counts', () => {
    const shuffled = [{le: Number.POSITIVE_INFINITY, count: 10}, {le: 2, count: 10}, {le: 1, count: 4}, {le: 1, count: 1}]
    // merged: le=1 → 5, le=2 → 10; p50 rank 5 is exactly le=1
    expect(histogramQuantile(0.5, shuffled)).toBe(1)
    expect(histogramQuantile(0.75, shuffled)).toBeCloseTo(1.5, 12)
    // a dip (le=2 below le=1) is lifted to the envelope: le=2 counts 8
    const dipping = [{le: 1, count: 8}, {le: 2, count: 6}, {le: Number.POSITIVE_INFINITY, count: 8}]
    expect(histogramQuantile(0.5, dipping)).toBeCloseTo(0.5, 12)
  })

  it('returns the bound itself for a first bucket at or below zero', () => {
    expect(histogramQuantile(0.1, [{le: -1, count: 5}, {le: 1, count: 10}, {le: Number.POSITIVE_INFINITY, count: 10}])).toBe(-1)
  })

  it('has Prometheus special cases', () => {
    expect(histogramQuantile(-0.1, docsBuckets)).toBe(Number.NEGATIVE_INFINITY)
    expect(histogramQuantile(1.1, docsBuckets)).toBe(Number.POSITIVE_INFINITY)
    expect(histogramQuantile(Number.NaN, docsBuckets)).toBeNaN()
    expect(histogramQuantile(0.5, [])).toBeNaN()
    expect(histogramQuantile(0.5, [{le: 1, count: 3}, {le: 2, count: 4}])).toBeNaN() // no +Inf bucket
    expect(histogramQuantile(0.5, [{le: Number.POSITIVE_INFINITY, count: 4}])).toBeNaN() // fewer than two buckets
    expect(histogramQuantile(0.5, [{le: 1, count: 0}, {le: Number.POSITIVE_INFINITY, count: 0}])).toBeNaN() // no observations
  })
})

describe('deltas between scrapes', () => {
  function scrapeOf(lines: string[]) {
    return parsePrometheusText(`# TYPE lat histogram\n${lines.join('\n')}\n# TYPE req_total counter\n`)
  }
  const series = (route: string, b1: number, b2: number, total: number, sum: number) => [
    `lat_bucket{route="${route}",le="0.01"} ${b1}`,
    `lat_bucket{route="${route}",le="0.1"} ${b2}`,
    `lat_bucket{route="${route}",le="+Inf"} ${total}`,
    `lat_sum{route="${route}"} ${sum}`,
    `lat_count{route="${route}"} ${total}`,
  ]

  it('gives the increase of every bucket between two prom-client scrapes', async () => {
    const registry = new Registry()
    const histogram = new Histogram({name: 'lat', help: 'h', labelNames: ['route'], buckets: [0.002, 0.004, 0.008, 0.016], registers: [registry]})
    for (let i = 0; i < 100; i++) histogram.observe({route: '/a'}, 0.001)
    const before = parsePrometheusText(await registry.metrics())
    for (let i = 0; i < 100; i++) histogram.observe({route: '/a'}, 0.006)
    for (let i = 0; i < 50; i++) histogram.observe({route: '/b'}, 0.012)
    const after = parsePrometheusText(await registry.metrics())

    const onlyA = histogramDelta(before, after, 'lat', {route: '/a'})
    expect(onlyA.count).toBe(100)
    expect(onlyA.sum).toBeCloseTo(0.6, 9)
    expect(onlyA.buckets).toEqual([
      {le: 0.002, count: 0}, {le: 0.004, count: 0}, {le: 0.008, count: 100}, {le: 0.016, count: 100}, {le: Number.POSITIVE_INFINITY, count: 100},
    ])
    // every new observation is 6 ms, in (4, 8]: the median interpolates to its middle
    expect(histogramQuantile(0.5, onlyA.buckets)).toBeCloseTo(0.006, 9)

    // /b appeared between the scrapes: all of it is new
    const all = histogramDelta(before, after, 'lat')
    expect(all.count).toBe(150)
    expect(histogramQuantile(0.9, all.buckets)).toBeCloseTo(0.008 + 0.008 * (35 / 50), 9)
    // the _bucket name is understood too, and no earlier scrape means everything since the start
    expect(histogramDelta(undefined, after, 'lat_bucket').count).toBe(250)
  })

  it('treats a series whose counts went down as restarted', () => {
    const before = scrapeOf([...series('/a', 50, 90, 100, 3), ...series('/b', 10, 10, 10, 0.05)])
    const after = scrapeOf([...series('/a', 5, 8, 10, 0.4), ...series('/b', 15, 18, 20, 0.6)])
    const delta = histogramDelta(before, after, 'lat')
    // /a restarted: its 10 count whole; /b grew by 10
    expect(delta.count).toBe(20)
    expect(delta.buckets).toEqual([{le: 0.01, count: 10}, {le: 0.1, count: 16}, {le: Number.POSITIVE_INFINITY, count: 20}])
    expect(delta.sum).toBeCloseTo(0.95, 9)
  })

  it('gives counter increases with resets, per matching series', () => {
    const before = parsePrometheusText('# TYPE req_total counter\nreq_total{code="200"} 100\nreq_total{code="500"} 7\n')
    const after = parsePrometheusText('# TYPE req_total counter\nreq_total{code="200"} 160\nreq_total{code="500"} 2\nreq_total{code="503"} 4\n')
    expect(counterDelta(before, after, 'req_total')).toBe(60 + 2 + 4)
    expect(counterDelta(before, after, 'req_total', {code: /5../})).toBe(6)
    expect(counterDelta(before, after, 'req_total', {code: '200'})).toBe(60)
    expect(counterIncrease(10, 15)).toBe(5)
    expect(counterIncrease(10, 3)).toBe(3)
    expect(sampleValue(after, 'req_total', {code: /5.*/})).toBe(6)
    expect(sampleValue(after, 'missing_total')).toBeUndefined()
  })

  it('matches labels exactly or by whole-value patterns, a missing label reading as empty', () => {
    expect(matchesLabels({route: '/work', code: '200'}, {route: '/work'})).toBe(true)
    expect(matchesLabels({route: '/work', code: '200'}, {code: /2../})).toBe(true)
    expect(matchesLabels({route: '/work', code: '200'}, {code: /2/})).toBe(false)
    expect(matchesLabels({route: '/work'}, {code: ''})).toBe(true)
    expect(matchesLabels({route: '/work'}, {code: '200'})).toBe(false)
  })
})

describe('parsing only some families', () => {
  it('keeps the wanted families whole and skips the others unread, even lines it could not parse', async () => {
    const registry = new Registry()
    collectDefaultMetrics({register: registry})
    const latency = new Histogram({name: 'http_request_duration_seconds', help: 'h', labelNames: ['code'], buckets: [0.01, 0.1], registers: [registry]})
    const requests = new Counter({name: 'http_requests_total', help: 'c', labelNames: ['code'], registers: [registry]})
    latency.observe({code: '200'}, 0.05)
    requests.inc({code: '200'}, 3)
    const text = `${await registry.metrics()}\nnot a sample at all {\n`
    expect(() => parsePrometheusText(text)).toThrow(/line/)
    const only = parsePrometheusText(text, new Set(['http_request_duration_seconds', 'http_requests_total']))
    expect(only.map((f) => f.name)).toEqual(['http_request_duration_seconds', 'http_requests_total'])
    const full = parsePrometheusText(await registry.metrics())
    for (const family of only) expect(family).toEqual(full.find((f) => f.name === family.name))
    expect(only[0].samples.filter((s) => s.name === 'http_request_duration_seconds_bucket')).toHaveLength(3)
  })
})
