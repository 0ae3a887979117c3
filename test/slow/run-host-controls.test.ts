// The host platform's runs the default suite leaves to `npm run test:slow` to keep within its time: the faults beyond
// memory-leak on a host (process-exhaustion, cpu-hog, disk-fill, network-flood, with their controls, the receive
// flood's control and io-saturation's) and the VM-boundary experiment file with its two hosts (the default suite covers the agent, the memory-leak pair, chaos
// matrix's separate-hosts level and every way a run can lose its host). Real sshds, as there.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runExperiment} from '../../src/run/runner.js'
import {shortened} from '../helpers/experiments.js'
import {expectNothingLeft, onTestHost} from '../helpers/host-runs.js'
import {type SshHost, startSshd} from '../helpers/sshd.js'

let app: SshHost
let batch: SshHost

beforeAll(async () => {
  app = await startSshd()
  batch = await startSshd({netns: true})
})

afterAll(async () => {
  await app?.stop()
  await batch?.stop()
})

describe('platform host: the controls and the separate-hosts file', () => {
  it('process-exhaustion pair: the worker\'s own pids limit on the host holds its fork bomb; in one box the API\'s forks fail', async () => {
    const own = 'experiments/host/process-exhaustion.yaml'
    const contained = await runExperiment({experiment: onTestHost(shortened(own), app), file: own})
    expect(contained.injection.efficacy?.note).toMatch(/pids limit of 64 refused \d+ more/)
    const errors = contained.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(errors.faultCount).toBeGreaterThan(150) // 6 s at 40 requests a second
    expect(errors.fault).toBeLessThan(0.01)
    await expectNothingLeft(contained.runId)
    const shared = 'experiments/host/process-exhaustion-shared.yaml'
    const breach = await runExperiment({experiment: onTestHost(shortened(shared), app), file: shared})
    expect(breach.injection.efficacy?.note).toMatch(/pids limit of 128 refused \d+ more/)
    const failed = breach.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(failed.baseline).toBeLessThan(0.01)
    expect(failed.fault).toBeGreaterThan(0.2)
    expect(failed.verdict).toBe('breach')
    await expectNothingLeft(breach.runId)
  })

  it('cpu-hog: the worker\'s box on the host burns the CPU asked of its allowance, proven by the box\'s accounting read there', async () => {
    const file = 'experiments/host/cpu-hog.yaml'
    const journal = await runExperiment({experiment: onTestHost(shortened(file), app), file})
    const efficacy = journal.injection.efficacy!
    expect(efficacy.unit).toBe('cpu-seconds')
    expect(efficacy.note).toMatch(/cgroup accounting/)
    expect(efficacy.ratio).toBeGreaterThan(0.9)
    expect(efficacy.ratio).toBeLessThan(1.1)
    await expectNothingLeft(journal.runId)
  })

  it('disk-fill: the worker fills its own tmpfs on the host to the last byte', async () => {
    const own = 'experiments/host/disk-fill.yaml'
    const filled = await runExperiment({experiment: onTestHost(shortened(own), app), file: own})
    expect(filled.plan.join('\n')).toMatch(/disk-fill: .* into volume \S+ \(tmpfs [^)]+\) on host app/)
    expect(filled.injection.efficacy?.landed, filled.injection.efficacy?.note).toBe(true)
    // the stressor writes where the target runs; 64Mi asked of a 64Mi tmpfs, all of it landed
    expect(filled.injection.efficacy?.note).toMatch(/64.0Mi of 64.0Mi written to \S+ where the target runs/)
    await expectNothingLeft(filled.runId)
  })

  it('network-flood: through the target\'s own shaped link on the host, at the link\'s rate', async () => {
    const own = 'experiments/host/network-flood.yaml'
    const shaped = await runExperiment({experiment: onTestHost(shortened(own), app), file: own})
    expect(shaped.plan.join('\n')).toMatch(/through the target's own link on host app \(tbf 100(\.0)?Mbit/)
    // tbf at 100Mbit: TCP fills it, and nothing crosses faster than the shaping allows
    expect(shaped.injection.efficacy?.achieved).toBeGreaterThan(85e6)
    expect(shaped.injection.efficacy?.achieved).toBeLessThan(110e6)
    await expectNothingLeft(shaped.runId)
  })

  it('disk-fill-shared: the worker fills the tmpfs it shares with the API on the host; the API\'s writes fail', async () => {
    const file = 'experiments/host/disk-fill-shared.yaml'
    const journal = await runExperiment({experiment: onTestHost(shortened(file), app), file})
    const errors = journal.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(errors.fault).toBeGreaterThan(0.5)
    expect(errors.verdict).toBe('breach')
    await expectNothingLeft(journal.runId)
  })

  it('network-flood-none: without a link of its own the target floods the host\'s loopback at full speed', async () => {
    const file = 'experiments/host/network-flood-none.yaml'
    const journal = await runExperiment({experiment: onTestHost(shortened(file), app), file})
    expect(journal.plan.join('\n')).toMatch(/on host app's loopback/)
    expect(journal.injection.efficacy?.achieved).toBeGreaterThan(1e9)
    await expectNothingLeft(journal.runId)
  })

  it('network-flood-receive-none: without a link of its own the worker is flooded on the host\'s loopback at full speed', async () => {
    const file = 'experiments/host/network-flood-receive-none.yaml'
    const journal = await runExperiment({experiment: onTestHost(shortened(file), app), file})
    expect(journal.plan.join('\n')).toMatch(/to a receiver in the target at full speed, on host app's loopback/)
    expect(journal.injection.efficacy?.note).toMatch(/received by the target \(unbounded\)/)
    expect(journal.injection.efficacy?.achieved).toBeGreaterThan(1e9)
    await expectNothingLeft(journal.runId)
  })

  it('io-saturation-none: unthrottled on the host, the worker\'s writes go as fast as the disk takes them, all counted by its box there', async () => {
    const file = 'experiments/host/io-saturation-none.yaml'
    const journal = await runExperiment({experiment: onTestHost(shortened(file), app), file})
    const efficacy = journal.injection.efficacy!
    expect(efficacy.landed, efficacy.note).toBe(true)
    expect(efficacy.note).toMatch(/counted by cgroup: cgroup \/chaos-[0-9a-f]{8}\/worker on host app/)
    expect(efficacy.achieved / 6).toBeGreaterThan(50 * 1024 ** 2)
    await expectNothingLeft(journal.runId)
  })

  it('memory-leak-separate: the worker alone and unboxed on batch (an sshd in a network namespace), the API on app', async () => {
    const file = 'experiments/host/memory-leak-separate.yaml'
    const experiment = onTestHost(onTestHost(shortened(file), app, 'app'), batch, 'batch')
    const journal = await runExperiment({experiment, file})
    const plan = journal.plan.join('\n')
    expect(plan).toMatch(new RegExp(`host batch \\(root@${batch.address.replaceAll('.', '\\.')}:${batch.port}\\)`))
    expect(plan).toMatch(/api on host app, the target on host batch: separate hosts/)
    expect(journal.injection.efficacy?.landed, journal.injection.efficacy?.note).toBe(true)
    expect(journal.target.boundary).toMatch(/on host batch/)
    expect(journal.neighbors[0].unexpectedExits).toBe(0)
    expect(journal.rollback).toEqual({complete: true, leftovers: [], durationMs: expect.any(Number)})
    await expectNothingLeft(journal.runId, 2)
  })
})
