// How a memory leak's dose is judged from how its stressor ended and what the target's memory did. The stressor
// is a double here (its exit is set by the test, when the test says); the kernel's side runs in
// test/integration/stressor-cgroup.test.ts and the platforms' end-to-end tests.
import {describe, expect, it} from 'vitest'

import type {FaultContext, InjectWindow} from '../../src/faults/fault.js'
import {memoryLeak} from '../../src/faults/memory-leak.js'
import type {StressorPlacement} from '../../src/platforms/platform.js'
import {recordingLauncher} from '../../src/run/stressor-events.js'
import type {StressorMessage} from '../../src/stressors/protocol.js'
import type {StressorExit, StressorHandle} from '../../src/stressors/spawn.js'
import {fromYaml} from '../helpers/experiments.js'
import {fakePlatform} from '../helpers/fake-platform.js'

const Mi = 1024 ** 2
const experiment = fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: leak}
target: {name: worker, run: [sleep, "60"], isolation: {level: cgroup, memory: 256Mi}}
neighbors: [{name: api, run: [sleep, "60"]}]
fault: {type: memory-leak, rate: 128Mi/s, limit: 1Gi}
phases: {baseline: 5s, inject: 4s}
hypothesis: [{signal: error_rate, max: 1%}]
`)

/**
 * A stressor whose end the test decides: exit(e) ends it; stop() ends it as a SIGTERM would, unless already over,
 * or (remote) leaves the end to exit(e), as a helper's report read after the stop.
 */
function controlledStressor(leakedBytes: number, remote = false) {
  let end!: (exit: StressorExit) => void
  const exited = new Promise<StressorExit>((resolve) => { end = resolve })
  let over = false
  const listeners: ((message: StressorMessage) => void)[] = []
  const emit = (message: StressorMessage) => { for (const listener of listeners) listener(message) }
  const exit = (e: StressorExit) => {
    over = true
    end(e)
  }
  const handle: StressorHandle = {
    args: {kind: 'memory', runId: 'r', deadline: 0, parent: 1, cgroups: [], params: {rate: 0, limit: 0, hold: true}},
    pid: undefined,
    ready: Promise.resolve({type: 'ready', pid: 1, t: 0}) as StressorHandle['ready'],
    exited,
    latest: () => ({type: 'progress', bytes: leakedBytes, t: 0}) as ReturnType<StressorHandle['latest']>,
    onMessage: (listener) => {
      listeners.push(listener)
      return () => undefined
    },
    stderr: () => '',
    async stop() {
      if (!over && !remote) exit({code: 0, signal: null, reason: 'signal'})
      return exited
    },
  }
  return {handle, exit, emit}
}

function context(handle: StressorHandle, events: string[] = []): FaultContext {
  const platform = fakePlatform({
    target: {boundary: 'the worker container', allowance: () => ({cpus: 1, cpuSource: 'quota', memoryLimit: 256 * Mi})},
    launchStressor: (_p: StressorPlacement) => handle,
  })
  return {experiment, platform, runId: 'r', deadline: Date.now() + 10_000, log: () => undefined, launchStressor: recordingLauncher(platform, Date.now(), (l) => events.push(l))}
}

/** A 3.6 s inject window ending now. */
const window = (peak: number | undefined): InjectWindow => {
  const end = Date.now()
  return {
    startedAt: end - 3600, endedAt: end, ownBox: false,
    before: {t: end - 3600, memoryBytes: 40 * Mi}, after: {t: end, memoryBytes: 40 * Mi}, peakMemoryBytes: peak,
  }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('memory-leak efficacy', () => {
  it('a kill the handle calls the OOM killer\'s lands, even when it is learned after the stop was asked', async () => {
    const {handle, exit} = controlledStressor(199 * Mi, true)
    const fault = await memoryLeak.start(experiment.fault as never, context(handle))
    // a remote stressor: the inject phase asks it to stop, and only then is its helper's report of the kill read
    const stopping = fault.stop()
    exit({code: null, signal: 'SIGKILL', killedBy: 'oom-or-sigkill'})
    await stopping
    const e = fault.efficacy(window(undefined))
    expect(e.landed, e.note).toBe(true)
    expect(e.note).toMatch(/OOM-killed by the limit of the worker container/)
  })

  it('a SIGKILL the stop itself sent (escalation) is not the kernel\'s', async () => {
    const {handle, exit} = controlledStressor(100 * Mi, true)
    const fault = await memoryLeak.start(experiment.fault as never, context(handle))
    const stopping = fault.stop()
    exit({code: null, signal: 'SIGKILL', forced: true})
    await stopping
    const e = fault.efficacy(window(undefined))
    expect(e.landed).toBe(false)
    expect(e.note).toBe('the target\'s memory grew by 100Mi of 461Mi asked')
  })

  it('held at its limit without an OOM kill (stalled for a second), the leak landed as far as the boundary allows', async () => {
    const {handle, emit} = controlledStressor(199 * Mi)
    const fault = await memoryLeak.start(experiment.fault as never, context(handle))
    emit({type: 'progress', t: Date.now(), bytes: 199 * Mi})
    await sleep(1100)
    await fault.stop()
    const held = fault.efficacy(window(250 * Mi))
    expect(held.landed, held.note).toBe(true)
    expect(held.asked).toBe(256 * Mi)
    expect(held.note).toMatch(/took the target to 250Mi of its 256Mi limit and was held there/)
    // short of the limit, the same leak did not land
    const short = fault.efficacy(window(200 * Mi))
    expect(short.landed).toBe(false)
  })

  it('a box full at its limit while the leak still grows (page cache being evicted) is not a held leak', async () => {
    const {handle, emit} = controlledStressor(120 * Mi)
    const fault = await memoryLeak.start(experiment.fault as never, context(handle))
    for (const bytes of [40, 80, 120]) {
      emit({type: 'progress', t: Date.now(), bytes: bytes * Mi})
      await sleep(300)
    }
    await fault.stop()
    const e = fault.efficacy(window(250 * Mi))
    expect(e.landed, e.note).toBe(false)
    expect(e.note).toBe('the target\'s memory grew by 120Mi of 461Mi asked')
  })

  it('records the stressor\'s life in the injection events: ready, and whether it ended before the stop', async () => {
    const events: string[] = []
    const early = controlledStressor(10 * Mi)
    const fault = await memoryLeak.start(experiment.fault as never, context(early.handle, events))
    early.exit({code: null, signal: 'SIGKILL', killedBy: 'oom-or-sigkill'})
    await new Promise((resolve) => setImmediate(resolve))
    await fault.stop()
    await new Promise((resolve) => setImmediate(resolve))
    expect(events).toEqual([
      expect.stringMatching(/^\+\d+\.\d\d s memory stressor ready$/),
      expect.stringMatching(/^\+\d+\.\d\d s memory stressor ended before it was asked to stop: killed by SIGKILL, oom-or-sigkill$/),
    ])
    const later: string[] = []
    const late = controlledStressor(10 * Mi)
    const second = await memoryLeak.start(experiment.fault as never, context(late.handle, later))
    await second.stop()
    await new Promise((resolve) => setImmediate(resolve))
    expect(later[1]).toMatch(/^\+\d+\.\d\d s memory stressor ended after the stop asked at \+\d+\.\d\d s: exit code 0, reason signal$/)
  })
})
