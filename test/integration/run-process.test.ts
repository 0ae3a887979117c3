// The run loop end to end on the process platform, with real cgroups, processes, tmpfs mounts and network
// namespaces: each fault lands in the target's own boundary, the journal holds the contract's fields, and nothing
// is left behind. Phases are shortened here; the full experiments and their verdicts run in test/slow.
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, readlinkSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

import {describe, expect, it} from 'vitest'

import {DEFAULT_CPU_WEIGHT, v1CpuShares} from '../../src/host/cgroupfs.js'
import {PlanError} from '../../src/platforms/platform.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import {runExperiment} from '../../src/run/runner.js'
import {ledgerDir} from '../../src/rollback/ledger.js'
import {fromYaml, interleaved, shortened} from '../helpers/experiments.js'
import {leftovers, waitForNoLeftovers} from '../helpers/leftovers.js'
import {cgroupLine, ownCpuset} from '../helpers/own-box.js'

async function run(file: string, extra: Parameters<typeof runExperiment>[0] extends infer O ? Partial<O> : never = {}) {
  const journal = await runExperiment({experiment: shortened(file), file, ...extra})
  expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
  expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  expect(existsSync(`${ledgerDir()}/${journal.runId}.json`)).toBe(false)
  return journal
}

/** Live processes whose command line starts with this title. */
function pidsTitled(title: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').startsWith(title)
    } catch {
      return false
    }
  }).map(Number)
}

describe('chaos run on the process platform', () => {
  it('memory-leak: the leak fills the target\'s own box and the kernel stops it there, and the instrument may share its idle core', async () => {
    // the toolkit (this process, and the probe it starts) runs in a box of its own, free to use the worker's core
    // (cpuset "1"): the worker's box is idle there, so the probe preempts it at once, where kept to core 0 it
    // queued behind whatever else the machine put there (docs/isolation-findings.md)
    const instrumentCpus: string[] = []
    let instrumentBox: string | undefined
    // the worker's box is idle (isolation.cpuIdle): read from its cpu hierarchy while the run holds it
    let workerIdle: string | undefined
    const journal = await run('experiments/memory-leak.yaml', {onEvent: (event) => {
      if (event.type === 'log' && /ready/.test(event.line) && instrumentCpus.length === 0) {
        instrumentCpus.push(ownCpuset())
        instrumentBox = cgroupLine(process.pid, 'cpu')
        const runBox = instrumentBox!.replace(/\/toolkit$/, '')
        workerIdle = readFileSync(`/sys/fs/cgroup/cpu${runBox}/worker/cpu.idle`, 'utf8').trim()
      }
    }})
    expect(journal.plan).toContainEqual(expect.stringMatching(/the toolkit's probe runs in a box of its own with a high CPU weight, on any CPU; it may share 1 with the target, whose box is idle there$/))
    expect(journal.plan).toContainEqual(expect.stringMatching(/^target worker: .*cpuset 1, cpu idle \(runs only on CPU time nothing else wants\)\]$/))
    expect(instrumentBox).toBe(`/chaos-${journal.runId}/toolkit`)
    expect(instrumentCpus).toEqual(['0-1'])
    expect(workerIdle).toBe('1')
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/OOM-killed/)
    expect(journal.platform).toBe('process')
    expect(journal.phases.baseline?.start).toBeTruthy()
    expect(journal.neighbors[0].name).toBe('api')
    expect(journal.neighbors[0].signals.map((s) => s.signal)).toEqual(['error_rate', 'restarts', 'latency_p95', 'latency_p99'])
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    for (const s of journal.neighbors[0].signals) expect(['contained', 'breach', 'inconclusive']).toContain(s.verdict)
  })

  it('memory-leak-shared: in one box the OOM killer takes the API, and its death, counted when it happened, decides a breach', async () => {
    const file = 'experiments/memory-leak-shared.yaml'
    const journal = await run(file, {experiment: interleaved(shortened(file))})
    const story = JSON.stringify({exit: journal.neighbors[0].lastExit, blocks: journal.design?.blocks.map((b) => `${b.arm} ${b.start}-${b.end}`), events: journal.injection.events})
    expect(journal.neighbors[0].unexpectedExits, story).toBeGreaterThanOrEqual(1)
    expect(journal.neighbors[0].lastExit).toMatch(/SIGKILL/)
    // the process platform knows when its child ended: the exit counts in the episode it happened in
    expect(journal.neighbors[0].signals.find((s) => s.signal === 'restarts')?.verdict, story).toBe('breach')
    expect(journal.verdict).toBe('breach')
  })

  it('cpu-hog: the target\'s cgroup burns the CPU asked of its allowance; the run\'s cgroup weighs what its boxes do', async () => {
    // a process the embedding program starts mid-run inherits the instrument's box; it is not the run's to kill
    // (CI lost its freshly restarted dockerd this way when the run's cgroup was removed)
    let bystander: ChildProcess | undefined
    let runShares: {run: number, api: number, worker: number} | undefined
    let instrumentCpus: string | undefined
    const shares = (path: string) => Number(readFileSync(`/sys/fs/cgroup/cpu/${path}/cpu.shares`, 'utf8'))
    const journal = await run('experiments/cpu-hog.yaml', {
      onEvent: (event) => {
        if (event.type === 'tick' && instrumentCpus === undefined) instrumentCpus = ownCpuset()
        if (event.type === 'tick' && !bystander) bystander = spawn('sleep', ['60'], {stdio: 'ignore'})
        if (event.type === 'tick' && runShares === undefined) {
          const runBox = readdirSync('/sys/fs/cgroup/cpu').find((d) => d.startsWith('chaos-') && existsSync(`/sys/fs/cgroup/cpu/${d}/api`))
          if (runBox) runShares = {run: shares(runBox), api: shares(`${runBox}/api`), worker: shares(`${runBox}/worker`)}
        }
      },
    })
    // the API's weight 10000 counts against the host's other work only if the run's own cgroup weighs as much
    // (the sum of its boxes', capped at the kernel's largest): left at the default it would weigh one process
    expect(runShares).toEqual({run: v1CpuShares(10_000), api: v1CpuShares(10_000), worker: v1CpuShares(DEFAULT_CPU_WEIGHT)})
    // the hog has core 1 and the API core 0: the instrument kept to either would sit on a boundary under test
    expect(journal.plan).toContainEqual(expect.stringMatching(/a high CPU weight, on any CPU: the target and its neighbours are pinned to all of them \(0,1\)$/))
    expect(instrumentCpus).toBe('0-1')
    expect(bystander?.pid).toBeDefined()
    expect(bystander!.exitCode, 'the bystander was killed by the teardown').toBeNull()
    expect(bystander!.signalCode, 'the bystander was killed by the teardown').toBeNull()
    bystander!.kill()
    const efficacy = journal.injection.efficacy!
    expect(efficacy.unit).toBe('cpu-seconds')
    expect(efficacy.note).toMatch(/cgroup accounting/)
    expect(efficacy.ratio).toBeGreaterThan(0.9)
    expect(efficacy.ratio).toBeLessThan(1.1)
  })

  it('a hog that cannot have the core it asks, because the API it slows holds part of it, breaches at the dose it got', async () => {
    // worker and API pinned to the same core in boxes of their own, the worker's weighing twice the API's: the hog
    // asks the whole core, the API's own work (about a third of a core at 100 requests/s) keeps a share of it, so
    // the dose lands short of 90% but above half, and the API waits behind the hog. A breach at that dose stands;
    // the run says so instead of stopping after three blocks with no verdict (verdict/judge.ts BREACH_DOSE_FLOOR)
    const experiment = interleaved(fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: cpu-hog-one-core}
platform: process
target:
  name: worker
  run: [chaos, workload, --port, "19111", --data-dir, "\${run.dir}/worker"]
  isolation: {level: cgroup, cpuset: "1", memory: 256Mi, cpuWeight: 200}
neighbors:
  - name: api
    run: [chaos, workload, --port, "19112", --data-dir, "\${run.dir}/api"]
    isolation: {level: cgroup, cpuset: "1", memory: 256Mi}
    probe: {http: {url: "http://127.0.0.1:19112/work", rate: 100}}
fault: {type: cpu-hog, load: 100%}
phases: {baseline: 4s, inject: 4s, recover: 0s, warmup: 2s}
hypothesis:
  - {signal: latency_p50, max_increase: 25%}
  - {signal: latency_p95, max_increase: 50%}
expect: breach
`), 60_000)
    const lines: string[] = []
    const journal = await runExperiment({experiment, onEvent: (event) => {
      if (event.type === 'log') lines.push(event.line)
    }})
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    const efficacy = journal.injection.efficacy!
    expect(efficacy.landed).toBe(false)
    expect(efficacy.partial).toBe(true)
    expect(efficacy.ratio).toBeGreaterThanOrEqual(0.5)
    expect(efficacy.ratio).toBeLessThan(0.9)
    expect(lines).toContainEqual(expect.stringMatching(/^the dose fell short of the one asked \((\d+(\.\d)?%, ){2}\d+(\.\d)?% of it in the first 3 fault blocks\), at least 50% each: judging these pairs for a breach only$/))
    expect(journal.verdict).toBe('breach')
    expect(journal.reason).toMatch(/; at a short dose, \d+(\.\d)?% of the cpu-seconds asked \(landed in full in 0 of \d+ fault blocks, at least 50% in the \d+ judged for a breach only; /)
    expect(journal.design?.stoppedBecause).toMatch(/^decided breach after \d+ usable pairs$/)
    expect(journal.exitCode).toBe(ExitCode.Matched)
  })

  it('disk-fill: fills the experiment\'s own tmpfs to the last byte and unmounts it after', async () => {
    const journal = await run('experiments/disk-fill.yaml')
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/full/)
  })

  it('disk-fill into a shared filesystem makes the neighbour\'s writes fail', async () => {
    const journal = await run('experiments/disk-fill-shared.yaml')
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(errors.fault).toBeGreaterThan(0.5)
    expect(errors.verdict).toBe('breach')
    expect(journal.exitCode).toBe(ExitCode.Matched)
  })

  it('network-flood: the target floods through its own shaped link, at the link\'s rate, and the sink is charged to its box too', async () => {
    // the sink is part of the fault: left at the root, its receiving cost landed on the neighbour's cores and read as
    // the boundary's failure (p95 +15-17% where the shaped flood itself costs about +5%)
    const sinkBoxes = new Set<string>()
    const journal = await run('experiments/network-flood.yaml', {
      onEvent: (event) => {
        if (event.type !== 'tick' || event.phase !== 'inject') return
        for (const pid of pidsTitled('chaos-stressor sink')) {
          const line = cgroupLine(pid, 'memory')
          if (line) sinkBoxes.add(line)
        }
      },
    })
    expect([...sinkBoxes]).toEqual([`/chaos-${journal.runId}/worker`])
    const efficacy = journal.injection.efficacy!
    expect(efficacy.landed).toBe(true)
    // tbf at 100Mbit: TCP fills it, and nothing crosses faster than the shaping allows
    expect(efficacy.achieved).toBeGreaterThan(85e6)
    expect(efficacy.achieved).toBeLessThan(110e6)
  })

  it('network-flood without a boundary floods loopback at full speed', async () => {
    const journal = await run('experiments/network-flood-none.yaml')
    expect(journal.injection.efficacy?.achieved).toBeGreaterThan(1e9)
  })

  it('network-flood-receive: a source on the far end floods a receiver in the target\'s namespace, held to the link\'s ingress rate, both charged to its box', async () => {
    const netOf = (pid: number) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/net`)
      } catch {
        return undefined
      }
    }
    const seen = {receiver: new Set<string>(), source: new Set<string>(), worker: new Set<string>(), boxes: new Set<string>()}
    const journal = await run('experiments/network-flood-receive.yaml', {
      onEvent: (event) => {
        if (event.type !== 'tick' || event.phase !== 'inject') return
        for (const [title, into] of [['chaos-stressor sink', seen.receiver], ['chaos-stressor flood', seen.source]] as const) {
          for (const pid of pidsTitled(title)) {
            const ns = netOf(pid)
            if (ns) into.add(ns)
            const box = cgroupLine(pid, 'memory')
            if (box) seen.boxes.add(box)
          }
        }
        for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)) {
          try {
            if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('workload\0--port\x0019171')) seen.worker.add(netOf(pid)!)
          } catch { /* gone */ }
        }
      },
    })
    // the receiver is where the worker is; the source is elsewhere (the sink's namespace), never the host's
    expect([...seen.receiver]).toEqual([...seen.worker])
    expect(seen.source.size).toBe(1)
    expect([...seen.source][0]).not.toBe([...seen.worker][0])
    expect([...seen.source][0]).not.toBe(readlinkSync('/proc/self/ns/net'))
    expect([...seen.boxes]).toEqual([`/chaos-${journal.runId}/worker`])
    const efficacy = journal.injection.efficacy!
    console.log(`network-flood-receive: ${journal.verdict}; ${efficacy.note}`)
    expect(efficacy.landed).toBe(true)
    expect(efficacy.note).toMatch(/received by the target \(unbounded, capped by the target's link at 100.0Mbit\/s inbound\)/)
    // tbf at 100Mbit on the far end's egress: TCP fills it, and nothing arrives faster than the shaping allows
    expect(efficacy.achieved).toBeGreaterThan(85e6)
    expect(efficacy.achieved).toBeLessThan(110e6)
  })

  it('network-flood-receive without a boundary: the target receives on loopback at full speed', async () => {
    const journal = await run('experiments/network-flood-receive-none.yaml')
    console.log(`network-flood-receive-none: ${journal.verdict}; ${journal.injection.efficacy?.note}`)
    expect(journal.injection.efficacy?.achieved).toBeGreaterThan(1e9)
  })

  it('an interrupt during injection removes the fault at once and exits 3', async () => {
    const controller = new AbortController()
    let injecting = 0
    const journalPromise = runExperiment({
      experiment: shortened('experiments/cpu-hog.yaml', {baseline: 3000, inject: 20_000, recover: 5000}),
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'phase' && e.phase === 'inject') injecting = Date.now()
        if (e.type === 'tick' && e.phase === 'inject' && e.elapsedMs > 1500) controller.abort()
      },
    })
    const journal = await journalPromise
    expect(injecting).toBeGreaterThan(0)
    expect(journal.verdict).toBe('aborted')
    expect(journal.exitCode).toBe(ExitCode.Aborted)
    expect(journal.rollback.complete).toBe(true)
    expect(journal.rollback.durationMs).toBeLessThan(1000)
    expect(leftovers(journal.runId)).toEqual([])
  })

  it('an abort condition stops the injection at once and says which condition fired', async () => {
    const experiment = shortened('experiments/disk-fill-shared.yaml', {baseline: 4000, inject: 20_000, recover: 5000})
    experiment.safety.abort = [{signal: 'error_rate', above: 0.2, window: 2000}]
    const journal = await runExperiment({experiment})
    expect(journal.verdict).toBe('aborted')
    expect(journal.exitCode).toBe(ExitCode.Aborted)
    expect(journal.reason).toMatch(/abort condition fired: api error_rate was \d+(\.\d)?%, above 20\.0%/)
    const injected = Date.parse(journal.phases.inject!.end) - Date.parse(journal.phases.inject!.start)
    expect(injected).toBeLessThan(8000)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('a metrics endpoint that dies mid-injection stops the fault within two intervals: inconclusive, exit 4', async () => {
    // the neighbour's /metrics served apart from it, so the measurement can die while the neighbour lives
    // it starts answering only once the plan is made: before that, an answering URL is refused as someone else's
    const metrics = createServer((_req, res) => res.end('# TYPE up gauge\nup 1\n'))
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    const experiment = shortened('experiments/cpu-hog.yaml', {baseline: 4000, inject: 20_000, recover: 5000})
    experiment.neighbors[0].metrics = `http://127.0.0.1:${port}/metrics`
    let killedAt = 0
    let faultGoneAt = 0
    const journal = await runExperiment({
      experiment,
      onEvent: (e) => {
        if (e.type === 'plan') metrics.listen(port, '127.0.0.1')
        if (e.type === 'tick' && e.phase === 'inject' && e.elapsedMs > 2000 && killedAt === 0) {
          killedAt = Date.now()
          metrics.closeAllConnections()
          metrics.close()
        }
        if (e.type === 'phase' && e.phase === 'rollback' && faultGoneAt === 0) faultGoneAt = Date.now()
      },
    })
    expect(journal.exitCode).toBe(ExitCode.Inconclusive)
    expect(journal.verdict).toBe('inconclusive')
    expect(journal.reason).toMatch(/metrics endpoint of api .* stopped answering for two intervals/)
    // the injection ended (the fault removed) within two intervals of the endpoint dying, plus one to notice
    expect(Date.parse(journal.phases.inject!.end) - killedAt).toBeLessThan(3000)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })

  it('refuses a cpuset naming a CPU the host does not have, before creating anything', async () => {
    const experiment = shortened('experiments/cpu-hog.yaml')
    experiment.target.isolation.cpuset = '7'
    await expect(runExperiment({experiment, runId: 'feedbeef'})).rejects.toThrow(PlanError)
    expect(existsSync(`${ledgerDir()}/feedbeef.json`)).toBe(false)
    expect(leftovers('feedbeef')).toEqual([])
  })

  it('refuses a target attached by systemd unit with what is true of this machine, before creating anything', async () => {
    const experiment = fromYaml(`apiVersion: chaos/v1
kind: Experiment
metadata: {name: unit-target}
platform: process
target: {name: worker, unit: worker.service}
neighbors: [{name: api, run: [sleep, "3600"], isolation: {level: cgroup}}]
fault: {type: memory-leak, rate: 1Mi/s, limit: 8Mi}
phases: {baseline: 3s, inject: 3s, recover: 0s, warmup: 0s}
hypothesis: [{signal: error_rate, max: 1%}]
`)
    // sd_booted(): a machine booted with systemd is told the way in that works there; one without, that it has none
    const booted = existsSync('/run/systemd/system')
    await expect(runExperiment({experiment, runId: 'feedbeee'})).rejects.toMatchObject(booted
      ? {exitCode: 2, message: expect.stringMatching(/worker: attaching to a systemd unit is not supported yet\. .*systemctl show -p ControlGroup --value worker\.service/)}
      : {exitCode: 4, message: expect.stringMatching(/worker: attaching to a systemd unit needs systemd, and this machine was not booted with it/)})
    expect(existsSync(`${ledgerDir()}/feedbeee.json`)).toBe(false)
    expect(leftovers('feedbeee')).toEqual([])
  })
})
