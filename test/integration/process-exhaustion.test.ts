// process-exhaustion on real cgroups: the fork stressor's children land in the target's box and its pids accounting
// proves it, the box's pids limit refuses the rest, nothing it made outlives a stop or a kill -9 anywhere in its
// chain, and the two experiments go through the run loop (shortened, on ports 19331/19332) with the mechanism each
// is about: the dose lands in both; only in the shared box do the API's requests fail.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {readCgroupSample} from '../../src/metrics/resources.js'
import {parentOf} from '../../src/platforms/process/system-target.js'
import {runExperiment} from '../../src/run/runner.js'
import {listStressorProcesses, type StressorHandle} from '../../src/stressors/spawn.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'
import {alive as isAlive, sleep, stressorTracker, waitFor} from '../helpers/stressors.js'

const stressors = stressorTracker('x')
const layout = detectCgroupLayout()
const boxes: Cgroup[] = []

// a process may vanish between the two looks: gone is not running
function alive(pid: number): boolean {
  try {
    return isAlive(pid)
  } catch {
    return false
  }
}

/** A box of the test's own (chaos-test-*: never a run's), with a pids limit. */
function box(pids: number): Cgroup {
  const made = new Cgroup(layout, `chaos-test-fork-${randomBytes(4).toString('hex')}`)
  made.create()
  made.applyLimits({pids})
  boxes.push(made)
  return made
}

/** The stressor's processes (itself, its helper, the children), by the title they all carry. */
function titled(handle: StressorHandle): number[] {
  return listStressorProcesses().filter((p) => p.runId === handle.args.runId && p.kind === 'fork').map((p) => p.pid)
}

/** The children: every titled process but the stressor and its helper (the helper's parent is the stressor). */
function children(handle: StressorHandle): number[] {
  const helper = helperOf(handle)
  return titled(handle).filter((pid) => pid !== handle.pid && pid !== helper)
}

function helperOf(handle: StressorHandle): number | undefined {
  return titled(handle).find((pid) => parentOf(pid) === handle.pid)
}

function inBox(pid: number, where: Cgroup): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${where.relativePath}\n`)
  } catch {
    return false
  }
}

afterEach(async () => {
  await stressors.stopAll()
})

afterAll(async () => {
  for (const made of boxes) expect(await made.remove()).toEqual([])
})

describe('the fork stressor', () => {
  it('creates its children in the target\'s box at the rate asked, and the box\'s pids accounting counts them', async () => {
    const target = box(400)
    const before = readCgroupSample(target.paths())
    expect(before.tasks).toBe(0)
    expect(before.tasksLimit).toBe(400)
    const handle = stressors.launch('fork', {count: 200, kind: 'processes'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
    await handle.ready
    const started = Date.now()
    await waitFor('200 children held', () => (handle.latest()?.tasks ?? 0) >= 200, 15_000)
    const unboundedMs = Date.now() - started
    const held = children(handle)
    expect(held.length).toBe(200)
    for (const pid of held) expect(inBox(pid, target), `child ${pid} is not in ${target.relativePath}`).toBe(true)
    const sample = readCgroupSample(target.paths())
    // the children, the helper and the stressor's own threads
    expect(sample.tasks).toBeGreaterThanOrEqual(202)
    expect(sample.tasksRefused).toBe(0)
    console.log(`fork stressor, unbounded: 200 children held within ${unboundedMs} ms of ready (${Math.round(200 / Math.max(0.001, unboundedMs / 1000))}/s at least); pids.current ${sample.tasks}`)

    // at a rate: 100/s takes about a second for 100
    await stressors.stop()
    const paced = stressors.launch('fork', {count: 100, rate: 100, kind: 'processes'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
    await paced.ready
    const pacedFrom = Date.now()
    await waitFor('50 children', () => (paced.latest()?.tasks ?? 0) >= 50, 10_000)
    const halfway = (Date.now() - pacedFrom) / 1000
    await waitFor('100 children', () => (paced.latest()?.tasks ?? 0) >= 100, 10_000)
    const pacedS = (Date.now() - pacedFrom) / 1000
    console.log(`fork stressor at 100/s: 50 after ${halfway.toFixed(2)} s, 100 after ${pacedS.toFixed(2)} s (${(100 / pacedS).toFixed(0)}/s)`)
    expect(halfway).toBeGreaterThan(0.3)
    expect(pacedS).toBeGreaterThan(0.8)
    expect(pacedS).toBeLessThan(2)
  })

  it('is refused the rest by the box\'s pids limit, and counts the refusals as the box does', async () => {
    const target = box(40)
    const handle = stressors.launch('fork', {count: 150, kind: 'processes'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
    await handle.ready
    await waitFor('refusals', () => (handle.latest()?.refused ?? 0) >= 20, 10_000)
    const sample = readCgroupSample(target.paths())
    const held = handle.latest()!.tasks!
    expect(sample.tasks).toBe(40)
    expect(sample.tasksLimit).toBe(40)
    expect(held).toBeGreaterThan(10)
    expect(held).toBeLessThan(40)
    expect(children(handle).length).toBe(held)
    // every refusal the stressor saw is one the box's own counter has (the box may count a few more: its threads)
    expect(sample.tasksRefused).toBeGreaterThanOrEqual(handle.latest()!.refused! - 1)
    console.log(`pids limit 40: the stressor holds ${held} children (its own node threads and helper take the rest); the box refused ${sample.tasksRefused} forks so far`)
  })

  it('holds threads in one process when asked for threads', async () => {
    const target = box(200)
    const handle = stressors.launch('fork', {count: 20, kind: 'threads'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
    await handle.ready
    await waitFor('20 threads', () => (handle.latest()?.tasks ?? 0) >= 20, 10_000)
    const helper = helperOf(handle)!
    expect(helper).toBeDefined()
    expect(children(handle)).toEqual([])
    const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${helper}/status`, 'utf8'))![1])
    expect(threads).toBe(21)
    expect(readCgroupSample(target.paths()).tasks).toBeGreaterThanOrEqual(22)
  })

  it('leaves no child alive once stopped', async () => {
    const target = box(100)
    const handle = stressors.launch('fork', {count: 50, kind: 'processes'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
    await handle.ready
    await waitFor('50 children', () => (handle.latest()?.tasks ?? 0) >= 50, 10_000)
    const held = [...children(handle), helperOf(handle)!]
    expect(held.length).toBe(51)
    const stoppedAt = Date.now()
    const exit = await handle.stop()
    expect(exit).toMatchObject({code: 0, reason: 'signal'})
    await waitFor('every child gone', () => held.every((pid) => !alive(pid)), 2000)
    console.log(`stop: the stressor and its 51 processes gone within ${Date.now() - stoppedAt} ms`)
    // and their pids given back to the box (a child's pid is charged until it is reaped)
    await waitFor('the box empty', () => readCgroupSample(target.paths()).tasks === 0, 2000)
  })

  for (const victim of ['stressor', 'helper'] as const) {
    it(`leaves no child alive 2 s after its deadline when the ${victim} (a parent in the chain) is killed with kill -9`, async () => {
      const target = box(100)
      const deadline = Date.now() + 5000
      const handle = stressors.launch('fork', {count: 30, kind: 'processes'}, {cgroups: target.dirs(), deadline})
      await handle.ready
      await waitFor('30 children', () => (handle.latest()?.tasks ?? 0) >= 30, 10_000)
      const helper = helperOf(handle)!
      const held = children(handle)
      expect(held.length).toBe(30)
      const killedAt = Date.now()
      process.kill(victim === 'stressor' ? handle.pid! : helper, 'SIGKILL')
      await waitFor('every child gone', () => [helper, ...held].every((pid) => !alive(pid)), deadline + 2000 - Date.now())
      const goneMs = Date.now() - killedAt
      console.log(`kill -9 of the ${victim}: its ${held.length} children gone ${goneMs} ms later (${deadline - Date.now()} ms before the deadline)`)
      expect(Date.now()).toBeLessThan(deadline + 2000)
      await sleep(Math.max(0, deadline + 2000 - Date.now()))
      expect([helper, ...held].filter(alive)).toEqual([])
      expect(titled(handle).filter(alive)).toEqual([])
    })
  }
})

describe('the demo workload with --spawn', () => {
  it('answers 503 when the kernel refuses its fork, and 200 again once the pids are given back', async () => {
    const target = box(60)
    const dataDir = mkdtempSync(join(tmpdir(), 'chaos-spawn-'))
    const workload = spawn(process.execPath, ['bin/run.js', 'workload', '--port', '19331', '--spawn', '--data-dir', dataDir], {stdio: 'ignore'})
    try {
      target.addProcess(workload.pid!)
      const work = async () => {
        const response = await fetch('http://127.0.0.1:19331/work', {signal: AbortSignal.timeout(2000)})
        return {status: response.status, body: await response.text()}
      }
      await waitForAsync('the workload answering', async () => (await work().catch(() => undefined))?.status === 200)
      expect(await work()).toEqual({status: 200, body: '{"ok":true}'})
      const handle = stressors.launch('fork', {count: 100, kind: 'processes'}, {cgroups: target.dirs(), deadline: Date.now() + 30_000})
      await handle.ready
      await waitFor('the box full', () => (handle.latest()?.refused ?? 0) > 0, 10_000)
      const during = await Promise.all(Array.from({length: 10}, () => work()))
      console.log(`--spawn with the box's pids taken: ${during.filter((r) => r.status === 503).length} of 10 requests answered 503`)
      expect(during.filter((r) => r.status === 503).length).toBeGreaterThan(0)
      expect(during.find((r) => r.status === 503)!.body).toBe('{"error":"EAGAIN"}')
      await stressors.stop()
      await waitForAsync('200 again', async () => (await work()).status === 200)
    } finally {
      workload.kill('SIGTERM')
      await new Promise((resolve) => workload.once('exit', resolve))
      rmSync(dataDir, {recursive: true, force: true})
    }
  })
})

async function waitForAsync(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await probe().catch(() => false))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** An experiment of experiments/, on this file's ports, shortened as the suite's runs are. */
function onTestPorts(file: string) {
  const text = readFileSync(file, 'utf8').replaceAll('19141', '19331').replaceAll('19142', '19332')
  expect(text).toContain('19332')
  const experiment = parseExperiment(text, file)
  experiment.phases = {...experiment.phases, warmup: 2000, baseline: 4000, inject: 6000, recover: 0}
  experiment.verdict = {...experiment.verdict, design: 'windows'}
  return experiment
}

describe('the process-exhaustion experiments', () => {
  it('process-exhaustion.yaml: the worker\'s own pids limit refuses its fork bomb; the API keeps forking', async () => {
    const journal = await runExperiment({experiment: onTestPorts('experiments/process-exhaustion.yaml'), file: 'experiments/process-exhaustion.yaml'})
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    console.log(`process-exhaustion (contained expected): verdict ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/pids limit of 64 refused \d+ more: the dose pressed the boundary/)
    expect(journal.plan.join('\n')).toMatch(/process-exhaustion: 200 processes at 100\/s, held, charged to cgroup: cgroup \/chaos-\w+\/worker \(a pids limit of 64, which will refuse the rest\)/)
    // the mechanism: the API, in its own box, still ran its program in (nearly) every request
    expect(errors.faultCount).toBeGreaterThan(150) // 6 s at 40 requests a second
    expect(errors.fault).toBeLessThan(0.01)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
  })

  it('process-exhaustion-shared.yaml: the worker takes the shared pids budget and the API\'s requests fail with 503', async () => {
    const journal = await runExperiment({experiment: onTestPorts('experiments/process-exhaustion-shared.yaml'), file: 'experiments/process-exhaustion-shared.yaml'})
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    console.log(`process-exhaustion-shared (breach expected): verdict ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/pids limit of 128 refused \d+ more/)
    // the mechanism: before the fault the API's forks succeed; during it the kernel refuses them
    expect(errors.baseline).toBeLessThan(0.01)
    expect(errors.fault).toBeGreaterThan(0.2)
    expect(errors.verdict).toBe('breach')
  })
})
