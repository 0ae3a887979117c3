import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {Registry} from 'prom-client'
import {afterEach, describe, expect, it} from 'vitest'
import {parsePrometheusText} from '../../src/metrics/prom-text.js'
import {histogramBuckets} from '../../src/metrics/prom-text.js'
import {HttpProbe, PROBE_HISTOGRAM_NAME} from '../../src/metrics/probe.js'

const servers: http.Server[] = []
const probes: HttpProbe[] = []

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => p.stop()))
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

/** A server on 127.0.0.1 that notes when each request arrived. */
async function serve(handler: http.RequestListener): Promise<{url: string, arrivals: number[]}> {
  const arrivals: number[] = []
  const server = http.createServer((request, response) => {
    arrivals.push(Date.now())
    handler(request, response)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/work`, arrivals}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function runFor(probe: HttpProbe, ms: number): Promise<{started: number, stopped: number}> {
  probes.push(probe)
  const started = Date.now()
  probe.start()
  await sleep(ms)
  const stopped = Date.now()
  await probe.stop()
  return {started, stopped}
}

/** Requests per 250 ms slice of [from, to): an open-loop probe fills each one about evenly (50 at 200/s). */
function perSlice(times: number[], from: number, to: number, sliceMs = 250): number[] {
  const slices = Array.from({length: Math.floor((to - from) / sliceMs)}, () => 0)
  for (const t of times) {
    const index = Math.floor((t - from) / sliceMs)
    if (index >= 0 && index < slices.length) slices[index]++
  }
  return slices
}

describe('HttpProbe', () => {
  it('keeps 200 req/s for 2 s within 5%, evenly, recording every latency', async () => {
    const {url, arrivals} = await serve((_request, response) => response.end('{"ok":true}'))
    const registry = new Registry()
    const probe = new HttpProbe({url, rate: 200, timeoutMs: 1000, neighbor: 'api', registry})
    const {started} = await runFor(probe, 2000)

    const records = probe.records(started, started + 2000)
    expect(records.length).toBeGreaterThanOrEqual(380)
    expect(records.length).toBeLessThanOrEqual(420)
    // the server saw them too, spread over the whole run rather than in bursts
    expect(arrivals.length).toBe(probe.stats().sent)
    for (const count of perSlice(arrivals, started, started + 2000)) expect(count).toBeGreaterThanOrEqual(30)
    expect(records.every((r) => r.ok && r.status === 200 && r.latencySeconds > 0)).toBe(true)
    // scheduled send times are 5 ms apart
    expect(records[1].t - records[0].t).toBeCloseTo(5, 6)
    const stats = probe.stats()
    expect(stats.completed).toBe(stats.sent)
    expect(stats.errors, JSON.stringify(probe.records().filter((r) => !r.ok).slice(0, 5))).toBe(0)
    expect(stats.inFlight).toBe(0)
    // typically about 1 ms; generous because other work on this machine can stall the event loop
    expect(stats.meanSendLagMs).toBeLessThan(20)
    // each record carries its own send lag, inside its latency (counted from the schedule); together they are the mean
    expect(records.every((r) => r.sendLagMs !== undefined && r.sendLagMs >= 0 && r.sendLagMs / 1000 <= r.latencySeconds)).toBe(true)
    const all = probe.records()
    expect(all.reduce((a, r) => a + r.sendLagMs!, 0) / all.length).toBeCloseTo(stats.meanSendLagMs, 6)

    const families = parsePrometheusText(await registry.metrics())
    const histogram = histogramBuckets(families, PROBE_HISTOGRAM_NAME, {neighbor: 'api', outcome: 'ok'})
    expect(histogram.count).toBe(stats.completed)
  })

  it('charges a stall of its own event loop to the requests it held up, as their send lag', async () => {
    const {url} = await serve((_request, response) => response.end('ok'))
    const probe = new HttpProbe({url, rate: 200, timeoutMs: 1000})
    probes.push(probe)
    probe.start()
    await sleep(300)
    // the probe's own loop held for 80 ms: about 16 sends fall due meanwhile and go out late
    const stallFrom = Date.now()
    while (Date.now() - stallFrom < 80) { /* busy */ }
    await sleep(300)
    await probe.stop()
    const held = probe.records(stallFrom, stallFrom + 60)
    expect(held.length).toBeGreaterThanOrEqual(8)
    // the first request due in the stall waited for nearly all of it
    expect(Math.max(...held.map((r) => r.sendLagMs!))).toBeGreaterThanOrEqual(50)
    for (const r of held) expect(r.latencySeconds * 1000).toBeGreaterThanOrEqual(r.sendLagMs!)
    // the requests before it were sent about on time: their median lag far below the stall's (relative, since a busy
    // machine delays this test's own timers by some milliseconds too)
    const before = probe.records(stallFrom - 250, stallFrom - 50).map((r) => r.sendLagMs!).sort((a, b) => a - b)
    expect(before.length).toBeGreaterThanOrEqual(20)
    expect(before[Math.floor(before.length / 2)]).toBeLessThan(Math.max(...held.map((r) => r.sendLagMs!)) / 2)
  })

  it('does not slow down when the neighbour does: the load stays open-loop', async () => {
    const {url, arrivals} = await serve((_request, response) => {
      setTimeout(() => response.end('slow'), 300)
    })
    const probe = new HttpProbe({url, rate: 200, timeoutMs: 2000})
    const {started} = await runFor(probe, 2000)
    // a closed-loop client on a few connections would have managed a handful per connection per second
    expect(probe.records(started, started + 2000).length).toBeGreaterThanOrEqual(380)
    for (const count of perSlice(arrivals, started, started + 2000)) expect(count).toBeGreaterThanOrEqual(30)
    const latencies = probe.records().map((r) => r.latencySeconds)
    expect(Math.min(...latencies)).toBeGreaterThanOrEqual(0.29)
    expect(probe.records().every((r) => r.ok)).toBe(true)
  })

  it('counts a stalled neighbour\'s requests as timeouts and keeps the rate', async () => {
    const {url, arrivals} = await serve(() => {
      // never answers
    })
    const registry = new Registry()
    const probe = new HttpProbe({url, rate: 200, timeoutMs: 250, neighbor: 'stuck', registry})
    probes.push(probe)
    const started = Date.now()
    probe.start()
    await sleep(1500)
    const stopAsked = performance.now()
    await probe.stop()
    // stop waits for the requests in flight, each of which ends by its timeout
    expect(performance.now() - stopAsked).toBeLessThan(250 + 100)

    const records = probe.records(started, started + 1500)
    expect(records.length).toBeGreaterThanOrEqual(285)
    expect(records.length).toBeLessThanOrEqual(315)
    expect(arrivals.length).toBe(probe.stats().sent)
    expect(records.every((r) => !r.ok && r.error === 'timeout' && r.latencySeconds === 0.25)).toBe(true)
    const stats = probe.stats()
    expect(stats.timeouts).toBe(stats.sent)
    expect(stats.errors).toBe(stats.sent)
    expect(stats.inFlight).toBe(0)
    const families = parsePrometheusText(await registry.metrics())
    expect(histogramBuckets(families, PROBE_HISTOGRAM_NAME, {outcome: 'timeout'}).count).toBe(stats.sent)
  })

  it('records HTTP errors with their status and refused connections with their code', async () => {
    const {url} = await serve((_request, response) => {
      response.writeHead(507)
      response.end('{"error":"ENOSPC"}')
    })
    const failing = new HttpProbe({url, rate: 100, timeoutMs: 500, method: 'POST'})
    await runFor(failing, 300)
    expect(failing.records().length).toBeGreaterThanOrEqual(25)
    expect(failing.records().every((r) => !r.ok && r.status === 507 && r.error === undefined)).toBe(true)

    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const {port} = closed.address() as AddressInfo
    await new Promise((resolve) => closed.close(resolve))
    const refused = new HttpProbe({url: `http://127.0.0.1:${port}/`, rate: 100, timeoutMs: 500})
    await runFor(refused, 300)
    expect(refused.records().length).toBeGreaterThanOrEqual(25)
    expect(refused.records().every((r) => !r.ok && r.error === 'ECONNREFUSED' && r.status === undefined)).toBe(true)
  })

  it('keeps the records bounded and validates its options', async () => {
    const {url} = await serve((_request, response) => response.end())
    const probe = new HttpProbe({url, rate: 200, timeoutMs: 500, maxRecords: 50})
    await runFor(probe, 500)
    expect(probe.records().length).toBeLessThanOrEqual(50)
    expect(probe.stats().dropped).toBe(probe.stats().completed - probe.records().length)
    expect(() => new HttpProbe({url: 'ftp://127.0.0.1/', rate: 1, timeoutMs: 1})).toThrow(/http/)
    expect(() => new HttpProbe({url, rate: 0, timeoutMs: 1})).toThrow(/rate/)
    expect(() => probe.start()).toThrow(/once/)
  })
})
