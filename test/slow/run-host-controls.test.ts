// The host platform's runs the default suite leaves to `npm run test:slow` to keep within its time: the unisolated
// controls of disk-fill and network-flood on a host, and the VM-boundary experiment file with its two hosts (the
// default suite covers that mechanism through chaos matrix's separate-hosts level). Real sshds, as there.
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
