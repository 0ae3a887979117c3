// spawnStressor, the toolkit's handle on a stressor: command prefixes, failures before ready, stop() escalation.
import dgram from 'node:dgram'
import {readFileSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'
import type {StressorMessage, StressorParams} from '../../src/stressors/protocol.js'
import {describeExit} from '../../src/stressors/spawn.js'
import {alive, sleep, stressorTracker, waitFor} from '../helpers/stressors.js'

const {handles, launch, stopAll} = stressorTracker('s')
afterEach(async () => {
  for (const handle of handles) {
    // a test may leave one stopped (SIGSTOP); SIGKILL would still work, but let it end properly
    if (handle.pid && alive(handle.pid)) process.kill(handle.pid, 'SIGCONT')
  }
  await stopAll()
})

describe('spawnStressor', () => {
  it('runs the stressor under a command prefix with extra environment', async () => {
    const stressor = launch('sink', {host: '127.0.0.1', port: 0, protocol: 'tcp'}, {}, {command: ['env'], env: {CHAOS_STRESSOR_TEST: 'prefixed'}})
    const {pid, port} = await stressor.ready
    // env execs: the prefix's pid is the stressor's
    expect(pid).toBe(stressor.pid)
    expect(port).toBeGreaterThan(0)
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('CHAOS_STRESSOR_TEST=prefixed')
    const messages: StressorMessage[] = []
    const unsubscribe = stressor.onMessage((m) => messages.push(m))
    await waitFor('two progress messages', () => messages.filter((m) => m.type === 'progress').length >= 2, 2000)
    unsubscribe()
    const seen = messages.length
    await sleep(450)
    expect(messages.length).toBe(seen)
    expect(stressor.latest()).toMatchObject({type: 'progress', bytes: 0})
  })

  it('rejects ready and reports why when the prefix command does not exist', async () => {
    const stressor = launch('sink', {host: '127.0.0.1', port: 0, protocol: 'tcp'}, {}, {command: ['/nonexistent/chaos-prefix']})
    await expect(stressor.ready).rejects.toThrow(/before it was ready/)
    const exit = await stressor.exited
    expect(exit.error).toMatch(/ENOENT/)
    expect(await stressor.stop()).toBe(exit)
  })

  it('rejects ready with the stressor\'s own message when its arguments are refused (exit code 2)', async () => {
    const stressor = launch('cpu', {workers: 1, loadPerWorker: 2} as StressorParams)
    await expect(stressor.ready).rejects.toThrow(/loadPerWorker must be within/)
    const exit = await stressor.exited
    expect(exit).toMatchObject({code: 2, reason: 'error'})
    expect(describeExit(exit)).toMatch(/exit code 2, reason error, cpu: loadPerWorker/)
  })

  it('escalates to SIGKILL after 1 s when SIGTERM is not handled', async () => {
    const stressor = launch('cpu', {workers: 1, loadPerWorker: 0.1})
    const {pid} = await stressor.ready
    process.kill(pid, 'SIGSTOP') // a stopped process cannot act on SIGTERM
    const started = Date.now()
    const exit = await stressor.stop()
    const took = Date.now() - started
    expect(exit).toMatchObject({signal: 'SIGKILL', forced: true})
    expect(exit.killedBy).toBeUndefined()
    expect(took).toBeGreaterThanOrEqual(950)
    expect(took).toBeLessThan(2000)
  })

  it('floods UDP through refusals until the sink is there', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = dgram.createSocket('udp4').bind(0, '127.0.0.1', () => {
        const free = probe.address().port
        probe.close(() => resolve(free))
      })
    })
    const flood = launch('flood', {host: '127.0.0.1', port, protocol: 'udp', connections: 2})
    await flood.ready
    await sleep(400)
    expect(alive(flood.pid!)).toBe(true)
    const sink = launch('sink', {host: '127.0.0.1', port, protocol: 'udp'})
    await sink.ready
    await waitFor('datagrams at the sink', () => (sink.latest()?.bytes ?? 0) > 1024 * 1024, 8000)
  })
})
