// Every guardrail refuses before anything starts, with a message that names the limit and how to change it.
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import {planFill} from '../../src/faults/disk-fill.js'
import {memoryLeak} from '../../src/faults/memory-leak.js'
import {destinationAllowed, networkFlood} from '../../src/faults/network-flood.js'
import {PlanError, type Platform} from '../../src/platforms/platform.js'
import {runExperiment} from '../../src/run/runner.js'
import {fromYaml} from '../helpers/experiments.js'
import {fakePlatform} from '../helpers/fake-platform.js'

const base = (fault: string, safety = '') => fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: guard}
target: {name: worker, run: [sleep, "60"], isolation: {level: cgroup, memory: 256Mi}}
neighbors: [{name: api, run: [sleep, "60"]}]
fault: ${fault}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
${safety}
`)

const root = mkdtempSync(join(tmpdir(), 'chaos-guard-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))
let made = 0
const tempDir = () => {
  const dir = join(root, String(made++))
  mkdirSync(dir)
  return dir
}

/** What the fault plans read of a platform: the target's boundary and allowance, and the fill directory. */
function platformWith(dir?: string): Platform {
  return fakePlatform({
    target: {boundary: 'cgroup /chaos-x/worker', allowance: () => ({cpus: 1, cpuSource: 'host', memoryLimit: 256 * 1024 ** 2})},
    fillDirectory: (_v: string | undefined, path: string | undefined) => ({dir: dir ?? path!, createdByExperiment: false}),
  })
}

function refusal(action: () => unknown): PlanError {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError)
    return error as PlanError
  }
  throw new Error('expected a refusal')
}

describe('guardrails', () => {
  it('caps the memory a leak may take (safety.maxMemory)', () => {
    const e = base('{type: memory-leak, rate: 64Mi/s, limit: 16Gi}')
    const error = refusal(() => memoryLeak.plan(e.fault as never, e, platformWith()))
    expect(error.message).toMatch(/fault.limit 16.0Gi is above safety.maxMemory \(8.0Gi\); raise safety.maxMemory/)
  })

  it('refuses a disk fill outside safety.allowPaths, naming the setting', () => {
    const dir = tempDir()
    const e = base(`{type: disk-fill, path: ${dir}, size: 1Mi}`)
    const error = refusal(() => planFill(e.fault as never, e, platformWith(), false))
    expect(error.message).toMatch(/is not under safety.allowPaths \(empty\); add it there/)
  })

  it('refuses a path that escapes an allowed directory through ..', () => {
    const dir = tempDir()
    const e = base(`{type: disk-fill, path: "${dir}/../", size: 1Mi}`, `safety: {allowPaths: ["${dir}"]}`)
    expect(refusal(() => planFill(e.fault as never, e, platformWith(), false)).message).toMatch(/not under safety.allowPaths/)
  })

  it('keeps the disk floor on a filesystem the experiment did not create', () => {
    const dir = tempDir()
    const e = base(`{type: disk-fill, path: ${dir}, size: 100%}`, `safety: {allowPaths: ["${dir}"], maxDisk: 1Ti}`)
    const error = refusal(() => planFill(e.fault as never, e, platformWith(), false))
    expect(error.message).toMatch(/would leave less than safety.diskFloor \(10%, .*\) free; at most .* can be written there\. Lower fault.size or safety.diskFloor/)
  })

  it('caps a disk fill at safety.maxDisk', () => {
    const dir = tempDir()
    const e = base(`{type: disk-fill, path: ${dir}, size: 2Gi}`, `safety: {allowPaths: ["${dir}"], maxDisk: 1Gi, diskFloor: 1%}`)
    expect(refusal(() => planFill(e.fault as never, e, platformWith(), false)).message).toMatch(/above safety.maxDisk \(1.0Gi\); raise safety.maxDisk/)
  })

  it('floods only loopback, the sink, or safety.allowHosts', () => {
    const e = base('{type: network-flood, destination: {host: 10.1.2.3, port: 5201}}')
    expect(refusal(() => networkFlood.plan(e.fault as never, e, platformWith())).message).toMatch(/10.1.2.3 is not allowed: .* safety.allowHosts/)
    const allowed = base('{type: network-flood, destination: {host: 10.1.2.3, port: 5201}}', 'safety: {allowHosts: [10.1.0.0/16]}')
    expect(() => networkFlood.plan(allowed.fault as never, allowed, platformWith())).not.toThrow()
    expect(destinationAllowed('127.0.0.9', e)).toBe(true)
    expect(destinationAllowed('::1', e)).toBe(true)
    expect(destinationAllowed('localhost', e)).toBe(false)
    expect(destinationAllowed('8.8.8.8', allowed)).toBe(false)
  })

  it('refuses phases longer than safety.maxDuration before creating anything', async () => {
    const e: Experiment = base('{type: cpu-hog, load: 50%}', 'safety: {maxDuration: 8s}')
    await expect(runExperiment({experiment: e, runId: 'guard001'})).rejects.toThrow(/above safety.maxDuration \(8s\); raise safety.maxDuration/)
  })
})
