// The host platform end to end against a real OpenSSH server the test starts on loopback (test/helpers/sshd.ts):
// the toolkit logs in with ssh2, its agent on the "host" makes the boxes, starts the workflows and charges the fault
// to the target's box, and everything it made is gone after the run, after the CLI is SIGKILLed mid-fault and after
// the SSH connection is cut. The "host" shares this machine's kernel: docs/host.md says what that cannot prove.
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {MAX_CPU_WEIGHT, v1CpuShares} from '../../src/host/cgroupfs.js'
import {runMatrix} from '../../src/matrix/run-matrix.js'
import {hostRunId} from '../../src/platforms/host/index.js'
import {cleanup} from '../../src/rollback/cleanup.js'
import {ledgerDir} from '../../src/rollback/ledger.js'
import {SEPARATE_HOSTS} from '../../src/platforms/host/levels.js'
import {runExperiment} from '../../src/run/runner.js'
import type {Experiment} from '../../src/experiment/schema.js'
import {interleaved, shortened} from '../helpers/experiments.js'
import {agentPids, expectNothingLeft, onTestHost} from '../helpers/host-runs.js'
import {leftovers, waitForNoLeftovers} from '../helpers/leftovers.js'
import {boxCpuShares, cgroupLine, ownCpuset} from '../helpers/own-box.js'
import {type SshHost, startSshd} from '../helpers/sshd.js'

let sshd: SshHost
let dir: string

beforeAll(async () => {
  sshd = await startSshd()
  dir = mkdtempSync(join(tmpdir(), 'chaos-host-test-'))
})

afterAll(async () => {
  await sshd?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

/** An experiment of experiments/host/ pointed at this file's sshd. */
const onApp = (experiment: Experiment) => onTestHost(experiment, sshd)

describe('chaos run on the host platform, over SSH to a real sshd', () => {
  it('memory-leak: the agent charges the leak to the worker\'s own box on the host, the kernel stops it there', async () => {
    const file = 'experiments/host/memory-leak.yaml'
    // the "host" is this machine: the toolkit (this process, and the probe it starts) gets a box of its own here, as
    // the process platform gives it, free to share the worker's core, where the worker's box is idle
    let instrumentCpus: string | undefined
    let instrumentBox: string | undefined
    let runShares: number | undefined
    const journal = await runExperiment({experiment: onApp(shortened(file)), file, onEvent: (event) => {
      if (event.type !== 'tick' || instrumentCpus !== undefined) return
      instrumentCpus = ownCpuset()
      instrumentBox = cgroupLine(process.pid, 'cpu')
      runShares = instrumentBox ? boxCpuShares(dirname(instrumentBox)) : undefined
    }})
    expect(journal.platform).toBe('host')
    expect(journal.plan.join('\n')).toMatch(/host app \(root@127\.0\.0\.1:\d+\): \d+ CPUs, .*; it runs this machine's kernel/)
    expect(journal.plan).toContainEqual(`this machine (host app runs its kernel): the toolkit's probe runs in a box of its own with a high CPU weight, on any CPU; it may share 1 with the target, whose box is idle there, chaos-${journal.runId}/toolkit`)
    expect(instrumentBox).toBe(`/chaos-${journal.runId}/toolkit`)
    expect(instrumentCpus).toBe('0-1')
    // the host's run is a sibling of this one at the root, weighing its boxes' sum: the toolkit's run must not weigh
    // less, or a probe woken on the target's core waits behind the fault there
    expect(runShares, 'the cpu.shares of the toolkit\'s run cgroup here').toBe(v1CpuShares(MAX_CPU_WEIGHT))
    expect(cgroupLine(process.pid, 'cpuset'), 'the toolkit left its box after the run').toBe('/')
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/OOM-killed by the limit of .* on host app/)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    // the box's accounting read on the host arrived: the API's memory holds its 320Mi cache
    const error = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(error.verdict).toBe('contained')
    expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
    await expectNothingLeft(journal.runId)
  })

  it('io-saturation: the agent finds the disk under the run\'s directory on the host, the worker\'s throttle there holds its writes, and its box there counts them', async () => {
    const file = 'experiments/host/io-saturation.yaml'
    const journal = await runExperiment({experiment: onApp(shortened(file)), file})
    const efficacy = journal.injection.efficacy!
    expect(journal.plan.join('\n')).toMatch(/io-saturation: direct writes of 1\.0Mi, 2 in flight, over a 256Mi file in \S+ \(disk \w+, \d+:\d+\) as fast as the disk takes them, charged to cgroup: cgroup \/chaos-[0-9a-f]{8}\/worker on host app \(its throttle on \d+:\d+: write 5\.0Mi\/s\)/)
    expect(efficacy.landed, efficacy.note).toBe(true)
    // counted by the worker's box on the host, read back by its agent after the stressor stopped
    expect(efficacy.note).toMatch(/pressing the target's own throttle \(write 5\.0Mi\/s\), counted by cgroup: cgroup \/chaos-[0-9a-f]{8}\/worker on host app on \w+/)
    expect(efficacy.achieved / 6).toBeLessThan(7 * 1024 ** 2)
    expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
    await expectNothingLeft(journal.runId)
  })

  it('network-flood receive: the agent places the source in the sink\'s namespace and the receiver in the worker\'s, on the host, held by the tbf on the far end of its link', async () => {
    const file = 'experiments/host/network-flood-receive.yaml'
    const journal = await runExperiment({experiment: onApp(shortened(file)), file})
    expect(journal.plan.join('\n')).toMatch(/from the experiment's source to a receiver in the target at full speed, through the target's own link on host app \(tbf 100\.0Mbit\/s each way\)/)
    // the agent sent where the receiver listens and the link's ingress limit: the dose is judged against it
    expect(journal.injection.efficacy?.note).toMatch(/received by the target \(unbounded, capped by the target's link at 100\.0Mbit\/s inbound\)/)
    expect(journal.injection.efficacy?.achieved).toBeGreaterThan(85e6)
    expect(journal.injection.efficacy?.achieved).toBeLessThan(110e6)
    expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
    await expectNothingLeft(journal.runId)
  })

  it('memory-leak-shared: in one box on the host the OOM killer takes the API; its death decides a breach', async () => {
    const file = 'experiments/host/memory-leak-shared.yaml'
    const journal = await runExperiment({experiment: onApp(interleaved(shortened(file))), file})
    const story = JSON.stringify({exit: journal.neighbors[0].lastExit, blocks: journal.design?.blocks.map((b) => `${b.arm} ${b.start}-${b.end}`)})
    expect(journal.neighbors[0].unexpectedExits, story).toBeGreaterThanOrEqual(1)
    expect(journal.neighbors[0].lastExit).toMatch(/SIGKILL/)
    expect(journal.neighbors[0].signals.find((s) => s.signal === 'restarts')?.verdict, story).toBe('breach')
    expect(journal.verdict).toBe('breach')
    await expectNothingLeft(journal.runId)
  })

  it('chaos matrix compares the same-host cgroup level with separate-hosts, where the target moves alone to the spare host', async () => {
    const batch = await startSshd({netns: true})
    try {
      const experiment = onApp(shortened('experiments/host/memory-leak.yaml'))
      // a spare host no workflow names: where separate-hosts puts the target
      experiment.hosts!.batch = {...experiment.hosts!.app, address: batch.address, port: batch.port, identityFile: batch.identityFile, knownHosts: batch.knownHosts}
      const result = await runMatrix({experiment, file: 'experiments/host/memory-leak.yaml', levels: ['cgroup', SEPARATE_HOSTS], repeat: 1, seed: 'host', failOn: 'mismatch'})
      const byLevel = new Map(result.runs.map((r) => [r.level, r]))
      const own = byLevel.get('cgroup')!.journal!
      const separate = byLevel.get(SEPARATE_HOSTS)!.journal!
      expect(own.target.boundary).toMatch(/chaos-[0-9a-f]{8}\/worker on host app/)
      expect(separate.target.boundary, JSON.stringify(byLevel.get(SEPARATE_HOSTS)!.error)).toMatch(/on host batch/)
      expect(separate.plan.join('\n')).toMatch(/api on host app, the target on host batch: separate hosts/)
      // at both levels the leak landed: OOM-killed by its own limit on app; grown as asked, unboxed, on batch
      expect(own.injection.efficacy?.landed).toBe(true)
      expect(separate.injection.efficacy?.landed, separate.injection.efficacy?.note).toBe(true)
      expect(separate.injection.efficacy?.note).not.toMatch(/OOM/)
      for (const journal of [own, separate]) for (const index of [0, 1]) expect(await waitForNoLeftovers(hostRunId(journal.runId, index), 3000)).toEqual([])
      // without a spare host the level cannot be made: refused, exit 2
      delete experiment.hosts!.batch
      const refused = await runMatrix({experiment, levels: [SEPARATE_HOSTS], repeat: 1, seed: 'host', failOn: 'mismatch'})
      expect(refused.runs[0].error?.exitCode).toBe(2)
      expect(refused.runs[0].error?.message).toMatch(/add a spare host/)
    } finally {
      await batch.stop()
    }
  })

  it('a CLI killed with SIGKILL mid-fault leaves nothing running on the host: its agent removes all when the channel ends', async () => {
    // the experiment's own file, pointed at the test's sshd, with a slow leak that holds what it took: the fault is
    // still on when the CLI dies
    const doc = parseDocument(readFileSync('experiments/host/memory-leak.yaml', 'utf8'))
    for (const [key, value] of Object.entries({address: sshd.address, port: sshd.port, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts})) doc.setIn(['hosts', 'app', key], value)
    doc.set('phases', {warmup: '2s', baseline: '3s', inject: '30s', recover: '0s'})
    doc.set('verdict', {design: 'windows'})
    doc.set('fault', {type: 'memory-leak', rate: '8Mi/s', limit: '96Mi'})
    const file = join(dir, 'killed.yaml')
    writeFileSync(file, doc.toString())
    const cli = spawn(process.execPath, ['bin/run.js', 'run', file], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    cli.stdout.on('data', (c: Buffer) => { out += c.toString() })
    cli.stderr.on('data', (c: Buffer) => { out += c.toString() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no leak in progress within 60 s:\n${out}`)), 60_000)
      const check = () => {
        if (/leaked [1-9]/.test(out)) {
          clearTimeout(timer)
          resolve()
        } else setTimeout(check, 100)
      }
      check()
    })
    const runId = /run ([0-9a-f]{8}):/.exec(out)![1]
    const there = hostRunId(runId, 0)
    expect(leftovers(there).some((l) => l.startsWith('process')), 'the stressor runs on the host').toBe(true)
    cli.kill('SIGKILL')
    // well before the stressor's own deadline (the inject phase's end, 30 s on): the agent's channel ended
    expect(await waitForNoLeftovers(there, 5000), `leftovers of ${there} on the host 5 s after the CLI died`).toEqual([])
    const deadline = Date.now() + 5000
    while (agentPids().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(agentPids()).toEqual([])
    expect(execFileSync('ss', ['-ltnH', 'sport = :19102'], {encoding: 'utf8'}).trim(), 'the API still listens').toBe('')
    // and the toolkit's own cleanup, run on the host over SSH, finds nothing more of the run there (the whole
    // machine's would also find the killed CLI's own marker here: this "host" is this machine)
    const onHost = execFileSync(process.execPath, ['bin/run.js', 'cleanup', '--host', 'app', '--experiment', file, '--run', there], {encoding: 'utf8'})
    expect(onHost).toMatch(/nothing to clean up on host app/)
    // what the killed CLI left here is its ledger, which names the run on the host (written before the agent
    // started); chaos cleanup here asks the host over SSH, finds nothing left there, and forgets the run
    const ledger = JSON.parse(readFileSync(join(ledgerDir(), `${runId}.json`), 'utf8')) as {resources: {kind: string, host?: string, runId?: string}[]}
    expect(ledger.resources.filter((r) => r.kind === 'host-run').map((r) => `${r.host} ${r.runId}`)).toEqual([`app ${there}`])
    const here = JSON.parse(execFileSync(process.execPath, ['bin/run.js', 'cleanup', '--run', runId, '--json'], {encoding: 'utf8'})) as {runs: string[], failed: unknown[]}
    expect(here.runs).toEqual([runId])
    expect(here.failed).toEqual([])
    expect(existsSync(join(ledgerDir(), `${runId}.json`))).toBe(false)
    // the killed CLI's own box here (its probe's, on this machine that is the host) went with it
    expect(leftovers(runId)).toEqual([])
  })

  it('a cut SSH connection removes the fault at once, says the run cannot be vouched for, and the host is left clean', async () => {
    const file = 'experiments/host/memory-leak.yaml'
    const experiment = onApp(shortened(file, {baseline: 3000, inject: 20_000, recover: 0}))
    experiment.fault = {type: 'memory-leak', rate: 8 * 1024 ** 2, limit: {bytes: 96 * 1024 ** 2}, hold: true}
    let cut = false
    const journal = await runExperiment({
      experiment, file,
      onEvent: (event) => {
        if (cut || event.type !== 'tick' || event.phase !== 'inject') return
        cut = true
        // the session's sshd process is the agent's parent: killing it is the connection dropping on the host's side
        for (const pid of agentPids()) {
          const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
          process.kill(ppid, 'SIGKILL')
        }
      },
    })
    expect(cut).toBe(true)
    expect(journal.verdict).toBe('inconclusive')
    expect(journal.rollback.leftovers.join('\n')).toMatch(/not confirmed/)
    await expectNothingLeft(journal.runId)
    await expectHostRunForgotten(journal.runId)
  })

  it('an agent that goes silent (stopped: a hung host) is noticed within seconds; the fault is removed and the run is inconclusive', async () => {
    const file = 'experiments/host/memory-leak.yaml'
    const experiment = onApp(shortened(file, {baseline: 3000, inject: 20_000, recover: 0}))
    experiment.fault = {type: 'memory-leak', rate: 8 * 1024 ** 2, limit: {bytes: 96 * 1024 ** 2}, hold: true}
    const stopped: number[] = []
    let stoppedAt = 0
    const journal = await runExperiment({
      experiment, file,
      onEvent: (event) => {
        if (stopped.length > 0 || event.type !== 'tick' || event.phase !== 'inject') return
        stoppedAt = Date.now()
        for (const pid of agentPids()) {
          process.kill(pid, 'SIGSTOP')
          stopped.push(pid)
          // it wakes later, as a hung host may: it must then find its channel ended and remove what it made
          setTimeout(() => process.kill(pid, 'SIGCONT'), 9000).unref()
        }
      },
    })
    expect(stopped.length).toBe(1)
    expect(journal.verdict).toBe('inconclusive')
    expect(journal.reason ?? JSON.stringify(journal.abort), JSON.stringify(journal.design?.blocks.at(-1))).toMatch(/no readings from its agent for [5-9]\.\d+s/)
    // noticed within the silence allowed and an interval, not at the end of the 20 s injection
    expect(Date.parse(journal.phases.inject!.end) - stoppedAt).toBeLessThan(8000)
    await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + 9500 - Date.now())))
    await expectNothingLeft(journal.runId)
    // the agent, woken within the teardown's wait, may still confirm it: then this machine's ledger is gone already
    if (journal.rollback.complete) expect(existsSync(join(ledgerDir(), `${journal.runId}.json`))).toBe(false)
    else await expectHostRunForgotten(journal.runId)
  })
})

/**
 * A run whose teardown its host's agent did not confirm keeps, in this machine's ledger, the entry naming its run
 * there: chaos cleanup here asks the host over SSH, finds nothing left (the agent removed it when its channel
 * ended) and forgets the run.
 */
async function expectHostRunForgotten(runId: string): Promise<void> {
  const file = join(ledgerDir(), `${runId}.json`)
  const ledger = JSON.parse(readFileSync(file, 'utf8')) as {resources: {kind: string, runId?: string}[]}
  expect(ledger.resources.map((r) => `${r.kind} ${r.runId}`)).toEqual([`host-run ${hostRunId(runId, 0)}`])
  const report = await cleanup({runId})
  expect(report.failed).toEqual([])
  expect(existsSync(file)).toBe(false)
}
