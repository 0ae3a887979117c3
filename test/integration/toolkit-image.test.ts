// The toolkit image runs the Kubernetes helper as a cluster would start it (docs/kubernetes.md): the command of an
// ephemeral container or helper pod is `chaos k8s helper ...`, and an ephemeral one is stopped early by exec'ing
// `chaos k8s helper-stop ...` into it. So `chaos` must be an executable on the image's PATH (with /usr/bin/env for
// its `#!/usr/bin/env node`), and nsenter and fallocate must be there. Here the image that scripts/docker-images.sh
// builds (the offline twin of the Dockerfile) runs those exact commands under a real Docker engine; no cluster,
// no kubelet, no API server is involved (what that leaves unproven is in docs/kubernetes.md).
//
// Every container carries the label chaos.run=<this file's tag> and is removed in afterAll, even after a failure;
// afterAll then checks that none is left. Skipped only when no engine answers AND CHAOS_REQUIRE_DOCKER is unset
// (.ci/run sets it: CI never skips).
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {engineProblem} from '../../src/platforms/docker/engine.js'
import {docker, type DockerResult, removeLabelledContainers} from '../helpers/docker-cli.js'

const execFileAsync = promisify(execFile)
const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER
const IMAGE = process.env.CHAOS_DOCKER_IMAGE ?? 'chaos-demo:local'
const tag = `toolkit-image-${randomBytes(4).toString('hex')}`
/** every container of this file: labelled, and without a network (the helper needs none here) */
const OURS = ['--label', `chaos.run=${tag}`, '--network', 'none']
const MiB8 = 8 * 1024 * 1024
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Result = DockerResult

type Line = {type: string, [key: string]: unknown}

/** The JSON lines of a helper's stdout (a line that is not JSON is kept as {type: 'text'}, so it shows in a diff). */
function lines(stdout: string): Line[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l) as Line
    } catch {
      return {type: 'text', text: l}
    }
  })
}

const progressOf = (out: Line[]) => out.filter((l) => l.type === 'progress') as Array<Line & {t: number, cpuSeconds?: number, bytes?: number}>

/** The command the kubernetes platform gives the helper's container. */
function helper(runId: string, kind: string, params: object, deadline: number, extra: string[] = []): string[] {
  return ['chaos', 'k8s', 'helper', '--run', runId, '--kind', kind, '--params', JSON.stringify(params), '--deadline', String(deadline), ...extra]
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(200)
  }
}

async function logs(id: string): Promise<Line[]> {
  return lines((await docker(['logs', id])).stdout)
}

async function status(id: string): Promise<string> {
  return (await docker(['inspect', '--format', '{{.State.Status}}', id])).stdout.trim()
}


describe.skipIf(skip)('the toolkit image runs the kubernetes helper', () => {
  beforeAll(async () => {
    // offline and idempotent: the engine, and the image from the local Node, env, nsenter, fallocate and dist/
    await execFileAsync('bash', ['scripts/docker-images.sh'], {timeout: 110_000})
  }, 120_000)

  afterAll(async () => {
    const left = await removeLabelledContainers(tag)
    expect(left, `containers labelled chaos.run=${tag} left behind`).toEqual([])
  }, 30_000)

  it('`chaos k8s helper --kind cpu` runs to its deadline: ready, progress with cpuSeconds, the exit lines, exit code 0', async () => {
    const started = Date.now()
    const deadline = started + 4000
    const result = await docker(['run', '--rm', ...OURS, IMAGE, ...helper(`${tag}-cpu`, 'cpu', {workers: 1, loadPerWorker: 0.3}, deadline)])
    const elapsed = Date.now() - started
    const out = lines(result.stdout)
    const why = `${result.stdout}${result.stderr}`
    expect(result.code, why).toBe(0)
    expect(out[0], why).toEqual({type: 'ready', pid: expect.any(Number)})
    const progress = progressOf(out)
    expect(progress.length, why).toBeGreaterThanOrEqual(5)
    // the dose: 0.3 of a core between the first and the last progress line (not idle, not a busy loop)
    const [first, last] = [progress[0], progress.at(-1)!]
    const load = (last.cpuSeconds! - first.cpuSeconds!) / ((last.t - first.t) / 1000)
    expect(load, why).toBeGreaterThan(0.15)
    expect(load, why).toBeLessThan(0.6)
    const exit = out.find((l) => l.type === 'exit') as {reason: string, t: number} | undefined
    expect(exit?.reason, why).toBe('deadline')
    expect(exit!.t - deadline, why).toBeGreaterThanOrEqual(0)
    expect(exit!.t - deadline, why).toBeLessThan(1000)
    expect(out.at(-1), why).toEqual({type: 'helper', exit: {code: 0, signal: null, reason: 'deadline'}})
    expect(elapsed).toBeGreaterThanOrEqual(3900)
    expect(elapsed).toBeLessThan(8000)
  })

  it('`chaos k8s helper-stop` exec\'d into the helper\'s container ends it; another run\'s or kind\'s stop ends nothing', async () => {
    const runId = `${tag}-stop`
    const start = await docker(['run', '-d', ...OURS, IMAGE, ...helper(runId, 'cpu', {workers: 1, loadPerWorker: 0.3}, Date.now() + 120_000)])
    expect(start.code, start.stderr).toBe(0)
    const id = start.stdout.trim()
    await until('the helper\'s ready line', async () => (await logs(id)).some((l) => l.type === 'ready'))

    for (const [run, kind] of [[`${tag}-other`, 'cpu'], [runId, 'memory']]) {
      const none = await docker(['exec', id, 'chaos', 'k8s', 'helper-stop', '--run', run, '--kind', kind])
      expect(none.code, `${none.stdout}${none.stderr}`).toBe(0)
      expect(lines(none.stdout)).toEqual([{type: 'helper-stop', run, stopped: [], remaining: []}])
    }
    await sleep(500)
    expect(await status(id)).toBe('running')
    expect((await logs(id)).some((l) => l.type === 'exit')).toBe(false)

    const asked = Date.now()
    const stop = await docker(['exec', id, 'chaos', 'k8s', 'helper-stop', '--run', runId, '--kind', 'cpu'], 20_000)
    // In a plain container the helper is PID 1: helper-stop signals it, and when PID 1 exits the engine kills every
    // process left in the container, the exec'd helper-stop too (exit 137) unless it printed its line first.
    if (stop.code === 0) expect(lines(stop.stdout)).toEqual([{type: 'helper-stop', run: runId, stopped: [{pid: 1, kind: 'cpu'}], remaining: []}])
    else expect(stop.code, `${stop.stdout}${stop.stderr}`).toBe(137)
    const waited = await docker(['wait', id], 15_000)
    expect(Date.now() - asked).toBeLessThan(5000)
    expect(waited.stdout.trim()).toBe('0')
    const out = await logs(id)
    expect(out.find((l) => l.type === 'exit'), JSON.stringify(out.slice(-3))).toEqual({type: 'exit', reason: 'signal', t: expect.any(Number)})
    expect(out.at(-1)).toEqual({type: 'helper', exit: {code: 0, signal: null, reason: 'signal'}})
    await docker(['rm', '-f', id])
  })

  it.each(['write', 'fallocate'] as const)('`chaos k8s helper --kind disk --target-root` (mode %s) fills /proc/1/root/tmp to 8 MiB', async (mode) => {
    const deadline = Date.now() + 3000
    const params = {dir: '/tmp', bytes: MiB8, mode, keepFree: 0.05}
    const result = await docker(['run', '--rm', ...OURS, IMAGE, ...helper(`${tag}-disk-${mode}`, 'disk', params, deadline, ['--target-root'])])
    const out = lines(result.stdout)
    const why = `${result.stdout}${result.stderr}`
    expect(result.code, why).toBe(0)
    // PID 1 of a plain container is the helper itself: its own root
    expect(out[0], why).toEqual({type: 'helper', fills: '/proc/1/root/tmp'})
    const bytes = Math.max(...progressOf(out).map((p) => p.bytes ?? 0))
    expect(bytes, why).toBe(MiB8)
    expect(progressOf(out).some((p) => p.full), why).toBe(false)
    expect(out.at(-1), why).toEqual({type: 'helper', exit: {code: 0, signal: null, reason: 'deadline'}})
  })

  it('as an ephemeral container would: in the target\'s PID namespace, the fill lands in the target\'s /tmp and helper-stop spares PID 1', async () => {
    // the target: the demo workload, PID 1 of its PID namespace; the helper joins that namespace
    // (--pid container:, as targetContainerName does), so /proc/1/root is the target's filesystem
    const target = await docker(['run', '-d', ...OURS, IMAGE, 'chaos', 'workload', '--port', '18080', '--host', '127.0.0.1'])
    expect(target.code, target.stderr).toBe(0)
    const targetId = target.stdout.trim()
    const runId = `${tag}-eph`
    const fill = `chaos-${runId}-fill`
    const params = {dir: '/tmp', bytes: MiB8, mode: 'write', keepFree: 0.05}
    const start = await docker(['run', '-d', '--label', `chaos.run=${tag}`, '--pid', `container:${targetId}`, '--network', `container:${targetId}`,
      IMAGE, ...helper(runId, 'disk', params, Date.now() + 120_000, ['--target-root'])])
    expect(start.code, start.stderr).toBe(0)
    const id = start.stdout.trim()
    await until('8 MiB written', async () => progressOf(await logs(id)).some((p) => p.bytes === MiB8))
    expect((await logs(id))[0]).toEqual({type: 'helper', fills: '/proc/1/root/tmp'})

    // seen from the target container itself (the image has no ls: node is the shell here)
    const tmpOfTarget = async () => {
      const listed = await docker(['exec', targetId, 'node', '-e',
        'const fs = require("fs"); console.log(JSON.stringify(Object.fromEntries(fs.readdirSync("/tmp").map((n) => [n, fs.statSync("/tmp/" + n).size]))))'])
      expect(listed.code, listed.stderr).toBe(0)
      return JSON.parse(listed.stdout) as Record<string, number>
    }
    expect((await tmpOfTarget())[fill]).toBe(MiB8)

    // helper-stop from inside the shared PID namespace (exec'd into the target container, which outlives the helper)
    const stop = await docker(['exec', targetId, 'chaos', 'k8s', 'helper-stop', '--run', runId, '--kind', 'disk'], 20_000)
    expect(stop.code, `${stop.stdout}${stop.stderr}`).toBe(0)
    const [report] = lines(stop.stdout) as unknown as Array<{stopped: Array<{pid: number, kind: string}>, remaining: number[]}>
    expect(report).toMatchObject({type: 'helper-stop', run: runId, remaining: []})
    expect(report.stopped).toHaveLength(1)
    expect(report.stopped[0].kind).toBe('disk')
    expect(report.stopped[0].pid).not.toBe(1)
    expect((await docker(['wait', id], 15_000)).stdout.trim()).toBe('0')
    expect((await logs(id)).at(-1)).toEqual({type: 'helper', exit: {code: 0, signal: null, reason: 'signal'}})
    // the target lives on, and the fill file is gone from its filesystem
    expect(await status(targetId)).toBe('running')
    expect(Object.keys(await tmpOfTarget())).not.toContain(fill)
    await docker(['rm', '-f', id, targetId])
  })

  it('nsenter (a helper pod\'s flood) and fallocate run in the image', async () => {
    for (const program of ['nsenter', 'fallocate']) {
      const result = await docker(['run', '--rm', ...OURS, '--entrypoint', program, IMAGE, '--version'])
      expect(result.code, `${program}: ${result.stdout}${result.stderr}`).toBe(0)
      expect(result.stdout).toMatch(new RegExp(`^${program} from util-linux \\d`))
    }
  })
})
