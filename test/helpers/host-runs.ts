// What the host platform's tests share: an experiment of experiments/host/ pointed at a test sshd, the toolkit's
// agents running now, and the check that a run left nothing on its hosts nor here.
import {readdirSync, readFileSync} from 'node:fs'

import {expect} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import {hostRunId} from '../../src/platforms/host/index.js'
import {leftovers, waitForNoLeftovers} from './leftovers.js'
import type {SshHost} from './sshd.js'

/** The experiment's host of this name (app by default) pointed at the test's sshd; the rest of its settings kept. */
export function onTestHost(experiment: Experiment, sshd: SshHost, name = 'app'): Experiment {
  experiment.hosts = {...experiment.hosts, [name]: {...experiment.hosts![name], address: sshd.address, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts}}
  return experiment
}

/** pids of the toolkit's agents running now */
export function agentPids(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent-main.js')
    } catch {
      return false
    }
  }).map(Number)
}

/** Nothing of the run on its hosts (each its own run id there: index 0 the target's) nor here: boxes, stressors, agents. */
export async function expectNothingLeft(runId: string, hosts = 1): Promise<void> {
  for (let index = 0; index < hosts; index++) {
    const there = hostRunId(runId, index)
    expect(await waitForNoLeftovers(there, 3000), `leftovers of run ${there} on host ${index}`).toEqual([])
  }
  expect(leftovers(runId), `leftovers of run ${runId} here`).toEqual([])
  const deadline = Date.now() + 3000
  while (agentPids().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  expect(agentPids(), 'an agent still runs').toEqual([])
}
