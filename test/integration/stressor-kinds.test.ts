// Real stressor processes, one kind at a time (dist/ must be built: `npm test` does it).
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import type {StressorMessage} from '../../src/stressors/protocol.js'
import type {StressorHandle, StressorProgress} from '../../src/stressors/spawn.js'
import {alive, sleep, stressorTracker, waitFor} from '../helpers/stressors.js'

const stressors = stressorTracker('k')
const {launch, stopAll} = stressors
afterEach(stopAll)

function messagesOf(handle: StressorHandle): Array<StressorMessage & {receivedAt: number}> {
  const seen: Array<StressorMessage & {receivedAt: number}> = []
  handle.onMessage((message) => seen.push({...message, receivedAt: Date.now()}))
  return seen
}

function vmRss(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(kib?.[1]) * 1024
}

const MiB = 1024 * 1024

describe('memory stressor', () => {
  it('ramps at the asked rate to the limit, and RSS follows', async () => {
    const limit = 64 * MiB
    const stressor = launch('memory', {rate: 64 * MiB, limit, hold: true})
    const messages = messagesOf(stressor)
    const {pid} = await stressor.ready
    const readyAt = Date.now()
    const rssBefore = vmRss(pid)
    await waitFor('the limit', () => (stressor.latest()?.bytes ?? 0) >= limit, 5000)
    const reachedIn = Date.now() - readyAt
    // 1 s of ramp, up to one 50 ms allocation tick and one 200 ms progress interval late
    expect(reachedIn).toBeGreaterThan(900)
    expect(reachedIn).toBeLessThan(1300)
    expect(stressor.latest()?.bytes).toBe(limit)

    // the ramp's slope, fitted over the progress messages inside it
    const ramp = messages.filter((m): m is StressorProgress & {receivedAt: number} => m.type === 'progress' && m.bytes! > 0 && m.bytes! < limit)
    expect(ramp.length).toBeGreaterThanOrEqual(3)
    const slope = (ramp.at(-1)!.bytes! - ramp[0].bytes!) / ((ramp.at(-1)!.t - ramp[0].t) / 1000)
    expect(Math.abs(slope / (64 * MiB) - 1)).toBeLessThan(0.1)

    await sleep(300)
    const grown = vmRss(pid) - rssBefore
    expect(grown).toBeGreaterThan(0.95 * limit)
    expect(grown).toBeLessThan(limit + 24 * MiB)
    expect(stressor.latest()!.rssBytes! - rssBefore).toBeGreaterThan(0.95 * limit)
    // hold: still there
    expect(alive(pid)).toBe(true)
  })

  it('with hold=false gives the memory back at the limit and ends as done', async () => {
    const stressor = launch('memory', {rate: 256 * MiB, limit: 16 * MiB, hold: false})
    const exit = await stressor.exited
    expect(exit).toMatchObject({code: 0, signal: null, reason: 'done'})
    expect(stressor.latest()?.bytes).toBe(16 * MiB)
  })
})

describe('disk stressor', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-stressor-test-'))
    dirs.push(dir)
    return dir
  }
  afterEach(async () => {
    // (inner hooks run first: stop the stressors before looking for their files)
    const leftovers: string[] = []
    try {
      await stopAll()
    } finally {
      for (const dir of dirs.splice(0)) {
        // the stressors' files must already be gone; only what a test itself made may remain
        leftovers.push(...readdirSync(dir).filter((name) => /^chaos-it\d+k\d+-fill$/.test(name)))
        rmSync(dir, {recursive: true, force: true})
      }
    }
    expect(leftovers).toEqual([])
  })
  const fillOf = (dir: string, handle: StressorHandle) => join(dir, `chaos-${handle.args.runId}-fill`)

  it.each([32 * MiB, 5 * MiB + 123])('writes %i bytes, holds the file, and deletes it on exit', async (bytes) => {
    const dir = tempDir()
    const stressor = launch('disk', {dir, bytes, mode: 'write'})
    await stressor.ready
    await waitFor('all bytes', () => stressor.latest()?.bytes === bytes)
    const file = fillOf(dir, stressor)
    expect(statSync(file).size).toBe(bytes)
    expect(stressor.latest()?.full).toBe(false)
    await sleep(300)
    expect(existsSync(file)).toBe(true)
    const exit = await stressor.stop()
    expect(exit).toMatchObject({code: 0, reason: 'signal'})
    expect(existsSync(file)).toBe(false)
  })

  it('reserves the space with fallocate and checks the size', async () => {
    const dir = tempDir()
    const bytes = 64 * MiB
    const stressor = launch('disk', {dir, bytes, mode: 'fallocate'})
    await stressor.ready
    const file = fillOf(dir, stressor)
    await waitFor('progress', () => stressor.latest())
    expect(stressor.latest()?.bytes).toBe(bytes)
    const stat = statSync(file)
    expect(stat.size).toBe(bytes)
    expect(stat.blocks * 512).toBeGreaterThanOrEqual(bytes)
    await stressor.stop()
    expect(existsSync(file)).toBe(false)
  })

  it('paces the writes to the asked rate', async () => {
    const dir = tempDir()
    const stressor = launch('disk', {dir, bytes: 256 * MiB, rate: 16 * MiB, mode: 'write'})
    await stressor.ready
    const first = await waitFor('progress', () => stressor.latest())
    await sleep(2000)
    const last = stressor.latest()!
    const rate = (last.bytes! - first.bytes!) / ((last.t - first.t) / 1000)
    expect(Math.abs(rate / (16 * MiB) - 1)).toBeLessThan(0.1)
  })

  it('with keepFree, refuses a fill that would leave less than that share of the filesystem free, and starts one that leaves more', async () => {
    const dir = tempDir()
    const stats = statfsSync(dir)
    const freeShare = (stats.bavail * stats.bsize) / (stats.blocks * stats.bsize)
    // a floor just above what is free now: even 1 MiB is too much
    const refused = launch('disk', {dir, bytes: MiB, mode: 'write', keepFree: Math.min(1, freeShare + 0.01)})
    await expect(refused.ready).rejects.toThrow(/would leave less than \d+% of its \d+ MiB filesystem free; at most 0 MiB/)
    expect(await refused.exited).toMatchObject({code: 3, reason: 'error'})
    expect(readdirSync(dir)).toEqual([])
    const allowed = launch('disk', {dir, bytes: MiB, mode: 'write', keepFree: Math.max(0, freeShare - 0.05)})
    await allowed.ready
    await waitFor('all bytes', () => allowed.latest()?.bytes === MiB)
  })

  it('refuses to touch a fill file that is already there', async () => {
    const dir = tempDir()
    const runId = `it${process.pid}k${stressors.launches}`
    const existing = join(dir, `chaos-${runId}-fill`)
    writeFileSync(existing, 'not yours')
    const stressor = launch('disk', {dir, bytes: MiB, mode: 'write'})
    expect(stressor.args.runId).toBe(runId)
    await expect(stressor.ready).rejects.toThrow(/cannot create/)
    const exit = await stressor.exited
    expect(exit).toMatchObject({code: 3, reason: 'error'})
    expect(readFileSync(existing, 'utf8')).toBe('not yours')
    rmSync(existing)
  })

  it('removes the file when it ends at its deadline, and when it is killed outright', async () => {
    const dir = tempDir()
    const byDeadline = launch('disk', {dir, bytes: 4 * MiB, mode: 'write'}, {deadline: Date.now() + 1500})
    const killed = launch('disk', {dir, bytes: 4 * MiB, mode: 'write'})
    await Promise.all([byDeadline.ready, killed.ready])
    await waitFor('both files', () => byDeadline.latest()?.bytes === 4 * MiB && killed.latest()?.bytes === 4 * MiB)
    process.kill(killed.pid!, 'SIGKILL')
    expect(await killed.exited).toMatchObject({signal: 'SIGKILL', killedBy: 'oom-or-sigkill'})
    expect(existsSync(fillOf(dir, killed))).toBe(false)
    expect(await byDeadline.exited).toMatchObject({code: 0, reason: 'deadline'})
    expect(existsSync(fillOf(dir, byDeadline))).toBe(false)
  })

  it('reports a full disk and keeps holding what it wrote', async (context) => {
    const dir = tempDir()
    const mountPoint = join(dir, 'small')
    mkdirSync(mountPoint)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', `stressor-test-${process.pid}`, mountPoint], {stdio: 'ignore'})
    } catch {
      context.skip('cannot mount a tmpfs here')
    }
    try {
      const stressor = launch('disk', {dir: mountPoint, bytes: 32 * MiB, mode: 'write'})
      await stressor.ready
      const progress = await waitFor('full', () => stressor.latest()?.full && stressor.latest())
      expect(progress.bytes).toBeGreaterThan(7 * MiB)
      expect(progress.bytes).toBeLessThanOrEqual(8 * MiB)
      await sleep(300)
      expect(alive(stressor.pid!)).toBe(true)
      expect(statSync(fillOf(mountPoint, stressor)).size).toBe(progress.bytes)
      await stressor.stop()
      expect(readdirSync(mountPoint)).toEqual([])
    } finally {
      try {
        await stopAll() // (a stressor holding a file there would make the unmount fail)
      } finally {
        execFileSync('umount', [mountPoint])
      }
    }
  })
})

describe('flood and sink', () => {
  async function sinkAndFlood(protocol: 'tcp' | 'udp', connections: number, rate?: number) {
    const sink = launch('sink', {host: '127.0.0.1', port: 0, protocol})
    const {port} = await sink.ready
    expect(port).toBeGreaterThan(0)
    const flood = launch('flood', {host: '127.0.0.1', port: port!, protocol, connections, rate})
    await flood.ready
    return {sink, flood}
  }

  it('moves bytes over TCP on 127.0.0.1', async () => {
    const {sink, flood} = await sinkAndFlood('tcp', 2)
    await waitFor('bytes at the sink', () => (sink.latest()?.bytes ?? 0) > 100 * MiB)
    await waitFor('bytes counted by the flood', () => (flood.latest()?.bytes ?? 0) > 100 * MiB)
    await flood.stop()
    await sleep(300)
    // everything the flood counted as sent went through the kernel to the sink
    expect(sink.latest()!.bytes!).toBeGreaterThanOrEqual(flood.latest()!.bytes!)
  })

  it.each([['tcp', 80e6, 2], ['udp', 40e6, 3]] as const)('paces %s to %d bit/s over all connections', async (protocol, rate, connections) => {
    const {sink, flood} = await sinkAndFlood(protocol, connections, rate)
    await sleep(500)
    const before = {flood: flood.latest()!, sink: sink.latest()!}
    await sleep(2000)
    const after = {flood: flood.latest()!, sink: sink.latest()!}
    const bitsPerSecond = (a: StressorProgress, b: StressorProgress) => (b.bytes! - a.bytes!) * 8 / ((b.t - a.t) / 1000)
    expect(Math.abs(bitsPerSecond(before.flood, after.flood) / rate - 1)).toBeLessThan(0.1)
    expect(Math.abs(bitsPerSecond(before.sink, after.sink) / rate - 1)).toBeLessThan(0.15)
  })

  it('keeps retrying a refused connection until the sink is there', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const {port: free} = probe.address() as net.AddressInfo
        probe.close(() => resolve(free))
      })
    })
    const flood = launch('flood', {host: '127.0.0.1', port, protocol: 'tcp', connections: 1})
    await flood.ready
    await sleep(400)
    expect(flood.latest()?.bytes).toBe(0)
    const sink = launch('sink', {host: '127.0.0.1', port, protocol: 'tcp'})
    expect((await sink.ready).port).toBe(port)
    await waitFor('bytes after the retry', () => (flood.latest()?.bytes ?? 0) > MiB, 5000)
  })

  it.each(['localhost', '0.0.0.0'])('refuses to flood %s', async (host) => {
    const flood = launch('flood', {host, port: 9, protocol: 'tcp', connections: 1})
    await expect(flood.ready).rejects.toThrow(/refusing/)
    expect(await flood.exited).toMatchObject({code: 3, reason: 'error', error: expect.stringMatching(/refusing/)})
  })
})
