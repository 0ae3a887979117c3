// dockerd restarted during an injection, against the real engine: the run notices the engine went away (its event
// stream ends), removes the fault within an interval and says inconclusive; teardown waits for the engine to come
// back and removes what it created, or leaves it to `chaos cleanup`; either way the exit code says which, and
// nothing is left after the cleanup. The engine is stopped with SIGTERM, as `systemctl restart docker` does,
// and started again by scripts/docker-images.sh --engine, as CI starts it.
import {execFile, execFileSync, spawnSync} from 'node:child_process'
import {promisify} from 'node:util'
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import {engineProblem} from '../../src/platforms/docker/engine.js'
import {cleanup} from '../../src/rollback/cleanup.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import {newRunId, runExperiment} from '../../src/run/runner.js'
import {leftovers, waitForNoLeftovers} from '../helpers/leftovers.js'

const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function dockerdPid(): number | undefined {
  const out = spawnSync('pgrep', ['-x', 'dockerd'], {encoding: 'utf8'}).stdout.trim()
  return out ? Number(out.split('\n')[0]) : undefined
}

describe.skipIf(skip)('dockerd restarted during an injection', () => {
  it('the fault is removed within an interval, the run is inconclusive, and nothing is left after cleanup', async () => {
    execFileSync('bash', ['scripts/docker-images.sh'], {stdio: 'inherit'})
    const file = 'experiments/docker/cpu-hog.yaml'
    const experiment = parseExperiment(readFileSync(file, 'utf8').replace(/\b192(\d\d)\b/g, '197$1'), file)
    experiment.phases = {...experiment.phases, warmup: 1000, baseline: 3000, inject: 12_000, recover: 0}
    // one baseline and one fault window: the engine goes away during that one injection
    experiment.verdict = {...experiment.verdict, design: 'windows'}
    const runId = newRunId()
    let restarted: Promise<void> | undefined
    let stoppedAt = 0
    let stressorGoneAt: number | undefined
    const journal = await runExperiment({
      experiment, runId,
      onEvent: (event) => {
        if (event.type === 'tick' && event.phase === 'inject' && event.elapsedMs >= 2000 && !restarted) {
          restarted = (async () => {
            const pid = dockerdPid()
            expect(pid).toBeDefined()
            stoppedAt = Date.now()
            process.kill(pid!, 'SIGTERM')
            while (dockerdPid() === pid) await sleep(100)
            // the run's stressor is a host process in the target's cgroup: it must go when the run notices
            for (let i = 0; i < 100 && stressorGoneAt === undefined; i++) {
              if (!leftovers(runId).some((l) => l.startsWith('process'))) stressorGoneAt = Date.now()
              else await sleep(100)
            }
            // not execFileSync: the run shares this process's event loop
            await promisify(execFile)('bash', ['scripts/docker-images.sh', '--engine'])
          })()
        }
      },
    })
    await restarted
    console.log(`engine restart: stressor gone ${stressorGoneAt === undefined ? 'never' : `${stressorGoneAt - stoppedAt} ms`} after SIGTERM to dockerd; exit ${journal.exitCode}; rollback ${journal.rollback.complete ? 'complete' : `left ${journal.rollback.leftovers.join(', ')}`}`)
    expect(journal.verdict, journal.reason).toBe('inconclusive')
    expect(journal.reason).toMatch(/the Docker engine went away during the run/)
    // the fault ended long before the 12 s inject phase would have
    expect(journal.injection.efficacy).toBeDefined()
    expect(stressorGoneAt, 'the stressor outlived the engine by 10 s').toBeDefined()
    expect(stressorGoneAt! - stoppedAt).toBeLessThan(5000)
    // teardown either got the engine back (inconclusive, 4) or says what it left (5)
    if (journal.rollback.complete) expect(journal.exitCode).toBe(ExitCode.Inconclusive)
    else {
      expect(journal.exitCode).toBe(ExitCode.RollbackIncomplete)
      expect(journal.reason).toMatch(/rollback incomplete/)
    }
    const report = await cleanup({runId})
    expect(report.failed).toEqual([])
    const list = (args: string[]) => execFileSync('docker', args, {encoding: 'utf8'}).split('\n').filter(Boolean)
    expect(list(['ps', '-a', '--filter', `label=chaos.run=${runId}`, '--format', '{{.Names}}'])).toEqual([])
    expect(list(['network', 'ls', '--filter', `label=chaos.run=${runId}`, '--format', '{{.Name}}'])).toEqual([])
    expect(await waitForNoLeftovers(runId, 5000)).toEqual([])
  }, 120_000)
})
