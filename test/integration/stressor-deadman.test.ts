// The dead-man's switch: a stressor ends by itself at its deadline, when its toolkit dies (even by SIGKILL),
// and when the pipe on its stdin closes.
import {spawn, type ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'
import {stressorArgv, type StressorArgs, type StressorKind, type StressorMessage, type StressorParams} from '../../src/stressors/protocol.js'
import {listStressorProcesses, spawnStressor, stressorEntry, type StressorHandle} from '../../src/stressors/spawn.js'

// ---- shared by the stressor integration tests: launch, track, and prove nothing is left behind
const handles: StressorHandle[] = []
const runIds = new Set<string>()
let launches = 0
function nextRunId(): string {
  const runId = `it${process.pid}d${launches++}`
  runIds.add(runId)
  return runId
}
function launch(kind: StressorKind, params: StressorParams, extra: Partial<StressorArgs> = {}): StressorHandle {
  const handle = spawnStressor({kind, runId: nextRunId(), deadline: Date.now() + 60_000, parent: process.pid, cgroups: [], params, ...extra})
  handles.push(handle)
  return handle
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // an exited process nobody has reaped yet is not running
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = probe()
      if (value !== undefined && value !== false) return resolve(value)
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, 10)
    }
    tick()
  })
}
// ----

// processes the tests start themselves (intermediate parents, bare stressors) and the stressors under them
const children: ChildProcess[] = []
const orphanPids: number[] = []
afterEach(async () => {
  const stopping = handles.splice(0)
  await Promise.all(stopping.map((handle) => handle.stop()))
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  for (const pid of orphanPids.splice(0)) {
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  for (const handle of stopping) if (handle.pid) expect(alive(handle.pid), `stressor ${handle.pid} still running`).toBe(false)
  await waitFor('no stressor left', () => listStressorProcesses().every((p) => !runIds.has(p.runId)), 2000)
})

/** JSON lines from a stream, as they come */
function jsonLines(stream: NodeJS.ReadableStream, into: Array<Record<string, unknown>>): void {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (text: string) => {
    pending += text
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) if (line.trim()) into.push(JSON.parse(line) as Record<string, unknown>)
  })
}

const idleCpu = {workers: 1, loadPerWorker: 0.1}

describe("stressor dead-man's switch", () => {
  it('exits within 300 ms of its deadline', async () => {
    const deadline = Date.now() + 1500
    const stressor = launch('cpu', idleCpu, {deadline})
    const messages: StressorMessage[] = []
    stressor.onMessage((m) => messages.push(m))
    await stressor.ready
    const exit = await stressor.exited
    const late = Date.now() - deadline
    expect(exit).toMatchObject({code: 0, signal: null, reason: 'deadline'})
    expect(late).toBeGreaterThanOrEqual(0)
    expect(late).toBeLessThan(300)
    const exitMessage = messages.find((m) => m.type === 'exit')
    expect(exitMessage).toMatchObject({type: 'exit', reason: 'deadline'})
  })

  it('exits at once when the deadline has already passed', async () => {
    const stressor = launch('memory', {rate: 1e6, limit: 1e6, hold: true}, {deadline: Date.now() - 1})
    await expect(stressor.ready).rejects.toThrow(/before it was ready/)
    expect(await stressor.exited).toMatchObject({code: 0, reason: 'deadline'})
  })

  it('exits within 1 s when the toolkit that spawned it is SIGKILLed', async () => {
    // a stand-in toolkit: spawns a stressor through spawnStressor (stdin pipe and all) and says its pid
    const runId = nextRunId()
    const script = `
      import {spawnStressor} from ${JSON.stringify(stressorEntry().replace(/main\.js$/, 'spawn.js'))}
      const handle = spawnStressor({kind: 'cpu', runId: ${JSON.stringify(runId)}, deadline: Date.now() + 60000, parent: process.pid, cgroups: [], params: ${JSON.stringify(idleCpu)}})
      handle.ready.then(({pid}) => console.log(JSON.stringify({stressorPid: pid})))
    `
    const toolkit = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(toolkit)
    const lines: Array<Record<string, unknown>> = []
    jsonLines(toolkit.stdout!, lines)
    const stressorPid = await waitFor('the stressor', () => lines.find((l) => l.stressorPid)?.stressorPid as number | undefined)
    orphanPids.push(stressorPid)
    expect(alive(stressorPid)).toBe(true)

    toolkit.kill('SIGKILL')
    const killedAt = Date.now()
    await waitFor('the stressor to exit', () => !alive(stressorPid), 1000)
    expect(Date.now() - killedAt).toBeLessThan(1000)
  })

  it('notices a SIGKILLed parent even while its stdin stays open (re-parenting)', async () => {
    // The stand-in toolkit gives the stressor a stdin pipe held open by another process (sleep) and passes
    // on its own stdout, so only the parent check can end the stressor, and its exit message still reaches us.
    const argv = stressorArgv({kind: 'cpu', runId: nextRunId(), deadline: Date.now() + 60_000, parent: 1, cgroups: [], params: idleCpu})
    const script = `
      import {spawn} from 'node:child_process'
      const holder = spawn('sleep', ['60'], {stdio: ['ignore', 'pipe', 'ignore']})
      console.log(JSON.stringify({holderPid: holder.pid}))
      const argv = ${JSON.stringify(argv)}
      argv[${argv.indexOf('--parent') + 1}] = String(process.pid)
      spawn(process.execPath, [${JSON.stringify(stressorEntry())}, ...argv], {stdio: [holder.stdout, 'inherit', 'inherit']})
    `
    const toolkit = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(toolkit)
    const lines: Array<Record<string, unknown>> = []
    jsonLines(toolkit.stdout!, lines)
    orphanPids.push(await waitFor('the stdin holder', () => lines.find((l) => l.holderPid)?.holderPid as number | undefined))
    const stressorPid = await waitFor('the stressor', () => lines.find((l) => l.type === 'ready')?.pid as number | undefined)
    orphanPids.push(stressorPid)

    toolkit.kill('SIGKILL')
    const killedAt = Date.now()
    await waitFor('the stressor to exit', () => !alive(stressorPid), 1000)
    expect(Date.now() - killedAt).toBeLessThan(1000)
    await waitFor('its exit message', () => lines.find((l) => l.type === 'exit'), 1000)
    expect(lines.find((l) => l.type === 'exit')).toMatchObject({reason: 'parent-gone'})
  })

  it('exits when its stdin closes', async () => {
    const args: StressorArgs = {kind: 'memory', runId: nextRunId(), deadline: Date.now() + 60_000, parent: process.pid, cgroups: [], params: {rate: 1e6, limit: 1e6, hold: true}}
    const child = spawn(process.execPath, [stressorEntry(), ...stressorArgv(args)], {stdio: ['pipe', 'pipe', 'inherit']})
    children.push(child)
    const lines: Array<Record<string, unknown>> = []
    jsonLines(child.stdout!, lines)
    await waitFor('ready', () => lines.find((l) => l.type === 'ready'))
    const closedAt = Date.now()
    child.stdin!.end()
    const [code] = await new Promise<[number | null]>((resolve) => child.once('exit', (c) => resolve([c])))
    expect(Date.now() - closedAt).toBeLessThan(500)
    expect(code).toBe(0)
    expect(lines.find((l) => l.type === 'exit')).toMatchObject({reason: 'stdin-closed'})
  })

  it('ends cleanly on SIGTERM, without needing SIGKILL', async () => {
    const stressor = launch('cpu', {workers: 2, loadPerWorker: 1})
    await stressor.ready
    const exit = await stressor.stop()
    expect(exit).toMatchObject({code: 0, signal: null, reason: 'signal'})
    expect(exit.forced).toBeUndefined()
    expect(exit.killedBy).toBeUndefined()
  })

  it('shows itself in ps as chaos-stressor KIND --run ID', async () => {
    const stressor = launch('sink', {host: '127.0.0.1', port: 0, protocol: 'udp'})
    const {pid} = await stressor.ready
    expect(listStressorProcesses()).toContainEqual({pid, kind: 'sink', runId: stressor.args.runId})
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(new RegExp(`^chaos-stressor sink --run ${stressor.args.runId}`))
  })
})
