// The Docker platform end to end against a real engine (no mocks): the memory-leak pair of experiments/docker,
// shortened. The contained case's own container limit stops the leak; the breach case's shared cgroup parent
// lets it take the API container down. Every container and network is labelled with the run and gone after.
// Skipped only when no engine answers AND CHAOS_REQUIRE_DOCKER is unset (.ci/run sets it: CI never skips).
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'

import {beforeAll, describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import type {Experiment} from '../../src/experiment/schema.js'
import {detectCgroupLayout, ioWeightUnsupported} from '../../src/host/cgroupfs.js'
import {containerCgroup} from '../../src/platforms/docker/cgroups.js'
import {engineProblem} from '../../src/platforms/docker/engine.js'
import {PlanError} from '../../src/platforms/platform.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import {newRunId, runExperiment} from '../../src/run/runner.js'
import {fromYaml, interleaved} from '../helpers/experiments.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'

const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER

/** An experiment of experiments/docker on ports of this test's own (192xx -> 193xx), shortened. */
function experiment(name: string): Experiment {
  const file = `experiments/docker/${name}.yaml`
  const parsed = parseExperiment(readFileSync(file, 'utf8').replace(/\b192(\d\d)\b/g, '193$1'), file)
  // Interleaved blocks of 2 s: the leak's block is its whole episode (it reaches its limit and is OOM-killed in about
  // 2 s, a burst of page faults and reclaim on this 2-core machine), and the fault-off block beside it is as long, so
  // that burst is compared with the machine's own bursts rather than diluted in a long window or owning a short one.
  parsed.phases = {...parsed.phases, warmup: 2000}
  // three pairs of two 2 s blocks, a 0.5 s settle after each block and the container's start-up, with a margin
  interleaved(parsed, 18_000)
  return parsed
}

/** An experiment of experiments/docker on this test's ports, as one baseline and one fault window (mechanics, not small changes). */
function windows(name: string): Experiment {
  const file = `experiments/docker/${name}.yaml`
  const parsed = parseExperiment(readFileSync(file, 'utf8').replace(/\b192(\d\d)\b/g, '193$1'), file)
  parsed.phases = {...parsed.phases, warmup: 2000, baseline: 4000, inject: 6000, recover: 0}
  parsed.verdict = {...parsed.verdict, design: 'windows'}
  return parsed
}

function labelled(runId: string): {containers: string[], networks: string[]} {
  const list = (args: string[]) => execFileSync('docker', args, {encoding: 'utf8'}).split('\n').filter(Boolean)
  return {
    containers: list(['ps', '-a', '--filter', `label=chaos.run=${runId}`, '--format', '{{.Names}}']),
    networks: list(['network', 'ls', '--filter', `label=chaos.run=${runId}`, '--format', '{{.Name}}']),
  }
}

/** A container's cpu.idle, read from the host in the cgroup the platform itself finds for it (v1 cpu hierarchy, or v2). */
function containerCpuIdle(name: string): string {
  const pid = Number(execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', name], {encoding: 'utf8'}).trim())
  const paths = containerCgroup(pid, detectCgroupLayout())!.paths
  return readFileSync(`${paths.version === 2 ? paths.dir : paths.cpu}/cpu.idle`, 'utf8').trim()
}

describe.skipIf(skip)('chaos run on the docker platform', () => {
  beforeAll(() => {
    // offline and idempotent: the engine, and chaos-demo:local from the local Node and the built package
    execFileSync('bash', ['scripts/docker-images.sh'], {stdio: 'inherit'})
  }, 120_000)

  it('memory-leak: the target container\'s own limit stops the leak; labelled containers and network are removed after', async () => {
    let during: ReturnType<typeof labelled> | undefined
    // the worker's isolation.cpuIdle has no engine setting: the toolkit writes cpu.idle into the container's cgroup
    let workerIdle: string | undefined
    const runId = newRunId()
    const journal = await runExperiment({
      experiment: experiment('memory-leak'),
      runId,
      onEvent: (event) => {
        if (event.type === 'phase' && event.phase === 'baseline') {
          during = labelled(runId)
          workerIdle = containerCpuIdle(`chaos-${runId}-worker`)
        }
      },
    })
    expect(workerIdle).toBe('1')
    expect(journal.platform).toBe('docker')
    expect(during?.containers.sort()).toEqual([`chaos-${journal.runId}-api`, `chaos-${journal.runId}-worker`])
    expect(during?.networks).toEqual([`chaos-${journal.runId}`])
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/OOM-killed by the limit of container: container chaos-/)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    // on failure, say which signal moved and how
    const signals = journal.neighbors[0].signals.map((s) => ({signal: s.signal, verdict: s.verdict, change: s.change, reason: s.reason, baseline: s.baseline, fault: s.fault}))
    // the container's limit holds the memory: no error and no restart. The leak's OOM episode itself lifts the API's
    // tail for a second (README, "What the main job measures"; here, in CI, beyond the p95's +25%), so the latency
    // verdict is what was measured, whichever it is
    for (const name of ['error_rate', 'restarts']) expect(journal.neighbors[0].signals.find((s) => s.signal === name)?.verdict, JSON.stringify(signals)).toBe('contained')
    console.log(`docker memory-leak: ${journal.verdict}; ${signals.map((s) => `${s.signal} ${s.verdict} ${s.change === null ? '' : `${(s.change * 100).toFixed(0)}%`}`).join(', ')}`)
    expect(journal.design?.blocks.filter((b) => b.arm === 'on').every((b) => b.landed)).toBe(true)
    // the last look keeps each latency signal's block statistics, one per pair; the earlier looks do not repeat them
    const last = journal.design!.looks.at(-1)!
    const p95 = last.signals.find((s) => s.signal === 'latency_p95')!
    expect(p95.blocks?.on).toHaveLength(last.pairs)
    expect(p95.blocks?.off).toHaveLength(last.pairs)
    expect(journal.design!.looks.slice(0, -1).every((l) => l.signals.every((s) => s.blocks === undefined))).toBe(true)
    expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
  })

  it('memory-leak-shared: under one cgroup parent the leak gets the API container OOM-killed', async () => {
    const journal = await runExperiment({experiment: experiment('memory-leak-shared')})
    // when it fails, which block the API died in and what each fault block's dose was
    const story = JSON.stringify({exit: journal.neighbors[0].lastExit, blocks: journal.design?.blocks.map((b) => `${b.arm} ${b.start}-${b.end}${b.arm === 'on' ? ` landed ${b.landed}` : ''}`), events: journal.injection.events})
    expect(journal.injection.efficacy?.landed, story).toBe(true)
    expect(journal.neighbors[0].unexpectedExits, story).toBe(1)
    expect(journal.neighbors[0].lastExit).toMatch(/SIGKILL/)
    // the restart is an observed fact: it decides the run at once, whatever the error rate's interval says yet
    const restarts = journal.neighbors[0].signals.find((s) => s.signal === 'restarts')!
    expect(restarts.verdict, `${restarts.reason}: ${story}`).toBe('breach')
    expect(journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!.fault).toBeGreaterThan(0)
    expect(journal.verdict).toBe('breach')
    expect(journal.exitCode).toBe(ExitCode.Matched)
    expect(journal.rollback.complete).toBe(true)
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
    expect(execFileSync('ls', ['/sys/fs/cgroup/memory'], {encoding: 'utf8'})).not.toContain(`chaos-${journal.runId}`)
    // the shared cgroup parent, which runc also made in the hierarchies the toolkit does not use, is gone from all
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('process-exhaustion: the fork stressor\'s children are the worker container\'s tasks, refused by its own pids limit; the API container keeps forking', async () => {
    const journal = await runExperiment({experiment: windows('process-exhaustion')})
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    console.log(`docker process-exhaustion: ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; error_rate ${errors.baseline} -> ${errors.fault}`)
    expect(journal.rollback.complete).toBe(true)
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
    // proven from the container's own pids accounting: its pids.current grew, and its limit refused the rest
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/held in container: container chaos-\w+-worker.*\(pids\.current \d+ → \d+\), then its pids limit of 64 refused \d+ more/)
    // the API, in a container of its own, still ran its program in (nearly) every request
    expect(errors.faultCount).toBeGreaterThan(150)
    expect(errors.fault).toBeLessThan(0.01)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('process-exhaustion-shared: under one cgroup parent the fork bomb takes the pids budget and the API container\'s requests fail with 503', async () => {
    const journal = await runExperiment({experiment: windows('process-exhaustion-shared')})
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    console.log(`docker process-exhaustion-shared: ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; error_rate ${errors.baseline} -> ${errors.fault}`)
    expect(journal.rollback.complete).toBe(true)
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/pids limit of 128 refused \d+ more/)
    // before the fault the API's forks succeed; during it the kernel refuses them (EAGAIN, answered 503)
    expect(errors.baseline).toBeLessThan(0.01)
    expect(errors.fault).toBeGreaterThan(0.2)
    expect(errors.verdict).toBe('breach')
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('io-saturation: the io stressor in the worker container\'s cgroups is held by its own write throttle (BlkioDeviceWriteBps), proven from the container\'s blkio accounting', async () => {
    const journal = await runExperiment({experiment: windows('io-saturation')})
    console.log(`docker io-saturation: ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
    expect(journal.plan.join('\n')).toMatch(/io-saturation: direct writes of 1.0Mi, 2 in flight, .* charged to container: .*\(its throttle on \d+:\d+: write 5.0Mi\/s\)/)
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/pressing the target's own throttle \(write 5.0Mi\/s\), counted by container: container chaos-\w+-worker/)
    expect(journal.injection.efficacy!.achieved / 6).toBeLessThan(7 * 1024 ** 2)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('io-saturation-none: unthrottled, the container\'s writes go as fast as the disk takes them, all counted by its blkio accounting', async () => {
    const journal = await runExperiment({experiment: windows('io-saturation-none')})
    console.log(`docker io-saturation-none: ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy!.achieved / 6).toBeGreaterThan(50 * 1024 ** 2)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('network-flood receive: a source on the host\'s end of the bridge floods a receiver in the worker container, held to 100Mbit by the tbf on the host\'s end of its veth', async () => {
    const lines: string[] = []
    const journal = await runExperiment({experiment: windows('network-flood-receive'), onEvent: (event) => {
      if (event.type === 'log') lines.push(event.line)
    }})
    const note = journal.injection.efficacy?.note
    console.log(`docker network-flood receive: ${journal.verdict}; dose: ${note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(labelled(journal.runId)).toEqual({containers: [], networks: []})
    expect(journal.plan.join('\n')).toMatch(/link 100.0Mbit\/s each way \(tbf on its eth0 and on the host's end of its veth\)/)
    expect(journal.plan.join('\n')).toMatch(/network-flood: tcp x4 from the experiment's source to a receiver in the target at full speed, through the target's own link \(tbf 100.0Mbit\/s on its ingress\)/)
    expect(lines.join('\n')).toMatch(/network: chaos-\w+-worker eth0 <--veth \(tbf 100.0Mbit\/s each way\)--> veth\w+ on chaos-\w+/)
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(note).toMatch(/received by the target \(unbounded, capped by the target's link at 100.0Mbit\/s inbound\)/)
    // the tbf on the host's end holds it: at most the link's rate (and its burst), at least 90% of it
    expect(journal.injection.efficacy!.achieved).toBeGreaterThan(90e6)
    expect(journal.injection.efficacy!.achieved).toBeLessThan(110e6)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('network-flood receive, unshaped: the flood into a container without limits runs at the bridge\'s speed, far beyond the link the contained case has', async () => {
    const journal = await runExperiment({experiment: windows('network-flood-receive-none')})
    console.log(`docker network-flood receive none: ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy!.achieved).toBeGreaterThan(1e9)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('ioWeight: the container\'s blkio weight is the one asked, though the engine discards BlkioWeight on a kernel without CFQ', async () => {
    const experiment = fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: docker-io-weight}
platform: docker
target: {name: worker, image: chaos-demo:local, run: [chaos, workload, --port, "19361"], isolation: {level: container, ioWeight: 300}}
neighbors: [{name: api, image: chaos-demo:local, run: [chaos, workload, --port, "19362"], ports: [19362], isolation: {level: container, ioWeight: 700}, probe: {http: {url: "http://127.0.0.1:19362/work", rate: 20}}}]
fault: {type: cpu-hog, cores: 0.1}
phases: {warmup: 1s, baseline: 3s, inject: 3s, recover: 0s}
verdict: {design: windows}
hypothesis: [{signal: error_rate, max: 1%}]
`)
    const runId = newRunId()
    const weights: Record<string, string> = {}
    const lines: string[] = []
    // a kernel that weighs no cgroup's I/O (no CFQ, no bfq: only the throttle files): refused by the plan, exit 4,
    // before any container exists
    const unweighable = ioWeightUnsupported(detectCgroupLayout())
    if (unweighable !== undefined) {
      const refusal = await runExperiment({experiment, runId}).then(() => undefined, (error: unknown) => error)
      expect(refusal).toBeInstanceOf(PlanError)
      expect((refusal as PlanError).exitCode).toBe(4)
      expect((refusal as PlanError).message).toMatch(/^worker: ioWeight needs blkio\.weight \(CFQ\) or blkio\.bfq\.weight \(bfq\)/)
      expect(execFileSync('docker', ['ps', '-a', '-q', '--filter', `label=chaos.run=${runId}`], {encoding: 'utf8'}).trim()).toBe('')
      return
    }
    const journal = await runExperiment({
      experiment, runId,
      onEvent: (event) => {
        if (event.type === 'log') lines.push(event.line)
        if (event.type !== 'phase' || event.phase !== 'baseline') return
        for (const name of ['worker', 'api']) {
          const pid = execFileSync('docker', ['inspect', '--format', '{{.State.Pid}}', `chaos-${runId}-${name}`], {encoding: 'utf8'}).trim()
          const path = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:blkio:/.test(l))!.split(':')[2]
          const dir = `/sys/fs/cgroup/blkio${path}`
          weights[name] = readFileSync(existsSync(`${dir}/blkio.weight`) ? `${dir}/blkio.weight` : `${dir}/blkio.bfq.weight`, 'utf8').trim()
        }
      },
    })
    expect(journal.rollback.complete).toBe(true)
    expect(weights).toEqual({worker: '300', api: '700'})
    // where the engine set it, nothing is said; where it did not, the run says it wrote the weight itself
    if (!existsSync('/sys/fs/cgroup/blkio/blkio.weight')) expect(lines.join('\n')).toMatch(/worker: the engine did not set BlkioWeight 300/)
  })
})
