// Shared by the stressor integration tests: launch real stressors, track them, and prove nothing is left behind.
import {readFileSync} from 'node:fs'
import {expect} from 'vitest'
import type {StressorArgs, StressorKind, StressorParams} from '../../src/stressors/protocol.js'
import {listStressorProcesses, spawnStressor, type SpawnStressorOptions, type StressorHandle, type StressorProcess} from '../../src/stressors/spawn.js'

/**
 * One test file's stressors. Run ids are `it<pid><prefix><n>`: give each file its own prefix so that
 * the files' run ids stay distinct.
 */
export function stressorTracker(prefix: string) {
  const handles: StressorHandle[] = []
  const runIds = new Set<string>()
  let launches = 0

  /** a fresh run id, tracked (checked by leftovers() and stopAll()) */
  function nextRunId(): string {
    const runId = `it${process.pid}${prefix}${launches++}`
    runIds.add(runId)
    return runId
  }
  function launch(kind: StressorKind, params: StressorParams, extra: Partial<StressorArgs> = {}, options?: SpawnStressorOptions): StressorHandle {
    const handle = spawnStressor({kind, runId: nextRunId(), deadline: Date.now() + 60_000, parent: process.pid, cgroups: [], params, ...extra}, options)
    handles.push(handle)
    return handle
  }
  /** stops every stressor launched since the last stop; returns them */
  async function stop(): Promise<StressorHandle[]> {
    const stopping = handles.splice(0)
    await Promise.all(stopping.map((handle) => handle.stop()))
    return stopping
  }
  /** the stopped stressors are not running */
  function expectStopped(stopped: StressorHandle[], isAlive: (pid: number) => boolean = alive): void {
    for (const handle of stopped) if (handle.pid) expect(isAlive(handle.pid), `stressor ${handle.pid} still running`).toBe(false)
  }
  /** stressor processes of this file's runs still there */
  function leftovers(): StressorProcess[] {
    return listStressorProcesses().filter((p) => runIds.has(p.runId))
  }
  /** stops them all and proves none is left, of them or of any other run of this file */
  async function stopAll(): Promise<void> {
    expectStopped(await stop())
    expect(leftovers()).toEqual([])
  }

  return {
    handles,
    runIds,
    /** how many run ids were handed out: the next one ends in this number */
    get launches() {
      return launches
    },
    nextRunId,
    launch,
    stop,
    expectStopped,
    leftovers,
    stopAll,
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // an exited child nobody has reaped yet is not running
  return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

export function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000, pollMs = 20): Promise<T> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = probe()
      if (value !== undefined && value !== false) return resolve(value)
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, pollMs)
    }
    tick()
  })
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
