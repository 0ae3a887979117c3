// Every guardrail refuses before anything starts, with a message that names the limit and how to change it.
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import {planFill} from '../../src/faults/disk-fill.js'
import {planFaultAfterSetup, planFaultBeforeSetup} from '../../src/faults/fault.js'
import {memoryLeak} from '../../src/faults/memory-leak.js'
import {destinationAllowed, networkFlood} from '../../src/faults/network-flood.js'
import {PlanError, type Platform} from '../../src/platforms/platform.js'
import type {CgroupLayout} from '../../src/host/cgroupfs.js'
import {attachedCgroupPath, systemCgroup, systemTarget, toolkitLineage} from '../../src/platforms/process/system-target.js'
import {runExperiment} from '../../src/run/runner.js'
import {fromYaml} from '../helpers/experiments.js'
import {fakePlatform} from '../helpers/fake-platform.js'
import {refusal} from '../helpers/refusal.js'

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

/** What the fault plans read of a platform: the target's boundary and allowance, a fill directory and a flood's sink. */
function platformWith(dir?: string): Platform {
  return fakePlatform({
    target: {boundary: 'cgroup /chaos-x/worker', allowance: () => ({cpus: 1, cpuSource: 'host', memoryLimit: 256 * 1024 ** 2})},
    capabilities: {
      localFill: {fillDirectory: (_v, path) => ({dir: dir ?? path!, createdByExperiment: false})},
      flood: {flood: () => ({sinkHost: '127.0.0.1', inNamespace: false})},
    },
  })
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

  it('floods toward the target only where the platform can place a receiver in it, and only from its own source', () => {
    const receive = base('{type: network-flood, direction: receive}')
    const sends = fakePlatform({capabilities: {flood: {flood: () => ({sinkHost: '127.0.0.1', inNamespace: false})}}})
    expect(refusal(() => networkFlood.guard(receive.fault as never, receive, sends)).message)
      .toBe('network-flood direction receive: the fake platform cannot yet place a source in the sink\'s place and a receiver in the target; the process, docker and host platforms can')
    const both = fakePlatform({capabilities: {flood: {flood: () => ({sinkHost: '127.0.0.1', inNamespace: false}), floodsTowardTarget: true}}})
    expect(networkFlood.guard(receive.fault as never, receive, both)).toBe('network-flood: tcp x4 from the experiment\'s source to a receiver in the target at full speed')
    // a receive flood never comes from another host
    expect(() => base('{type: network-flood, direction: receive, destination: {host: 127.0.0.1, port: 5201}}')).toThrow(/a receive flood comes from a source the toolkit starts in the sink's place, never from another host: destination must be sink/)
  })

  it('refuses phases longer than safety.maxDuration before creating anything', async () => {
    const e: Experiment = base('{type: cpu-hog, load: 50%}', 'safety: {maxDuration: 8s}')
    await expect(runExperiment({experiment: e, runId: 'guard001'})).rejects.toThrow(/above safety.maxDuration \(8s\); raise safety.maxDuration/)
  })

  it('checks a fault\'s guardrails before setup on a platform whose target exists only after it, and the rest right after', () => {
    // a platform before setup: no target yet (reading it would throw)
    const beforeSetup = {get target(): never {
      throw new Error('the target does not exist before setup')
    }, capabilities: {flood: {flood: () => ({sinkHost: '127.0.0.1', inNamespace: false})}}} as unknown as Platform
    const flood = base('{type: network-flood, destination: {host: 8.8.8.8, port: 53}}')
    expect(refusal(() => planFaultBeforeSetup(networkFlood, flood, beforeSetup)).message).toMatch(/8.8.8.8 is not allowed/)
    const leak = base('{type: memory-leak, rate: 64Mi/s, limit: 100Gi}')
    expect(refusal(() => planFaultBeforeSetup(memoryLeak, leak, beforeSetup)).message).toMatch(/100Gi is above safety.maxMemory/)
    const relative = base('{type: memory-leak, rate: 64Mi/s, limit: 50%}', 'safety: {maxMemory: 64Mi}')
    expect(planFaultBeforeSetup(memoryLeak, relative, beforeSetup)).toEqual({complete: false, line: expect.stringMatching(/^memory-leak: 64.0Mi\/s up to 50% of the target's memory limit, held \(guardrails checked; the dose .* once setup has made it\)$/)})
    // after setup: 50% of 256Mi is above the 64Mi cap, which only the running target's limit could tell
    const error = refusal(() => planFaultAfterSetup(memoryLeak, relative, platformWith()))
    expect(error.message).toMatch(/^fault.limit 128Mi is above safety.maxMemory \(64.0Mi\).* \(this needs the target's boundary, cgroup \/chaos-x\/worker, which exists only once setup has made it, so it could not be refused before/)
  })

  it('refuses a fault whose need the platform does not offer, naming it; a remote fill is planned from the platform\'s figures', () => {
    const bare = fakePlatform({target: {boundary: 'pod x'}})
    expect(refusal(() => networkFlood.guard(base('{type: network-flood}').fault as never, base('{type: network-flood}'), bare)).message)
      .toBe('network-flood needs a network from the target to flood, which platform fake does not offer')
    const fill = base('{type: disk-fill, path: /data, size: 32Mi}', 'safety: {allowPaths: [/data]}')
    expect(refusal(() => planFill(fill.fault as never, fill, bare, false)).message).toBe('disk-fill needs a filesystem on this machine to fill, which platform fake does not offer')
    // a platform whose capability refuses the target's shape says so before the fault's own guardrails
    const oneContainer = fakePlatform({capabilities: {flood: {flood: () => ({sinkHost: '127.0.0.1', inNamespace: true}), checkFlood: () => {
      throw new PlanError('three pods were picked')
    }}}})
    const offLimits = base('{type: network-flood, destination: {host: 8.8.8.8, port: 53}}')
    expect(refusal(() => networkFlood.guard(offLimits.fault as never, offLimits, oneContainer)).message).toBe('three pods were picked')
    // the fill lands where the platform says, a percentage of what it names; the path is checked as the target sees it
    const remote = fakePlatform({capabilities: {remoteFill: {remoteFill: ({path}) => ({where: `${path} in the pod`, percentOf: {bytes: 64 * 1024 ** 2, what: 'its limit'}})}}})
    const half = base('{type: disk-fill, path: /data, size: 50%}', 'safety: {allowPaths: [/data]}')
    expect(planFill(half.fault as never, half, remote, true)).toMatchObject({dir: '/data', bytes: 32 * 1024 ** 2, remote: expect.stringMatching(/^\/data in the pod \(50% of its limit, 64.0Mi\)/)})
    const elsewhere = base('{type: disk-fill, path: /etc, size: 1Mi}', 'safety: {allowPaths: [/data]}')
    expect(refusal(() => planFill(elsewhere.fault as never, elsewhere, remote, true)).message).toMatch(/^disk-fill path \/etc is not under safety.allowPaths \(\/data\); on this platform the paths are as the target container sees them/)
  })

  it('a bare number where a percentage is asked is refused with what was meant', () => {
    expect(() => base('{type: cpu-hog, load: 50}')).toThrow(/fault.load: 50 is a bare number: did you mean 50%\?/)
    expect(() => base('{type: memory-leak, rate: 64Mi/s, limit: 0.5}')).toThrow(/fault.limit: 0.5 is a bare number: did you mean 0.5% or 50% or 0.5Mi\?/)
    expect(() => base('{type: disk-fill, path: /tmp, size: "90"}')).toThrow(/fault.size: 90 is a bare number: did you mean 90% or 90Mi\?/)
    expect(() => base('{type: cpu-hog, load: 50%}', 'safety: {diskFloor: 10}')).toThrow(/safety.diskFloor: 10 is a bare number: did you mean 10%\?/)
  })
})

describe('a target that is the machine itself', () => {
  const v1: CgroupLayout = {version: 1, root: '/sys/fs/cgroup', mounts: {memory: '/sys/fs/cgroup/memory'}}
  const v2: CgroupLayout = {version: 2, root: '/sys/fs/cgroup'}

  it('reads an attached cgroup the same way given under the mount or not, v1 and v2', () => {
    expect(attachedCgroupPath('/sys/fs/cgroup/memory/system.slice/cron.service', v1)).toBe('system.slice/cron.service')
    expect(attachedCgroupPath('/sys/fs/cgroup/memory', v1)).toBe('')
    expect(attachedCgroupPath('/sys/fs/cgroup/', v1)).toBe('')
    expect(attachedCgroupPath('/app/../', v1)).toBe('')
    expect(attachedCgroupPath('/sys/fs/cgroup/app/worker', v2)).toBe('app/worker')
    expect(attachedCgroupPath('/sys/fs/cgroup', v2)).toBe('')
    expect(attachedCgroupPath('/app/worker/', v2)).toBe('app/worker')
  })

  it('names the root cgroup, systemd\'s units, the toolkit\'s boxes and its own cgroup and those above it', () => {
    expect(systemCgroup('', undefined)).toMatch(/the root cgroup/)
    for (const unit of ['system.slice', 'init.scope', 'user.slice', 'machine.slice', '-.slice']) expect(systemCgroup(`${unit}/x`, undefined)).toMatch(new RegExp(`the cgroup ${unit.replace('.', '\\.')} of the machine's own services`))
    expect(systemCgroup('chaos-1a2b3c4d/worker', undefined)).toMatch(/a box the toolkit made/)
    expect(systemCgroup('ci/runner', 'ci/runner')).toMatch(/the toolkit's own cgroup \(\/ci\/runner\)/)
    expect(systemCgroup('ci', 'ci/runner')).toMatch(/the toolkit's own cgroup/)
    expect(systemCgroup('app/worker', 'ci/runner')).toBeUndefined()
    expect(systemCgroup('ci/runner-2', 'ci/runner')).toBeUndefined()
  })

  it('names PID 1, the toolkit and the processes that started it', () => {
    expect(systemTarget({pid: 1}, undefined)).toBe('PID 1, the machine\'s init')
    expect(systemTarget({pid: process.pid}, undefined)).toBe(`pid ${process.pid}, the toolkit itself`)
    expect(toolkitLineage()[0]).toBe(process.pid)
    expect(systemTarget({pid: process.ppid}, undefined)).toMatch(/a process that started the toolkit/)
    expect(systemTarget({cgroup: '/system.slice'}, v2)).toMatch(/system\.slice/)
  })

  it('is refused in the plan, naming safety.allowSystem, and allowed with it', async () => {
    const onInit = (safety: string) => fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: init}
target: {name: worker, pid: 1}
neighbors: [{name: api, run: [sleep, "60"]}]
fault: {type: memory-leak, rate: 1Mi/s, limit: 8Mi}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
${safety}
`)
    await expect(runExperiment({experiment: onInit(''), dryRun: true})).rejects.toThrow(/target worker is PID 1, the machine's init\. .*set safety\.allowSystem: true in the experiment if you mean it/)
    const journal = await runExperiment({experiment: onInit('safety: {allowSystem: true}'), dryRun: true})
    expect(journal.plan).toContain('target worker: attached (pid 1), isolation as found')
  })
})
