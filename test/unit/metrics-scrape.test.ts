import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {Histogram, Registry} from 'prom-client'
import {afterEach, describe, expect, it} from 'vitest'
import {parsePrometheusText} from '../../src/metrics/prom-text.js'
import {
  intervalCounterRates,
  intervalHistogramQuantiles,
  nextScrapeSlot,
  Scraper,
  windowBounds,
  windowHistogramDelta,
  windowHistogramQuantile,
  type ScrapeSnapshot,
} from '../../src/metrics/scrape.js'

const servers: http.Server[] = []
const scrapers: Scraper[] = []

afterEach(async () => {
  await Promise.all(scrapers.splice(0).map((s) => s.stop()))
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`
}

/** A port nothing listens on: one the kernel just handed out and we closed again. */
async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function metricsServer() {
  const registry = new Registry()
  const histogram = new Histogram({
    name: 'http_request_duration_seconds', help: 'latency', labelNames: ['route'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1], registers: [registry],
  })
  const url = serve(async (_request, response) => {
    response.writeHead(200, {'content-type': registry.contentType})
    response.end(await registry.metrics())
  })
  return {registry, histogram, url}
}

describe('nextScrapeSlot', () => {
  it('never schedules the boundary the tick was for, even when its timer fired a hair early', () => {
    // the tick for boundary 2 (200 ms) ran at 199 ms by Date.now: the next is 300 ms, not 200 ms again
    expect(nextScrapeSlot(2, 199, 100)).toBe(3)
    expect(nextScrapeSlot(2, 201, 100)).toBe(3)
    // a scrape that overran two boundaries skips them
    expect(nextScrapeSlot(2, 450, 100)).toBe(5)
  })
})

describe('Scraper', () => {
  it('scrapes on its interval and keeps timestamped parsed snapshots', async () => {
    const {histogram, url} = metricsServer()
    const scraper = new Scraper({url: await url, intervalMs: 100, timeoutMs: 2000})
    scrapers.push(scraper)
    const started = Date.now()
    scraper.start()
    histogram.observe({route: '/work'}, 0.003)
    await sleep(1050)
    await scraper.stop()
    const snapshots = scraper.snapshots()
    expect(snapshots.length).toBeGreaterThanOrEqual(9)
    expect(snapshots.length).toBeLessThanOrEqual(12)
    expect(scraper.failureCount).toBe(0)
    expect(scraper.successCount).toBe(snapshots.length)
    expect(snapshots[0].t).toBeGreaterThanOrEqual(started)
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i].t - snapshots[i - 1].t).toBeGreaterThanOrEqual(50)
    const family = snapshots.at(-1)!.families.find((f) => f.name === 'http_request_duration_seconds')
    expect(family?.type).toBe('histogram')
    // stopped means stopped
    const count = scraper.snapshots().length
    await sleep(250)
    expect(scraper.snapshots().length).toBe(count)
  })

  it('records failures instead of throwing: HTTP errors, bad text, refused connections, timeouts', async () => {
    let mode: 'ok' | 'error' | 'garbage' | 'stall' = 'error'
    const url = await serve((_request, response) => {
      if (mode === 'stall') return // never answers
      if (mode === 'error') {
        response.writeHead(500)
        response.end('boom')
      } else {
        response.end(mode === 'garbage' ? 'a 1\nthis is not a sample\n' : 'up 1\n')
      }
    })
    const scraper = new Scraper({url, intervalMs: 1000, timeoutMs: 200})
    expect(await scraper.scrapeOnce()).toBeUndefined()
    mode = 'garbage'
    expect(await scraper.scrapeOnce()).toBeUndefined()
    mode = 'stall'
    expect(await scraper.scrapeOnce()).toBeUndefined()
    mode = 'ok'
    expect((await scraper.scrapeOnce())?.families[0].samples[0].value).toBe(1)

    const refused = new Scraper({url: `http://127.0.0.1:${await closedPort()}/metrics`, intervalMs: 1000, timeoutMs: 500})
    expect(await refused.scrapeOnce()).toBeUndefined()

    const failures = scraper.failures().map((f) => f.error)
    expect(failures[0]).toBe('HTTP 500')
    expect(failures[1]).toMatch(/line 2/)
    expect(failures[2]).toBe('timeout after 200 ms')
    expect(scraper.failureCount).toBe(3)
    expect(scraper.successCount).toBe(1)
    expect(refused.failures()[0].error).toMatch(/ECONNREFUSED/)
  })

  it('keeps the number of snapshots bounded', async () => {
    const url = await serve((_request, response) => response.end('up 1\n'))
    const scraper = new Scraper({url, intervalMs: 1000, maxSnapshots: 3})
    for (let i = 0; i < 5; i++) await scraper.scrapeOnce()
    expect(scraper.snapshots()).toHaveLength(3)
    expect(scraper.successCount).toBe(5)
  })

  it('measures a latency change between two windows of a live server', async () => {
    const {histogram, url} = metricsServer()
    const scraper = new Scraper({url: await url, intervalMs: 50, timeoutMs: 2000})
    scrapers.push(scraper)
    scraper.start()
    await sleep(60)
    const fast = setInterval(() => histogram.observe({route: '/work'}, 0.0015), 2)
    await sleep(400)
    clearInterval(fast)
    const boundary = Date.now()
    const slow = setInterval(() => histogram.observe({route: '/work'}, 0.03), 2)
    await sleep(400)
    clearInterval(slow)
    const end = Date.now()
    await sleep(60)
    await scraper.stop()

    const snapshots = scraper.snapshots()
    // At scrape resolution a window may take in one interval of its neighbour's observations, not more.
    expect(windowHistogramQuantile(snapshots, 0, boundary, 'http_request_duration_seconds', 0.5)).toBeLessThanOrEqual(0.002)
    expect(windowHistogramQuantile(snapshots, boundary, end, 'http_request_duration_seconds', 0.5)).toBeGreaterThan(0.02)
    expect(windowHistogramQuantile(snapshots, boundary, end, 'http_request_duration_seconds', 0.5, {route: '/other'})).toBeNaN()
    const series = intervalHistogramQuantiles(snapshots, boundary, end, 'http_request_duration_seconds', 0.99).filter((v) => v.count > 0)
    expect(series.length).toBeGreaterThan(4)
    expect(series.slice(1).every((v) => v.value > 0.02 && v.value <= 0.05)).toBe(true)
  })
})

describe('windows over snapshots', () => {
  // Four scrapes a second apart of a histogram and a counter: 10 fast requests, then 10 more, then 20 slow.
  function snapshot(t: number, fast: number, slow: number, requests: number): ScrapeSnapshot {
    const text = [
      '# TYPE lat histogram',
      `lat_bucket{le="0.01"} ${fast}`,
      `lat_bucket{le="0.1"} ${fast + slow}`,
      `lat_bucket{le="+Inf"} ${fast + slow}`,
      `lat_sum ${fast * 0.005 + slow * 0.05}`,
      `lat_count ${fast + slow}`,
      '# TYPE req_total counter',
      `req_total ${requests}`,
    ].join('\n')
    return {t, durationMs: 1, families: parsePrometheusText(text)}
  }
  const snapshots = [snapshot(1000, 0, 0, 0), snapshot(2000, 10, 0, 10), snapshot(3000, 20, 0, 20), snapshot(4000, 20, 20, 40)]

  it('bounds a window by the last snapshots at or before each end', () => {
    expect(windowBounds(snapshots, 1500, 3500)!.map((s) => s.t)).toEqual([1000, 3000])
    expect(windowBounds(snapshots, 2000, 4000)!.map((s) => s.t)).toEqual([2000, 4000])
    // before the first scrape: the first one inside the window opens it
    expect(windowBounds(snapshots, 0, 2500)!.map((s) => s.t)).toEqual([1000, 2000])
    expect(windowBounds(snapshots, 2100, 2900)).toBeUndefined()
    expect(windowBounds([], 0, 5000)).toBeUndefined()
    // consecutive windows split the observations without overlap
    const first = windowHistogramDelta(snapshots, 1000, 3000, 'lat')!
    const second = windowHistogramDelta(snapshots, 3000, 4000, 'lat')!
    expect(first.count + second.count).toBe(40)
  })

  it('computes quantiles per window and per interval', () => {
    expect(windowHistogramQuantile(snapshots, 1000, 3000, 'lat', 0.5)).toBeCloseTo(0.005, 12)
    expect(windowHistogramQuantile(snapshots, 3000, 4000, 'lat', 0.5)).toBeCloseTo(0.055, 12)
    expect(windowHistogramQuantile(snapshots, 5000, 6000, 'lat', 0.5)).toBeNaN()
    const series = intervalHistogramQuantiles(snapshots, 1000, 4000, 'lat', 0.5)
    expect(series.map((v) => [v.from, v.to, v.count])).toEqual([[1000, 2000, 10], [2000, 3000, 10], [3000, 4000, 20]])
    expect(series.map((v) => v.value)).toEqual([0.005, 0.005, 0.055].map((x) => expect.closeTo(x, 12)))
  })

  it('computes counter rates per interval', () => {
    expect(intervalCounterRates(snapshots, 1000, 4000, 'req_total').map((v) => v.value)).toEqual([10, 10, 20])
  })
})
