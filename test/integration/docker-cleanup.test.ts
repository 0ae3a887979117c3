// The CLI killed with SIGKILL in the middle of a Docker injection, against a real engine. Containers, unlike the
// process platform's workloads, do not die with the toolkit: they stay, labelled chaos.run=RUN and listed in the
// run's ledger, until `chaos cleanup` removes them with the network and the run's cgroup. The stressor (a process
// of the toolkit's, joined to the container's cgroup) dies by its own dead-man's switch.
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {engineProblem} from '../../src/platforms/docker/engine.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'

const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER
const dir = mkdtempSync(join(tmpdir(), 'chaos-docker-crash-'))
const stateDir = join(dir, 'state')
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function chaos(args: string[]): string {
  return execFileSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8', env: {...process.env, CHAOS_STATE_DIR: stateDir}})
}

function labelled(runId: string): string[] {
  const list = (args: string[]) => execFileSync('docker', args, {encoding: 'utf8'}).split('\n').filter(Boolean)
  return [
    ...list(['ps', '-a', '--filter', `label=chaos.run=${runId}`, '--format', 'container {{.Names}}']),
    ...list(['network', 'ls', '--filter', `label=chaos.run=${runId}`, '--format', 'network {{.Name}}']),
  ]
}

describe.skipIf(skip)('a docker run killed with SIGKILL', () => {
  beforeAll(() => {
    execFileSync('bash', ['scripts/docker-images.sh'], {stdio: 'inherit'})
  }, 120_000)

  it('leaves labelled containers that chaos cleanup removes, with the network and the cgroups', async () => {
    const file = join(dir, 'cpu-hog.yaml')
    writeFileSync(file, readFileSync('experiments/docker/cpu-hog.yaml', 'utf8').replace(/\b192(\d\d)\b/g, '194$1'))
    const child = spawn(process.execPath, ['bin/run.js', 'run', file, '--baseline', '3s', '--inject', '30s'], {
      env: {...process.env, CHAOS_STATE_DIR: stateDir}, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/burning \d/.test(stderr)) resolve()
      })
      child.once('exit', () => reject(new Error(`the run ended before injecting: ${stderr}`)))
    })
    const runId = /run ([0-9a-f]{8})/.exec(stderr)![1]
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))

    // the stressor dies by itself (its toolkit is gone), long before its deadline 30 s away
    expect((await waitForNoLeftovers(runId, 2000)).filter((l) => l.startsWith('process'))).toEqual([])
    // the containers and the network outlive the toolkit, labelled with the run
    expect(labelled(runId).sort()).toEqual([`container chaos-${runId}-api`, `container chaos-${runId}-worker`, `network chaos-${runId}`])

    // only this run: other runs on the machine (other state directories) are none of this test's business
    const report = JSON.parse(chaos(['cleanup', '--run', runId, '--json'])) as {runs: string[], removed: string[], failed: unknown[]}
    expect(report.failed).toEqual([])
    expect(report.runs).toContain(runId)
    expect(report.removed).toEqual(expect.arrayContaining([
      `docker container chaos-${runId}-api`, `docker container chaos-${runId}-worker`, `docker network chaos-${runId}`,
    ]))
    expect(labelled(runId)).toEqual([])
    expect(await waitForNoLeftovers(runId, 2000)).toEqual([])
    expect(chaos(['cleanup', '--run', runId])).toMatch(/nothing to clean up/)
  })

  it('the sweep finds labelled containers no ledger lists', async () => {
    const runId = 'dead' + String(process.pid % 10000).padStart(4, '0')
    execFileSync('docker', ['network', 'create', '--label', `chaos.run=${runId}`, `chaos-${runId}`])
    execFileSync('docker', ['create', '--name', `chaos-${runId}-orphan`, '--label', `chaos.run=${runId}`, '--network', `chaos-${runId}`, 'chaos-demo:local'])
    const report = JSON.parse(chaos(['cleanup', '--run', runId, '--json'])) as {removed: string[], failed: unknown[]}
    expect(report.failed).toEqual([])
    expect(report.removed).toEqual(expect.arrayContaining([`docker container chaos-${runId}-orphan`, `docker network chaos-${runId}`]))
    expect(labelled(runId)).toEqual([])
  })
})
