// process-exhaustion, a fork bomb with a brake: its schema, its refusals before anything starts (safety.maxProcesses,
// half of pid_max, threads' stacks against safety.maxMemory, a platform without pids accounting), its dose maths
// and how it proves the dose from the target's own pids accounting.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import {parseCountRate} from '../../src/experiment/units.js'
import {planFaultBeforeSetup} from '../../src/faults/fault.js'
import {driverFor} from '../../src/faults/index.js'
import {askedBy, describeForkDose, forkDose, forkEfficacy, processExhaustion, readPidMax, THREAD_STACK_BYTES} from '../../src/faults/process-exhaustion.js'
import {readCgroupSample, sharedBoxFigures} from '../../src/metrics/resources.js'
import {PlanError} from '../../src/platforms/platform.js'
import {createPlatform} from '../../src/platforms/registry.js'
import {runExperiment} from '../../src/run/runner.js'
import {parseStressorArgv} from '../../src/stressors/args.js'
import {parseForkLine} from '../../src/stressors/fork.js'
import {ADHOC_KINDS, STRESSOR_PROCESS, STRESSOR_TITLE, stressorTitle} from '../../src/stressors/kinds.js'
import {stressorArgv} from '../../src/stressors/protocol.js'
import {planAdhoc} from '../../src/stress/adhoc.js'
import {SPAWN_PROGRAM, spawnAnswer, startSpawner} from '../../src/workload/server.js'
import {fromYaml} from '../helpers/experiments.js'
import {fakePlatform} from '../helpers/fake-platform.js'
import {refusal} from '../helpers/refusal.js'

const MiB = 1024 ** 2

const experiment = (fault: string, {safety = '', platform = 'process', level = 'cgroup'} = {}) => fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: forks}
platform: ${platform}
target: {name: worker, ${platform === 'docker' ? 'image: chaos-demo:local, ' : ''}run: [sleep, "60"], isolation: {level: ${level}, pids: 64}}
neighbors: [{name: api, ${platform === 'docker' ? 'image: chaos-demo:local, ' : ''}run: [sleep, "60"]}]
fault: ${fault}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
${safety}
`)

type Spec = Extract<Experiment['fault'], {type: 'process-exhaustion'}>
const specOf = (e: Experiment) => e.fault as Spec


/** What the fault's plan reads of a platform: the target's boundary, and the tasks capability (its pids limit). */
const withTasks = (limit: number | undefined) => fakePlatform({target: {boundary: 'cgroup: cgroup /chaos-x/worker'}, capabilities: {tasks: {taskLimit: () => limit}}})

describe('process-exhaustion: the schema', () => {
  it('reads count, a rate in things per second, and the kind (processes by default)', () => {
    const e = experiment('{type: process-exhaustion, count: 200, rate: 50/s}')
    expect(e.fault).toEqual({type: 'process-exhaustion', count: 200, rate: 50, kind: 'processes'})
    expect(e.safety.maxProcesses).toBe(2000)
    expect(specOf(experiment('{type: process-exhaustion, count: 10, kind: threads}'))).toEqual({type: 'process-exhaustion', count: 10, kind: 'threads'})
  })

  it('refuses a count that is not a positive whole number, a rate it cannot read and an unknown kind', () => {
    expect(() => experiment('{type: process-exhaustion, count: 0}')).toThrow(/count/)
    expect(() => experiment('{type: process-exhaustion, count: 2.5}')).toThrow(/count/)
    expect(() => experiment('{type: process-exhaustion, count: 10, rate: fast}')).toThrow(/fault\.rate: expected a rate above 0\/s and at most 100000\/s such as 50\/s, got "fast"/)
    expect(() => experiment('{type: process-exhaustion, count: 10, kind: fibers}')).toThrow(/kind/)
    expect(() => experiment('{type: process-exhaustion, count: 10, hold: true}')).toThrow(/hold/)
  })

  it('parses rates as people write them', () => {
    expect(parseCountRate('50/s')).toBe(50)
    expect(parseCountRate('2.5 / s')).toBe(2.5)
    expect(parseCountRate('100')).toBe(100)
    expect(parseCountRate(7)).toBe(7)
    expect(parseCountRate('0/s')).toBeUndefined()
    expect(parseCountRate('50/m')).toBeUndefined()
    expect(parseCountRate(-1)).toBeUndefined()
  })
})

describe('process-exhaustion: the refusals', () => {
  const safety = {maxProcesses: 2000, maxMemory: 8 * 1024 ** 3}

  it('refuses a count above safety.maxProcesses, naming the cap and how to raise it', () => {
    expect(refusal(() => forkDose({count: 2001, kind: 'processes'}, safety, 4_194_304)).message)
      .toBe('process-exhaustion: count 2001 is above safety.maxProcesses (2000); raise safety.maxProcesses in the experiment if you mean it')
    expect(forkDose({count: 2000, kind: 'processes'}, safety, 4_194_304)).toEqual({count: 2000, kind: 'processes'})
  })

  it('refuses a count above half of the kernel\'s pid_max, whatever safety.maxProcesses allows', () => {
    const error = refusal(() => forkDose({count: 501, kind: 'processes'}, {...safety, maxProcesses: 100_000}, 1000))
    expect(error.message).toMatch(/count 501 is above half of this machine's pid_max \(1000\)/)
    expect(error.exitCode).toBe(2)
    expect(forkDose({count: 500, rate: 20, kind: 'processes'}, {...safety, maxProcesses: 100_000}, 1000)).toEqual({count: 500, rate: 20, kind: 'processes'})
    // this machine's own pid_max is read from /proc
    expect(readPidMax()).toBeGreaterThan(300)
    const dir = mkdtempSync(join(tmpdir(), 'chaos-pidmax-'))
    writeFileSync(join(dir, 'pid_max'), 'not a number\n')
    expect(readPidMax(join(dir, 'pid_max'))).toBeUndefined()
    rmSync(dir, {recursive: true, force: true})
  })

  it('refuses threads whose stacks could take more than safety.maxMemory', () => {
    expect(THREAD_STACK_BYTES).toBe(8 * MiB)
    const error = refusal(() => forkDose({count: 200, kind: 'threads'}, {maxProcesses: 2000, maxMemory: 1024 * MiB}, 4_194_304))
    expect(error.message).toBe('process-exhaustion: 200 threads with a stack of 8.0Mi each could take 1.6Gi, above safety.maxMemory (1.0Gi); lower count or raise safety.maxMemory')
    // the same count as processes carries no stack of its own to refuse
    expect(forkDose({count: 200, kind: 'processes'}, {maxProcesses: 2000, maxMemory: 1024 * MiB}, 4_194_304).count).toBe(200)
    expect(forkDose({count: 128, kind: 'threads'}, {maxProcesses: 2000, maxMemory: 1024 * MiB}, 4_194_304).count).toBe(128)
  })

  it('is refused in a dry run on the process platform, before anything starts (exit 2)', async () => {
    const e = experiment('{type: process-exhaustion, count: 2500}')
    const error = await runExperiment({experiment: e, dryRun: true}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(PlanError)
    expect((error as PlanError).exitCode).toBe(2)
    expect((error as PlanError).message).toMatch(/above safety\.maxProcesses \(2000\)/)
    // raised, it is planned, and the dry run shows the dose against the target's own pids limit
    const journal = await runExperiment({experiment: experiment('{type: process-exhaustion, count: 2500, rate: 100/s}', {safety: 'safety: {maxProcesses: 3000}'}), dryRun: true})
      .catch((caught: unknown) => caught)
    if (journal instanceof PlanError) {
      // a machine whose pid_max is small refuses it for that reason instead
      expect(journal.message).toMatch(/half of this machine's pid_max/)
    } else {
      expect((journal as {plan: string[]}).plan.join('\n')).toMatch(/process-exhaustion: 2500 processes at 100\/s, held/)
    }
  })

  it('is refused on a platform without pids accounting to fork into, naming the fault and the platform', () => {
    const error = refusal(() => processExhaustion.guard(specOf(experiment('{type: process-exhaustion, count: 10}')), experiment('{type: process-exhaustion, count: 10}'), fakePlatform()))
    expect(error.message).toBe('process-exhaustion needs processes forked into the target\'s own box and counted by its pids accounting, which platform fake does not offer')
  })

  it('is offered by platform docker, which says the pids limit of the target container or of the shared parent', async () => {
    const e = experiment('{type: process-exhaustion, count: 10}', {platform: 'docker', level: 'container'})
    const docker = await createPlatform({experiment: e, runId: 'test'})
    expect(docker.capabilities.tasks?.taskLimit()).toBe(64)
    // the guardrails before setup; the dose against the container once the engine has made it
    expect(planFaultBeforeSetup(driverFor(e.fault), e, docker)).toEqual({line: expect.stringMatching(/^process-exhaustion: 10 processes as fast as possible, held \(guardrails checked/), complete: false})
    const shared = experiment('{type: process-exhaustion, count: 10}', {platform: 'docker', level: 'shared', safety: 'shared: {pids: 128}'})
    expect((await createPlatform({experiment: shared, runId: 'test'})).capabilities.tasks?.taskLimit()).toBe(128)
    const none = experiment('{type: process-exhaustion, count: 10}', {platform: 'docker', level: 'none'})
    expect((await createPlatform({experiment: none, runId: 'test'})).capabilities.tasks?.taskLimit()).toBeUndefined()
  })

  it('is refused on platform kubernetes, before anything is created: a pod\'s pids limit is the node\'s to set', async () => {
    const e = fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: forks}
platform: kubernetes
target: {name: worker, pods: {namespace: shop, selector: "app=worker"}}
neighbors: [{name: api, pods: {namespace: shop, selector: "app=api"}}]
fault: {type: process-exhaustion, count: 10}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
`)
    const k8s = await createPlatform({experiment: e, runId: 'test'})
    expect(refusal(() => planFaultBeforeSetup(driverFor(e.fault), e, k8s)).message)
      .toBe('process-exhaustion needs processes forked into the target\'s own box and counted by its pids accounting, which platform kubernetes does not offer')
  })

  it('is offered by the process platform, which says the target\'s pids limit', async () => {
    const e = experiment('{type: process-exhaustion, count: 10}')
    const platform = await createPlatform({experiment: e, runId: 'test'})
    expect(platform.capabilities.tasks?.taskLimit()).toBe(64)
    const shared = experiment('{type: process-exhaustion, count: 10}', {level: 'shared', safety: 'shared: {pids: 128}'})
    expect((await createPlatform({experiment: shared, runId: 'test'})).capabilities.tasks?.taskLimit()).toBe(128)
  })
})

describe('process-exhaustion: the plan and the dose', () => {
  it('plans the dose against the target\'s pids limit, and says when it will refuse the rest', () => {
    const e = experiment('{type: process-exhaustion, count: 200, rate: 100/s}')
    expect(processExhaustion.plan(specOf(e), e, withTasks(64)))
      .toBe('process-exhaustion: 200 processes at 100/s, held, charged to cgroup: cgroup /chaos-x/worker (a pids limit of 64, which will refuse the rest)')
    expect(processExhaustion.plan(specOf(e), e, withTasks(undefined))).toMatch(/\(no pids limit\)$/)
    expect(processExhaustion.plan(specOf(e), e, withTasks(1000))).toMatch(/\(a pids limit of 1000\)$/)
  })

  it('asks for the ramp at its rate, capped at count; unbounded asks for all of it at once', () => {
    expect(askedBy({count: 200, rate: 50, kind: 'processes'}, 2)).toBe(100)
    expect(askedBy({count: 200, rate: 50, kind: 'processes'}, 10)).toBe(200)
    expect(askedBy({count: 200, rate: 50, kind: 'processes'}, 0)).toBe(1)
    expect(askedBy({count: 200, kind: 'processes'}, 0.1)).toBe(200)
    expect(describeForkDose({count: 200, rate: 50, kind: 'processes'})).toBe('200 processes at 50/s')
    expect(describeForkDose({count: 8, kind: 'threads'})).toBe('8 threads as fast as possible')
  })

  it('has a null dose of two processes, still one the pids accounting sees', () => {
    const spec = specOf(experiment('{type: process-exhaustion, count: 200, rate: 50/s, kind: threads}'))
    expect(processExhaustion.nullDose(spec)).toEqual({type: 'process-exhaustion', count: 2, kind: 'processes'})
  })

  it('is what chaos stress fork runs, with the same caps', () => {
    expect(ADHOC_KINDS).toContain('fork')
    expect(planAdhoc({kind: 'fork', durationMs: 5000, count: 50, forkRate: 25})).toEqual({params: {count: 50, rate: 25, kind: 'processes'}, describe: 'fork: 50 processes at 25/s, held'})
    expect(refusal(() => planAdhoc({kind: 'fork', durationMs: 5000})).message).toMatch(/needs --count/)
    expect(refusal(() => planAdhoc({kind: 'fork', durationMs: 5000, count: 3000})).message).toMatch(/above safety\.maxProcesses \(2000\)/)
    expect(refusal(() => planAdhoc({kind: 'fork', durationMs: 5000, count: 100, maxProcesses: 50})).message).toMatch(/above safety\.maxProcesses \(50\)/)
  })
})

describe('process-exhaustion: efficacy from the target\'s pids accounting', () => {
  const figures = {boundary: 'cgroup: cgroup /chaos-x/worker', kind: 'processes' as const}

  it('lands when the box grew by what was asked and the stressor holds it', () => {
    const e = forkEfficacy({...figures, asked: 100, held: 100, boxBefore: 12, boxAfter: 124, refusedBefore: 0, refusedAfter: 0})
    expect(e).toMatchObject({landed: true, asked: 100, achieved: 100, ratio: 1, unit: 'processes'})
    expect(e.note).toBe('100 of 100 processes asked held, from the target\'s pids accounting (pids.current 12 → 124)')
  })

  it('lands when the box\'s own pids limit refused the rest: the dose pressed the boundary', () => {
    const e = forkEfficacy({...figures, asked: 200, held: 40, boxBefore: 12, boxAfter: 64, refusedBefore: 3, refusedAfter: 250, limit: 64})
    expect(e.landed).toBe(true)
    expect(e.achieved).toBe(40)
    expect(e.ratio).toBeCloseTo(0.2)
    expect(e.note).toBe('40 processes held in cgroup: cgroup /chaos-x/worker (pids.current 12 → 64), then its pids limit of 64 refused 247 more: the dose pressed the boundary')
  })

  it('does not land when the children are not in the target\'s box, whatever the stressor says', () => {
    // the stressor holds 100, but the box grew by only its own dozen tasks: they were charged elsewhere
    const e = forkEfficacy({...figures, asked: 100, held: 100, boxBefore: 12, boxAfter: 24, refusedBefore: 0, refusedAfter: 0})
    expect(e).toMatchObject({landed: false, achieved: 12})
    // refusals that are not the box's (the host's pid_max) do not prove pressure on the boundary
    expect(forkEfficacy({...figures, asked: 100, held: 30, boxBefore: 12, boxAfter: 50, refusedBefore: 0, refusedAfter: 0}).landed).toBe(false)
  })

  it('falls back to the stressor\'s own count where the target has no pids accounting, and says so', () => {
    const e = forkEfficacy({...figures, asked: 50, held: 48})
    expect(e).toMatchObject({landed: true, achieved: 48})
    expect(e.note).toMatch(/from the stressor's own count/)
    expect(forkEfficacy({...figures, asked: 50, held: 10}).landed).toBe(false)
  })
})

describe('the pids accounting in a resource sample', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  })
  const fake = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-pids-'))
    dirs.push(dir)
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    return dir
  }

  it('reads pids.current, pids.max and the max counter of pids.events on cgroup v2', () => {
    const dir = fake({'pids.current': '57\n', 'pids.max': '64\n', 'pids.events': 'max 311\n', 'memory.current': '4096\n'})
    expect(readCgroupSample({version: 2, dir})).toEqual({t: expect.any(Number), memoryBytes: 4096, tasks: 57, tasksLimit: 64, tasksRefused: 311})
    // no limit: "max" is no number
    const unlimited = fake({'pids.current': '3\n', 'pids.max': 'max\n', 'pids.events': 'max 0\n'})
    expect(readCgroupSample({version: 2, dir: unlimited})).toEqual({t: expect.any(Number), tasks: 3, tasksRefused: 0})
  })

  it('reads them from the pids hierarchy on cgroup v1, and leaves them out without one', () => {
    const pids = fake({'pids.current': '9\n', 'pids.max': '256\n', 'pids.events': 'max 2\n'})
    expect(readCgroupSample({version: 1, pids})).toEqual({t: expect.any(Number), tasks: 9, tasksLimit: 256, tasksRefused: 2})
    const memory = fake({'memory.usage_in_bytes': '8192\n'})
    expect(readCgroupSample({version: 1, memory})).toEqual({t: expect.any(Number), memoryBytes: 8192})
  })

  it('gives a member of a shared box the box\'s pids budget, with its own CPU and memory', () => {
    const own = {t: 1, cpuSeconds: 2, memoryBytes: 100}
    const box = {t: 1, cpuSeconds: 9, memoryBytes: 900, oomKills: 1, tasks: 128, tasksLimit: 128, tasksRefused: 40, periods: 5}
    expect(sharedBoxFigures(own, box)).toEqual({t: 1, cpuSeconds: 2, memoryBytes: 100, oomKills: 1, periods: 5, tasks: 128, tasksLimit: 128, tasksRefused: 40})
  })

  it('counts the box\'s refusals where the kernel put them: in the member that forked (v1 here) or in the box', () => {
    // a container under its shared parent: the parent's limit refused 37 forks the container made; this kernel
    // counts them in the container's own pids.events and leaves the parent's at 0
    const box = {t: 1, tasks: 128, tasksLimit: 128, tasksRefused: 0}
    expect(sharedBoxFigures({t: 1, tasks: 90, tasksRefused: 37}, box)).toMatchObject({tasks: 128, tasksLimit: 128, tasksRefused: 37})
    // hierarchical counting (v2 since 6.13): the parent's count holds the member's
    expect(sharedBoxFigures({t: 1, tasksRefused: 37}, {...box, tasksRefused: 52})).toMatchObject({tasksRefused: 52})
    expect(sharedBoxFigures({t: 1}, {...box, tasksRefused: 5})).toMatchObject({tasksRefused: 5})
  })
})

describe('the fork stressor kind', () => {
  it('reads its parameters through the argument parser, and refuses bad ones', () => {
    const args = {kind: 'fork' as const, runId: 'abcd1234', deadline: 1_900_000_000_000, parent: 42, cgroups: ['/sys/fs/cgroup/pids/chaos-x/worker'], params: {count: 200, rate: 50, kind: 'threads' as const}}
    expect(parseStressorArgv(stressorArgv(args))).toEqual(args)
    expect(parseStressorArgv(stressorArgv({...args, params: {count: 3, kind: 'processes'}})).params).toEqual({count: 3, kind: 'processes'})
    expect(() => parseStressorArgv(stressorArgv({...args, params: {count: 0, kind: 'processes'}}))).toThrow(/fork: count must be within/)
    expect(() => parseStressorArgv(stressorArgv({...args, params: {count: 3, kind: 'fibers'} as never}))).toThrow(/fork: kind must be one of processes, threads/)
  })

  it('names its helper and children with the stressor\'s title, which cleanup and the leftover check find', () => {
    const title = stressorTitle('fork', 'abcd1234')
    // the helper's cmdline: argv0 is the title, then perl's own arguments
    const cmdline = `${title} -e use strict; 1700000000000 200 50 processes 157 4242`
    expect(STRESSOR_TITLE.exec(cmdline)?.slice(1)).toEqual(['fork', 'abcd1234'])
    expect(STRESSOR_PROCESS.exec(cmdline)?.slice(1)).toEqual(['fork', 'abcd1234'])
  })

  it('reads the helper\'s lines', () => {
    expect(parseForkLine('tasks 40 refused 7\n')).toEqual({tasks: 40, refused: 7})
    expect(parseForkLine('perl: warning')).toBeUndefined()
  })
})

describe('the demo workload\'s --spawn', () => {
  it('runs its program to the end once per request, and says why one could not start', async () => {
    expect(SPAWN_PROGRAM).toEqual(['/bin/true'])
    const spawner = startSpawner(SPAWN_PROGRAM)
    try {
      expect(await Promise.all([spawner.run(), spawner.run(), spawner.run()])).toEqual([{code: 0}, {code: 0}, {code: 0}])
    } finally {
      spawner.close()
    }
    const failing = startSpawner(['/bin/sh', '-c', 'exit 3'])
    expect(await failing.run()).toEqual({code: 3})
    failing.close()
    const missing = startSpawner(['/nonexistent/chaos-program'])
    expect(await missing.run()).toEqual({code: 127})
    missing.close()
    expect(await missing.run()).toMatchObject({code: null, error: expect.stringMatching(/^spawner ended/)})
    expect(spawnAnswer('EAGAIN')).toEqual({code: null, error: 'EAGAIN'})
    expect(spawnAnswer('exit 0')).toEqual({code: 0})
    expect(spawnAnswer('errno 12')).toEqual({code: null, error: 'errno 12'})
  })
})
