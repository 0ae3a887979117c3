// The probe in a process of its own (RemoteProbe, probe-main.ts): real child processes, a real HTTP server in a
// process of its own on 127.0.0.1. The point is the contrast: an 800 ms stall of the toolkit's event loop is
// charged to the neighbour by the in-process HttpProbe, and not by the remote one.
import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {HttpProbe} from '../../src/metrics/probe.js'
import {RemoteProbe} from '../../src/metrics/remote-probe.js'
import {embeddedSourceLost} from '../../src/run/observe.js'
import {withoutLaggedIntervals} from '../../src/run/signals.js'
import type {WorkflowHandle} from '../../src/platforms/platform.js'
import {serveInProcess, type ServerProcess} from '../helpers/http-server-process.js'
import {alive, waitFor} from '../helpers/stressors.js'

const servers: ServerProcess[] = []
const probes: Array<HttpProbe | RemoteProbe> = []
/** stand-ins for the toolkit, started by a test */
const toolkits: ChildProcess[] = []
afterEach(async () => {
  for (const toolkit of toolkits.splice(0)) if (toolkit.exitCode === null && toolkit.signalCode === null) toolkit.kill('SIGKILL')
  await Promise.all(probes.splice(0).map((p) => p.stop()))
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function server(): Promise<ServerProcess> {
  const made = await serveInProcess()
  servers.push(made)
  return made
}

function track<P extends HttpProbe | RemoteProbe>(probe: P): P {
  probes.push(probe)
  return probe
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
async function waitForAsync(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}
/** the toolkit's run loop busy (spawning a stressor, cgroup work): nothing else in this process runs meanwhile */
function block(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) { /* busy */ }
}
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]
}
/** the most requests the server saw in any 100 ms slice of [from, to): about 10 at 100/s when the load is even */
function busiestSlice(arrivals: number[], from: number, to: number): number {
  const slices = new Array<number>(Math.ceil((to - from) / 100)).fill(0)
  for (const t of arrivals) if (t >= from && t < to) slices[Math.floor((t - from) / 100)]++
  return Math.max(...slices)
}

/** 100 req/s; the test's event loop blocked for 800 ms in the middle. */
async function throughABlock(probe: HttpProbe | RemoteProbe, target: ServerProcess) {
  probe.start()
  await waitFor('the first records', () => probe.records().length > 0, 5000)
  await sleep(500)
  const blockFrom = Date.now()
  block(800)
  const blockTo = Date.now()
  await sleep(1000)
  await probe.stop()
  const inBlock = probe.records(blockFrom, blockTo)
  const arrivals = await target.arrivals()
  return {
    inBlock,
    p50: quantile(inBlock.map((r) => r.latencySeconds), 0.5),
    p99: quantile(inBlock.map((r) => r.latencySeconds), 0.99),
    /** share of them whose latency holds most of the wait from their schedule to the block's end */
    charged: inBlock.filter((r) => r.latencySeconds * 1000 >= 0.8 * (blockTo - r.t)).length / inBlock.length,
    arrivedInBlock: arrivals.filter((t) => t >= blockFrom && t < blockTo).length,
    busiest: busiestSlice(arrivals, blockFrom - 500, blockTo + 500),
  }
}

describe('RemoteProbe', () => {
  it('streams records during the run that match the in-process probe\'s', async () => {
    const target = await server()
    const remote = track(new RemoteProbe({url: target.url, rate: 100, timeoutMs: 1000, neighbor: 'api', intervalMs: 500}))
    const local = track(new HttpProbe({url: target.url, rate: 100, timeoutMs: 1000, neighbor: 'api'}))
    remote.start()
    local.start()
    // mid-run: once the child is up (a few hundred ms, more on a busy machine), batches come every ~100 ms
    await waitFor('the first records', () => remote.records().length > 0, 5000)
    const first = remote.records().length
    await sleep(600)
    const midway = remote.records().length
    expect(midway - first).toBeGreaterThanOrEqual(40)
    await sleep(600)
    await Promise.all([remote.stop(), local.stop()])

    const a = remote.records()
    const b = local.records()
    const stats = remote.stats()
    expect(stats.sent).toBe(a.length)
    expect(stats).toMatchObject({completed: a.length, ok: a.length, errors: 0, timeouts: 0, inFlight: 0, dropped: 0})
    expect(a.length).toBeGreaterThan(midway)
    // the same shape and the same schedule: 10 ms apart, every request answered
    // (the remote one also says when each record was counted in the toolkit's histogram: after it was sent and answered)
    expect(Object.keys(a[0]).filter((k) => k !== 'observedAt').sort()).toEqual(Object.keys(b[0]).sort())
    expect(a.every((r) => r.observedAt! >= r.t + r.latencySeconds * 1000 - 1)).toBe(true)
    for (let i = 1; i < a.length; i++) expect(a[i].t - a[i - 1].t).toBeCloseTo(10, 6)
    expect(a.every((r) => r.ok && r.status === 200 && r.latencySeconds > 0)).toBe(true)
    // the child starts up in a few hundred ms; from its first request on, the two send the same schedule
    const sameSpan = b.filter((r) => r.t >= a[0].t && r.t <= a.at(-1)!.t)
    expect(Math.abs(sameSpan.length - a.length)).toBeLessThanOrEqual(2)
    const medianA = quantile(a.map((r) => r.latencySeconds), 0.5)
    const medianB = quantile(b.map((r) => r.latencySeconds), 0.5)
    expect(medianA).toBeLessThan(0.02)
    expect(medianB).toBeLessThan(0.02)
  })

  it('does not charge an 800 ms stall of the toolkit\'s event loop to the neighbour, where the in-process probe does', async () => {
    const target = await server()
    const remote = await throughABlock(track(new RemoteProbe({url: target.url, rate: 100, timeoutMs: 2000, intervalMs: 500})), target)
    const local = await throughABlock(track(new HttpProbe({url: target.url, rate: 100, timeoutMs: 2000})), target)
    // both scheduled about 80 requests in the stall
    for (const seen of [remote, local]) expect(seen.inBlock.length).toBeGreaterThanOrEqual(78)
    // remote: the schedule went on in the child, so they reached the server during the stall, evenly ...
    expect(remote.arrivedInBlock).toBeGreaterThanOrEqual(50)
    expect(remote.busiest).toBeLessThanOrEqual(25)
    // ... with the server's latency (about a millisecond on a quiet machine), not the stall's
    expect(remote.charged).toBeLessThan(0.2)
    expect(remote.p50).toBeLessThan(local.p50 / 2)
    // in-process: nothing was sent during the stall, then all of it at once, each request charged its wait
    expect(local.arrivedInBlock).toBeLessThanOrEqual(5)
    expect(local.busiest).toBeGreaterThanOrEqual(40)
    expect(local.charged).toBeGreaterThan(0.9)
    expect(local.p50).toBeGreaterThan(0.3)
    expect(local.p99).toBeGreaterThan(0.7)
    // and each record says whose wait it was: the in-process probe's own send lag, which the child did not have
    const sendLagP50 = (seen: typeof remote) => quantile(seen.inBlock.map((r) => r.sendLagMs!), 0.5)
    expect(sendLagP50(local)).toBeGreaterThan(300)
    expect(sendLagP50(remote)).toBeLessThan(50)
  })

  it('reports the instrument\'s own lag per interval, and flags a stalled instrument', async () => {
    const target = await server()
    const probe = track(new RemoteProbe({url: target.url, rate: 100, timeoutMs: 2000, intervalMs: 500}))
    probe.start()
    await waitFor('the first records', () => probe.records().length > 0, 5000)
    await sleep(1000)
    // stall the probe process itself for 300 ms
    const pid = probe.processId()!
    const stalledAt = Date.now()
    process.kill(pid, 'SIGSTOP')
    await sleep(300)
    process.kill(pid, 'SIGCONT')
    await sleep(1200)
    await probe.stop()

    const intervals = probe.lag()
    expect(intervals.length).toBeGreaterThanOrEqual(4)
    for (const i of intervals) {
      expect(i.to - i.from).toBe(500)
      expect(i.from % 500).toBe(0)
      expect(Number.isFinite(i.maxSendLagMs) && Number.isFinite(i.loopDelayP99Ms) && Number.isFinite(i.loopDelayMaxMs)).toBe(true)
    }
    const stalled = intervals.find((i) => i.from <= stalledAt && stalledAt < i.to)!
    expect(stalled.lagged).toBe(true)
    expect(stalled.maxSendLagMs).toBeGreaterThan(200)
    expect(probe.laggedAt(stalledAt + 1)).toBe(true)
    // the instrument is not lagged all the time: most intervals are clean
    expect(intervals.filter((i) => !i.lagged).length).toBeGreaterThanOrEqual(intervals.length - 3)
    expect(probe.laggedAt(Date.now() + 60_000)).toBe(false)
    // what signals.ts gives the verdict: the stalled interval's requests left out, and counted
    const window = {from: intervals[0].from, to: intervals.at(-1)!.to}
    const filtered = withoutLaggedIntervals({probe}, window)
    const laggedCount = intervals.filter((i) => i.lagged).length
    expect(filtered.laggedIntervals).toBe(laggedCount)
    expect(filtered.requestsInLaggedIntervals).toBeGreaterThanOrEqual(40)
    expect(filtered.records.length + filtered.requestsInLaggedIntervals).toBe(probe.records(window.from, window.to).length)
    expect(filtered.records.some((r) => r.t >= stalled.from && r.t < stalled.to)).toBe(false)
  })

  it('returns every record once stop() resolves, in-flight ones included', async () => {
    const target = await server()
    const probe = track(new RemoteProbe({url: `${target.url}?delay=300`, rate: 50, timeoutMs: 2000}))
    probe.start()
    await waitFor('the first records', () => probe.records().length > 0, 5000)
    await sleep(600)
    await probe.stop()
    const stats = probe.stats()
    expect(stats.sent).toBeGreaterThan(20)
    // the last 300 ms of requests were still in flight when stop() was called
    expect(probe.records().length).toBe(stats.sent)
    expect(stats).toMatchObject({completed: stats.sent, ok: stats.sent, inFlight: 0})
    // each waited for the server's 300 ms, less a little: the server's timer counts from its loop's cached clock,
    // which can be a few ms older than the request's arrival (CI once saw one just under 0.3 s)
    const shortest = Math.min(...probe.records().map((r) => r.latencySeconds))
    expect(shortest).toBeGreaterThan(0.29)
    // and the probe process is gone
    expect(alive(probe.processId()!)).toBe(false)
  })

  it('says so when its probe process dies, and the run takes it as the measurement lost', async () => {
    const target = await server()
    const probe = track(new RemoteProbe({url: target.url, rate: 50, timeoutMs: 1000}))
    const workflow = {name: 'api'} as WorkflowHandle
    probe.start()
    await waitFor('the first records', () => probe.records().length > 0, 5000)
    expect(embeddedSourceLost([{probe, workflow}], 1000)).toBeUndefined()
    process.kill(probe.processId()!, 'SIGKILL')
    const failure = await waitFor('the failure noticed', () => probe.failure(), 2000)
    expect(failure).toMatch(/probe process ended early \(SIGKILL\)/)
    expect(embeddedSourceLost([{probe, workflow}], 1000)).toMatch(/^the probe of api failed: /)
    // stop() still resolves, with what had arrived
    await probe.stop()
    expect(probe.records().length).toBeGreaterThan(0)
  })

  it('ends its probe process when the toolkit is SIGKILLed', async () => {
    const target = await server()
    const entry = fileURLToPath(new URL('../../dist/metrics/remote-probe.js', import.meta.url))
    const script = `import(${JSON.stringify(entry)}).then(({RemoteProbe}) => {
      const probe = new RemoteProbe({url: ${JSON.stringify(target.url)}, rate: 50, timeoutMs: 1000})
      probe.start()
      setTimeout(() => process.stdout.write(probe.processId() + '\\n'), 300)
    })`
    const toolkit = spawn(process.execPath, ['-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    toolkits.push(toolkit)
    const childPid = await new Promise<number>((resolve) => toolkit.stdout.setEncoding('utf8').once('data', (text: string) => resolve(Number(text.trim()))))
    expect(alive(childPid)).toBe(true)
    const arrivedBefore = (await target.arrivals()).length
    await waitForAsync('load from the probe process', async () => (await target.arrivals()).length > arrivedBefore + 5)
    toolkit.kill('SIGKILL')
    await waitFor('the probe process gone', () => !alive(childPid), 5000)
    // and no more load reaches the neighbour
    const arrivedAfter = (await target.arrivals()).length
    await sleep(200)
    expect((await target.arrivals()).length).toBe(arrivedAfter)
  })
})
