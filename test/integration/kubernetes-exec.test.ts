// Exec over WebSocket through the fake Kubernetes API server (test/helpers/fake-kube-exec.ts) with its local runtime:
// execInContainer (client-node's Exec on v5.channel.k8s.io) runs commands as real processes in the container's
// cgroup, and `chaos k8s helper-stop` exec'd into an ephemeral stressor's container ends that run's helper early and
// no other. What this does not prove: a real apiserver, kubelet or container runtime (docs/kubernetes.md).
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {type Cluster, connect} from '../../src/platforms/kubernetes/client.js'
import {ExecError, execInContainer} from '../../src/platforms/kubernetes/exec.js'
import {findHelpers} from '../../src/platforms/kubernetes/helper-stop.js'
import {FakeKubeApi} from '../helpers/fake-kube-api.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
let fake: FakeKubeApi
let cluster: Cluster
let dir: string
const RUN = `exec${randomBytes(4).toString('hex')}`
const DECOY = `decoy${randomBytes(4).toString('hex')}`

async function clusterFor(server: FakeKubeApi, name: string): Promise<Cluster> {
  const file = join(dir, name)
  writeFileSync(file, server.kubeconfig())
  return connect({kubeconfig: file})
}

/** `ps` as a child process, asynchronously: the in-process fake must go on answering meanwhile. */
function ps(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('ps', ['-eo', 'pid,args'])
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.on('close', () => resolve(out))
  })
}

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A pod whose container only sleeps (a real process in the fake runtime: exec needs nothing else of it). */
const sleeper = () => ({
  metadata: {name: 'worker-0', namespace: 'shop', labels: {app: 'worker'}},
  spec: {containers: [{name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'], resources: {limits: {cpu: '500m', memory: '256Mi'}, requests: {cpu: '500m', memory: '256Mi'}}}]},
})

const ephemeralStatus = (name: string) => fake.getPod('shop', 'worker-0').status.ephemeralContainerStatuses?.find((s: any) => s.name === name)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-exec-'))
  fake = new FakeKubeApi({runtime: true})
  await fake.start()
  fake.addNamespace('shop')
  await fake.addPod(sleeper())
  cluster = await clusterFor(fake, 'kubeconfig')
})

afterAll(async () => {
  await fake?.stop()
  rmSync(dir, {recursive: true, force: true})
  // nothing is left: no helper, stressor or exec'd process of these runs, no cgroup of the fake runtime
  // (the timed-out `sleep 31.5` goes on, as a real exec's would, until its container stops)
  const left = (await ps()).split('\n').filter((l) => l.includes(RUN) || l.includes(DECOY) || l.includes('sleep 31.5'))
  expect(left).toEqual([])
  expect(new Cgroup(detectCgroupLayout(), fake.runtimeRoot).exists()).toBe(false)
})

describe('exec over WebSocket (fake API server, local runtime)', () => {
  it('returns stdout, stderr and a non-zero exit code from the status channel', async () => {
    const result = await execInContainer(cluster, {namespace: 'shop', pod: 'worker-0', container: 'app', command: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeoutMs: 20_000})
    expect(result).toEqual({exitCode: 3, stdout: 'out\n', stderr: 'err\n'})
  })

  it('runs a successful command in the container\'s own cgroup, authorized as get and create pods/exec', async () => {
    fake.requests.length = 0
    const result = await execInContainer(cluster, {namespace: 'shop', pod: 'worker-0', container: 'app', command: ['cat', '/proc/self/cgroup'], timeoutMs: 20_000})
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toBe('')
    const id = fake.getPod('shop', 'worker-0').status.containerStatuses[0].containerID.replace('containerd://', '')
    expect(result.stdout).toContain(`${fake.runtimeRoot}/pod${fake.getPod('shop', 'worker-0').metadata.uid}/${id}`)
    // one GET upgrade: the authorization filter's get, and the 1.35+ compound create check
    expect(fake.requests.map((r) => `${r.verb} ${r.resource}/${r.subresource} ${r.status}`)).toEqual(['get pods/exec 101', 'create pods/exec 101'])
  })

  it('a pod that does not exist is 404 before any upgrade', async () => {
    const error = await execInContainer(cluster, {namespace: 'shop', pod: 'nope', container: 'app', command: ['true']}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExecError)
    expect((error as ExecError).code).toBe(404)
    expect((error as ExecError).message).toContain('pods "nope" not found')
  })

  it('a container that is not in the pod is 400, in the apiserver\'s words', async () => {
    const error = await execInContainer(cluster, {namespace: 'shop', pod: 'worker-0', container: 'sidecar', command: ['true']}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExecError)
    expect((error as ExecError).code).toBe(400)
    expect((error as ExecError).message).toContain('container sidecar is not valid for pod worker-0')
  })

  it('a command that outlives the timeout is an error, not a hang', async () => {
    const started = Date.now()
    const error = await execInContainer(cluster, {namespace: 'shop', pod: 'worker-0', container: 'app', command: ['sleep', '31.5'], timeoutMs: 1000}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExecError)
    expect((error as ExecError).message).toContain('no exit status within 1s')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('without "create pods/exec" it is 403, and the error names the missing verb', async () => {
    // RBAC as a Role before Kubernetes 1.35 sufficed for a WebSocket exec: get only
    const strict = new FakeKubeApi({allow: ['get pods/exec']})
    const none = new FakeKubeApi({allow: []})
    try {
      for (const f of [strict, none]) {
        await f.start()
        f.addNamespace('shop')
        await f.addPod(sleeper())
      }
      const createMissing = await execInContainer(await clusterFor(strict, 'strict'), {namespace: 'shop', pod: 'worker-0', container: 'app', command: ['true']}).catch((e: unknown) => e)
      expect(createMissing).toBeInstanceOf(ExecError)
      expect((createMissing as ExecError).code).toBe(403)
      expect((createMissing as ExecError).message).toContain('may not "create pods/exec" in namespace shop')
      expect((createMissing as ExecError).message).toContain('pods "worker-0" is forbidden')
      expect(strict.requests.filter((r) => r.subresource === 'exec').map((r) => `${r.verb} ${r.status}`)).toEqual(['get 403', 'create 403'])
      // with neither verb the authorization filter refuses first, on get
      const bothMissing = await execInContainer(await clusterFor(none, 'none'), {namespace: 'shop', pod: 'worker-0', container: 'app', command: ['true']}).catch((e: unknown) => e)
      expect((bothMissing as ExecError).code).toBe(403)
      expect((bothMissing as ExecError).message).toContain('may not "get pods/exec"')
      expect((bothMissing as ExecError).message).toContain('"create pods/exec"')
      expect((bothMissing as ExecError).message).toContain('cannot get resource "pods/exec" in API group "" in the namespace "shop"')
    } finally {
      await strict.stop()
      await none.stop()
    }
  })
})

describe('chaos k8s helper-stop, exec\'d into an ephemeral stressor container', () => {
  const deadline = Date.now() + 120_000
  const helper = (run: string) => ({
    name: `chaos-${run}-1`, image: 'chaos-toolkit:test', targetContainerName: 'app',
    command: ['chaos', 'k8s', 'helper', '--run', run, '--kind', 'cpu', '--params', JSON.stringify({workers: 1, loadPerWorker: 0.05}), '--deadline', String(deadline)],
  })
  const stop = (run: string, container: string) => execInContainer(cluster, {namespace: 'shop', pod: 'worker-0', container, command: ['chaos', 'k8s', 'helper-stop', '--run', run], timeoutMs: 60_000})

  it('stops the helper of its run long before its deadline, and leaves another run\'s helper running', async () => {
    await cluster.core.patchNamespacedPodEphemeralcontainers({namespace: 'shop', name: 'worker-0', body: {spec: {ephemeralContainers: [helper(RUN), helper(DECOY)]}}},
      cluster.k8s.setHeaderOptions('Content-Type', cluster.k8s.PatchStrategy.StrategicMergePatch))
    // both stressors are burning (their ready lines are in the ephemeral containers' logs)
    for (const run of [RUN, DECOY]) {
      await until(`the ${run} stressor`, async () => {
        const log = await cluster.core.readNamespacedPodLog({namespace: 'shop', name: 'worker-0', container: `chaos-${run}-1`}).catch(() => '')
        return String(log).includes('"type":"ready"')
      }, 30_000)
    }
    expect(findHelpers(RUN)).toHaveLength(1)
    expect(findHelpers(DECOY)).toHaveLength(1)

    const started = Date.now()
    const result = await stop(RUN, `chaos-${RUN}-1`)
    expect(result.exitCode).toBe(0)
    const report = JSON.parse(result.stdout.trim())
    expect(report).toMatchObject({type: 'helper-stop', run: RUN, remaining: []})
    expect(report.stopped).toHaveLength(1)
    expect(report.stopped[0]).toMatchObject({kind: 'cpu'})

    // the ephemeral container ended, well before its deadline (two minutes away)
    const ended = await until('the stopped helper\'s container to terminate', () => ephemeralStatus(`chaos-${RUN}-1`)?.state?.terminated)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(Date.parse(ended.finishedAt)).toBeLessThan(deadline - 60_000)
    expect(findHelpers(RUN)).toEqual([])
    const log = String(await cluster.core.readNamespacedPodLog({namespace: 'shop', name: 'worker-0', container: `chaos-${RUN}-1`}))
    expect(log).toMatch(/"type":"exit"/)
    expect(log).not.toContain('"reason":"deadline"')

    // the decoy runs on
    expect(findHelpers(DECOY)).toHaveLength(1)
    expect(ephemeralStatus(`chaos-${DECOY}-1`).state.running).toBeDefined()
  })

  it('is idempotent: with none of its run left it stops nothing and exits 0', async () => {
    const result = await stop(RUN, `chaos-${DECOY}-1`)
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout.trim())).toMatchObject({run: RUN, stopped: [], remaining: []})
    expect(findHelpers(DECOY)).toHaveLength(1)
  })

  it('an ephemeral container that has ended cannot be exec\'d into: the kubelet\'s refusal arrives on the status channel', async () => {
    const error = await stop(RUN, `chaos-${RUN}-1`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExecError)
    expect((error as ExecError).reason).toBe('InternalError')
    expect((error as ExecError).message).toContain(`unable to upgrade connection: container not found ("chaos-${RUN}-1")`)
  })

  it('stops the decoy the same way', async () => {
    const result = await stop(DECOY, `chaos-${DECOY}-1`)
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout.trim()).stopped).toHaveLength(1)
    await until('the decoy\'s container to terminate', () => ephemeralStatus(`chaos-${DECOY}-1`)?.state?.terminated)
    expect(findHelpers(DECOY)).toEqual([])
  })
})
