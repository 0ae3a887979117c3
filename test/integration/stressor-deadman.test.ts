// The dead-man's switch: a stressor ends by itself at its deadline, when its toolkit dies (even by SIGKILL),
// and when the pipe on its stdin closes.
import {spawn, type ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'
import {stressorArgv, type StressorArgs, type StressorMessage} from '../../src/stressors/protocol.js'
import {listStressorProcesses, stressorEntry} from '../../src/stressors/spawn.js'
import {alive as isAlive, waitFor as pollFor, stressorTracker} from '../helpers/stressors.js'

const stressors = stressorTracker('d')
const {launch, nextRunId} = stressors
// here a process may also vanish between the two looks (the orphans below): gone is not running
function alive(pid: number): boolean {
  try {
    return isAlive(pid)
  } catch {
    return false
  }
}
// polls every 10 ms, not 20: these tests time exits
const waitFor = <T>(what: string, probe: () => T | undefined | false, timeoutMs?: number) => pollFor(what, probe, timeoutMs, 10)

// processes the tests start themselves (intermediate parents, bare stressors) and the stressors under them
const children: ChildProcess[] = []
const orphanPids: number[] = []
afterEach(async () => {
  const stopping = await stressors.stop()
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  for (const pid of orphanPids.splice(0)) {
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  stressors.expectStopped(stopping, alive)
  await waitFor('no stressor left', () => stressors.leftovers().length === 0, 2000)
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
