// The toolkit killed with SIGKILL in the middle of an injection: its stressors and workloads die by themselves
// within a second (dead-man's switch, parent-death signal), and `chaos cleanup` removes the rest (cgroups, the
// run directory, the ledger), reports what it removed, and is safe to run twice.
import {type ChildProcessWithoutNullStreams, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {leftovers, waitForNoLeftovers} from '../helpers/leftovers.js'

const dir = mkdtempSync(join(tmpdir(), 'chaos-crash-'))
const stateDir = join(dir, 'state')
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function experimentFile(): string {
  const text = readFileSync('experiments/cpu-hog.yaml', 'utf8').replaceAll('19111', '19181').replaceAll('19112', '19182')
  const file = join(dir, 'cpu-hog.yaml')
  writeFileSync(file, text)
  return file
}

/** `chaos run` of cpu-hog.yaml until its stressor burns; then `interrupt` is done to it. */
async function interruptedRun(interrupt: (child: ChildProcessWithoutNullStreams) => Promise<void>): Promise<{code: number | null, stderr: string, runId: string}> {
  const child = spawn(process.execPath, ['bin/run.js', 'run', experimentFile(), '--warmup', '1s', '--baseline', '3s', '--inject', '30s', '--output', join(dir, 'interrupted.json')], {
    env: {...process.env, CHAOS_STATE_DIR: stateDir}, stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  await new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (/burning \d/.test(stderr)) resolve()
    })
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  await interrupt(child)
  return {code: await exited, stderr, runId: /run ([0-9a-f]{8})/.exec(stderr)![1]}
}

/** signals sent gapMs apart */
const signalled = (signals: NodeJS.Signals[], gapMs: number) => async (child: ChildProcessWithoutNullStreams) => {
  for (const signal of signals) {
    child.kill(signal)
    await new Promise((r) => setTimeout(r, gapMs))
  }
}

function chaos(args: string[]): string {
  return execFileSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8', env: {...process.env, CHAOS_STATE_DIR: stateDir}})
}

describe('a run killed with SIGKILL', () => {
  it('leaves no stressor alive, and chaos cleanup removes the rest', async () => {
    const child = spawn(process.execPath, ['bin/run.js', 'run', experimentFile(), '--warmup', '1s', '--baseline', '3s', '--inject', '30s'], {
      env: {...process.env, CHAOS_STATE_DIR: stateDir}, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    const injecting = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/burning \d/.test(stderr)) resolve()
      })
    })
    await injecting
    const runId = /run ([0-9a-f]{8})/.exec(stderr)![1]
    expect(leftovers(runId).some((l) => l.includes('chaos-stressor'))).toBe(true)
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))

    // the stressor's dead-man's switch fires on its own, long before its deadline (30 s away)
    const processesLeft = async () => (await waitForNoLeftovers(runId, 1500)).filter((l) => l.startsWith('process'))
    expect(await processesLeft()).toEqual([])
    // the managed workloads died with the toolkit (parent-death signal)
    expect(execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'})).not.toMatch(/workload --port 1918[12]/)

    // what the dead run created is still there, and its ledger says so
    expect(leftovers(runId).filter((l) => l.startsWith('cgroup')).length).toBeGreaterThan(0)
    const report = JSON.parse(chaos(['cleanup', '--json'])) as {runs: string[], removed: string[], failed: unknown[]}
    expect(report.runs).toContain(runId)
    expect(report.failed).toEqual([])
    expect(report.removed.some((r) => r.includes(`chaos-${runId}`))).toBe(true)
    expect(leftovers(runId)).toEqual([])
    expect(chaos(['cleanup'])).toMatch(/nothing to clean up/)
  })
})

describe('a receive flood killed with SIGKILL mid-fault', () => {
  it('leaves neither its source nor its receiver alive, and chaos cleanup removes both namespaces', async () => {
    const text = readFileSync('experiments/network-flood-receive.yaml', 'utf8').replaceAll('19171', '19183').replaceAll('19172', '19184')
    const file = join(dir, 'receive.yaml')
    writeFileSync(file, text)
    const child = spawn(process.execPath, ['bin/run.js', 'run', file, '--warmup', '1s', '--baseline', '3s', '--inject', '30s', '--design', 'windows'], {
      env: {...process.env, CHAOS_STATE_DIR: stateDir}, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/the target receiving [1-9]/.test(stderr)) resolve()
      })
      child.once('exit', () => reject(new Error(`the run ended before the target received anything: ${stderr.slice(-800)}`)))
    })
    const runId = /run ([0-9a-f]{8})/.exec(stderr)![1]
    const stressorsOfRun = () => execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'}).split('\n').filter((l) => l.startsWith('chaos-stressor') && l.includes(runId))
    expect(stressorsOfRun().map((l) => l.split(' ')[1]).sort()).toEqual(['flood', 'sink'])
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    // both ends' dead-man's switches fire on their own, long before their deadline (30 s away)
    expect((await waitForNoLeftovers(runId, 2000)).filter((l) => l.startsWith('process'))).toEqual([])
    expect(stressorsOfRun()).toEqual([])
    // the two namespaces outlive the toolkit until cleanup, which finds them in the ledger
    expect(execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})).toContain(`chaos-${runId}-t`)
    const report = JSON.parse(chaos(['cleanup', '--json'])) as {runs: string[], failed: unknown[]}
    expect(report.runs).toContain(runId)
    expect(report.failed).toEqual([])
    expect(execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})).not.toContain(runId)
    expect(leftovers(runId)).toEqual([])
    expect(chaos(['cleanup'])).toMatch(/nothing to clean up/)
  })
})

describe('a run interrupted through the CLI', () => {
  it('SIGINT once: the fault is removed, the rollback completes, exit 3', async () => {
    const {code, stderr, runId} = await interruptedRun(signalled(['SIGINT'], 0))
    expect(stderr).toContain('SIGINT: removing the fault and rolling back (again to force)')
    expect(code).toBe(3)
    const journal = JSON.parse(readFileSync(join(dir, 'interrupted.json'), 'utf8'))
    expect(journal).toMatchObject({verdict: 'aborted', exitCode: 3, rollback: {complete: true}})
    expect(await waitForNoLeftovers(runId, 1500)).toEqual([])
  })

  it('its output closed (the reader of the pipe went away): the fault is removed, the rollback completes, exit 3', async () => {
    // as spawnSync does on its timeout, and a shell pipe when `head` has read enough: the read ends close
    const {code, runId} = await interruptedRun(async (child) => {
      child.stdout.destroy()
      child.stderr.destroy()
    })
    expect(code).toBe(3)
    const journal = JSON.parse(readFileSync(join(dir, 'interrupted.json'), 'utf8'))
    expect(journal).toMatchObject({verdict: 'aborted', exitCode: 3, rollback: {complete: true}})
    expect(await waitForNoLeftovers(runId, 1500)).toEqual([])
  })

  it('SIGTERM twice: forced out after a best-effort cleanup of the run, exit 3, nothing left', async () => {
    // the second signal once the first was heard: two sent 5 ms apart to a process not yet scheduled are one signal
    // to the kernel (a standard signal pending is not queued twice; CI's machine saw one and rolled back in full)
    const {code, stderr, runId} = await interruptedRun(async (child) => {
      let said = ''
      const heard = new Promise<void>((resolve) => child.stderr.on('data', (chunk: Buffer) => {
        said += chunk.toString()
        if (said.includes('SIGTERM: removing the fault')) resolve()
      }))
      child.kill('SIGTERM')
      await heard
      child.kill('SIGTERM')
    })
    expect(stderr).toContain('SIGTERM again: forcing exit after a best-effort cleanup')
    expect(code).toBe(3)
    expect(await waitForNoLeftovers(runId, 1500)).toEqual([])
    expect(chaos(['cleanup'])).toMatch(/nothing to clean up/)
  })
})
