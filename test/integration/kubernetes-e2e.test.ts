// End to end through the fake Kubernetes API server (test/helpers/fake-kube-api.ts) with its local runtime: the
// pods' containers are real local processes in cgroups with their limits, so a helper pod really joins the target
// container's cgroup and the dose is measured there. What this does not prove: anything about a real apiserver,
// kubelet, container runtime or image (docs/kubernetes.md says which paths ran only against the fake).
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {readCgroupSample} from '../../src/metrics/resources.js'
import {manifests} from '../../src/platforms/kubernetes/manifests.js'
import {PERMISSIONS, describePermission} from '../../src/platforms/kubernetes/rbac.js'
import {Cgroup, detectCgroupLayout} from '../../src/platforms/process/cgroupfs.js'
import {FakeKubeApi, workloadPod} from '../helpers/fake-kube-api.js'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'run.js')
const PORTS = {worker: 0, api: 0}

/** A port nothing listens on now (a leftover workload on a fixed port would answer for the pod's). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

let fake: FakeKubeApi
let dir: string
let kubeconfig: string
const allRequests: {verb: string, resource: string, subresource?: string, group: string}[] = []

function experiment(mechanism: 'helper-pod' | 'ephemeral-container', extra = '', fault = '{type: cpu-hog, load: 50%}'): string {
  return `apiVersion: chaos/v1
kind: Experiment
metadata: {name: k8s-e2e-${mechanism}}
platform: kubernetes
kubernetes: {mechanism: ${mechanism}, image: chaos-toolkit:test, seed: 7}
target:
  name: worker
  pods: {namespace: shop, selector: "app=worker", container: app}
neighbors:
  - name: api
    pods: {namespace: shop, selector: "app=api,tier in (web)"}
    probe: {http: {url: "http://127.0.0.1:${PORTS.api}/work", rate: 20}}
fault: ${fault}
phases: {warmup: 0s, baseline: 3s, inject: 4s, recover: 0s, interval: 500ms}
hypothesis:
  - {signal: error_rate, max: 5%}
  - {signal: restarts, max: 0}
${extra}`
}

/** The CLI as a child process; asynchronous, since the fake API server answers from this process's event loop. */
function run(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<{code: number | null, out: string}> {
  const child = spawn(process.execPath, [BIN, 'run', file, '--quiet', ...args], {
    env: {...process.env, KUBECONFIG: kubeconfig, CHAOS_STATE_DIR: join(dir, 'state'), ...env},
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer)
    resolve({code, out})
  }))
}

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-e2e-'))
  PORTS.worker = await freePort()
  PORTS.api = await freePort()
  fake = new FakeKubeApi({runtime: true})
  await fake.start()
  kubeconfig = write('kubeconfig', fake.kubeconfig())
  fake.addNamespace('shop')
  await fake.addPod(workloadPod({name: 'worker-0', namespace: 'shop', port: PORTS.worker, cpu: '500m', memory: '256Mi', labels: {app: 'worker', 'chaos.allowed': 'true'}}))
  await fake.addPod(workloadPod({name: 'api-0', namespace: 'shop', port: PORTS.api, cpu: '500m', memory: '256Mi', labels: {app: 'api', tier: 'web'}}))
  // the workloads answer before the runs start
  for (const port of Object.values(PORTS)) {
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`http://127.0.0.1:${port}/metrics`)
        break
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
})

afterAll(async () => {
  await fake?.stop()
  rmSync(dir, {recursive: true, force: true})
  // nothing of the fake's runtime is left: no workload process, no cgroup
  expect(spawnSync('sh', ['-c', `ps -eo args | grep -c "[w]orkload --port ${PORTS.worker}" || true`], {encoding: 'utf8'}).stdout.trim()).toBe('0')
  expect(new Cgroup(detectCgroupLayout(), fake.runtimeRoot).exists()).toBe(false)
})

function recordRequests() {
  for (const r of fake.requests) if (r.resource !== 'selfsubjectaccessreviews') allRequests.push(r)
  fake.requests.length = 0
}

function containerBox(pod: string, container: string): Cgroup {
  const id = fake.getPod('shop', pod).status.containerStatuses.find((c: {name: string}) => c.name === container).containerID.replace('containerd://', '')
  const uid = fake.getPod('shop', pod).metadata.uid
  return new Cgroup(detectCgroupLayout(), `${fake.runtimeRoot}/pod${uid}/${id}`)
}

describe('kubernetes platform end to end (fake API server, local runtime)', () => {
  it('injects through a helper pod that joins the target container\'s cgroup, proves the dose there, and deletes the helper', async () => {
    const file = write('helper.yaml', experiment('helper-pod'))
    const box = containerBox('worker-0', 'app')
    const before = readCgroupSample(box.paths()).cpuSeconds!
    const journalFile = join(dir, 'helper-journal.json')
    const started = Date.now()
    const result = await run(file, ['--output', journalFile])
    const seconds = (Date.now() - started) / 1000
    const after = readCgroupSample(box.paths()).cpuSeconds!
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('shop/worker-0')
    expect(journal.plan.join('\n')).toMatch(/cpu-hog: 0\.25 cores = 50% of 0\.5 CPU/)
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // the 0.25-core dose for 4 s was charged to the worker container's own cgroup (plus its idle workload)
    expect(after - before).toBeGreaterThan(0.25 * 4 * 0.8)
    expect(after - before).toBeLessThan(0.5 * seconds)
    // the helper pod was pinned to the node, labelled, and is gone
    const created = fake.requests.find((r) => r.verb === 'create' && r.resource === 'pods')
    expect(created).toBeDefined()
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    expect(fake.requests.some((r) => r.verb === 'delete' && r.resource === 'pods')).toBe(true)
    // nothing left in the ledger directory
    expect(spawnSync('sh', ['-c', `ls ${join(dir, 'state', 'runs')} 2>/dev/null | grep -c json || true`], {encoding: 'utf8'}).stdout.trim()).toBe('0')
    recordRequests()
  })

  it('a memory leak through a helper pod is charged to the worker container\'s 256Mi limit and OOM-killed there', async () => {
    const file = write('leak.yaml', experiment('helper-pod', '', '{type: memory-leak, rate: 128Mi/s, limit: 1Gi}'))
    const box = containerBox('worker-0', 'app')
    const journalFile = join(dir, 'leak-journal.json')
    const result = await run(file, ['--output', journalFile])
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.verdict).toBe('contained')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // the kernel stopped the leak at the container's own limit: its OOM kill is counted in that cgroup
    expect(journal.injection.efficacy.note, JSON.stringify(journal.injection.efficacy)).toMatch(/OOM-killed/)
    expect(readCgroupSample(box.paths()).oomKills).toBeGreaterThanOrEqual(1)
    // the worker's own workload survived (the leak was the largest process in the box), and the api saw nothing
    expect(fake.getPod('shop', 'worker-0').status.containerStatuses[0].restartCount).toBe(0)
    expect(journal.neighbors[0].signals.find((s: {signal: string}) => s.signal === 'restarts').verdict).toBe('contained')
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    recordRequests()
  })

  it('injects through an ephemeral container and says it stays in the pod spec', async () => {
    const file = write('ephemeral.yaml', experiment('ephemeral-container'))
    const journalFile = join(dir, 'ephemeral-journal.json')
    const result = await run(file, ['--output', journalFile])
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('cannot remove it')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    const pod = fake.getPod('shop', 'worker-0')
    expect(pod.spec.ephemeralContainers.map((e: {name: string}) => e.name)).toEqual([expect.stringMatching(/^chaos-[0-9a-f]{8}-1$/)])
    expect(pod.status.ephemeralContainerStatuses[0].state.terminated).toBeDefined()
    recordRequests()
  })

  it('reads the namespace label when the pod carries none', async () => {
    fake.addNamespace('shop', {'chaos.allowed': 'true'})
    const pod = fake.getPod('shop', 'worker-0')
    delete pod.metadata.labels['chaos.allowed']
    try {
      const result = await run(write('ns.yaml', experiment('helper-pod')), ['--dry-run'])
      expect(result.code, result.out).toBe(0)
      expect(result.out).toContain('namespace shop is labelled chaos.allowed=true')
    } finally {
      pod.metadata.labels['chaos.allowed'] = 'true'
      fake.addNamespace('shop')
    }
    recordRequests()
  })

  it('the Role grants exactly the verbs the runs used', () => {
    const used = new Set(allRequests.map((r) => describePermission(r)))
    const objects = manifests({namespace: 'chaos', experiment: 'x', image: 'chaos-toolkit:test'})
    const granted = new Set(objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((o) =>
      (o.rules as {apiGroups: string[], resources: string[], verbs: string[]}[]).flatMap((rule) => rule.verbs.map((verb) => {
        const [resource, subresource] = rule.resources[0].split('/')
        return describePermission({verb, resource, subresource, group: rule.apiGroups[0]})
      }))))
    expect([...used].sort()).toEqual([...granted].sort())
    expect([...granted].sort()).toEqual(PERMISSIONS.map(describePermission).sort())
  })
})

describe('kubernetes platform: refusals before anything starts', () => {
  it('--context picks the kubeconfig context; an unknown one is exit 2, and so is --context off platform kubernetes', async () => {
    // the current context points at a port where nothing listens: only --context fake reaches the cluster
    const config = JSON.parse(fake.kubeconfig())
    config['current-context'] = 'elsewhere'
    config.clusters.push({name: 'dead', cluster: {server: 'https://127.0.0.1:1'}})
    config.contexts.push({name: 'elsewhere', context: {cluster: 'dead', user: 'fake'}})
    const cfg = write('two-contexts', JSON.stringify(config))
    const file = write('ctx.yaml', experiment('helper-pod'))
    const chosen = await run(file, ['--dry-run', '--context', 'fake'], {KUBECONFIG: cfg})
    expect(chosen.code, chosen.out).toBe(0)
    expect(chosen.out).toContain('worker-0')
    const unknown = await run(file, ['--dry-run', '--context', 'nope'], {KUBECONFIG: cfg})
    expect(unknown.code, unknown.out).toBe(2)
    expect(unknown.out).toContain('kubeconfig context "nope" does not exist')
    expect(unknown.out).toContain('fake, elsewhere')
    const offPlatform = await run('experiments/cpu-hog.yaml', ['--dry-run', '--context', 'fake'], {KUBECONFIG: cfg})
    expect(offPlatform.code, offPlatform.out).toBe(2)
    expect(offPlatform.out).toContain('--context is for platform kubernetes; this experiment is platform process')
  })

  it('no kubeconfig: exit 4', async () => {
    const result = await run(write('e1.yaml', experiment('helper-pod')), ['--dry-run'], {KUBECONFIG: join(dir, 'missing'), HOME: dir})
    expect(result.code, result.out).toBe(4)
    expect(result.out).toContain('no kubeconfig')
  })

  it('forbidden by RBAC: names the missing verb, exit 4', async () => {
    const strict = new FakeKubeApi({allow: PERMISSIONS.map(describePermission).filter((p) => p !== 'patch pods/ephemeralcontainers')})
    await strict.start()
    try {
      strict.addNamespace('shop')
      strict.addPodsBulk([workloadPod({name: 'worker-0', namespace: 'shop', port: 1, cpu: '500m', labels: {app: 'worker', 'chaos.allowed': 'true'}})])
      const cfg = write('strict-kubeconfig', strict.kubeconfig())
      const result = await run(write('e2.yaml', experiment('ephemeral-container')), ['--dry-run'], {KUBECONFIG: cfg})
      expect(result.code, result.out).toBe(4)
      expect(result.out).toContain('forbidden by RBAC')
      expect(result.out).toContain('"patch pods/ephemeralcontainers" in namespace shop')
      expect(strict.requests.filter((r) => r.verb === 'create' && r.resource === 'pods')).toEqual([])
    } finally {
      await strict.stop()
    }
  })

  it('no pods match: exit 2', async () => {
    const result = await run(write('e3.yaml', experiment('helper-pod').replace('app=worker', 'app=nothing')), ['--dry-run'])
    expect(result.code, result.out).toBe(2)
    expect(result.out).toContain('no pods in namespace shop matching app=nothing')
  })

  it('pod not running: exit 4', async () => {
    await fake.addPod(workloadPod({name: 'pending-0', namespace: 'shop', port: 1, cpu: '500m', labels: {app: 'pending', 'chaos.allowed': 'true'}}), {phase: 'Pending'})
    const result = await run(write('e4.yaml', experiment('helper-pod').replace('app=worker', 'app=pending')), ['--dry-run'])
    expect(result.code, result.out).toBe(4)
    expect(result.out).toContain('pod shop/pending-0 is Pending, not Running')
  })

  it('pod not labelled for chaos: exit 2, and the override lets it through', async () => {
    const text = experiment('helper-pod').replace('app=worker', 'app=api')
    const refused = await run(write('e5.yaml', text), ['--dry-run'])
    expect(refused.code, refused.out).toBe(2)
    expect(refused.out).toContain('api-0 in namespace shop is not labelled for chaos')
    const allowed = await run(write('e6.yaml', text.replace('seed: 7}', 'seed: 7, allowUnlabelled: true}')), ['--dry-run'])
    expect(allowed.code, allowed.out).toBe(0)
    expect(allowed.out).toContain('safety OVERRIDDEN')
  })

  it('the manifests validate as Kubernetes objects (kubernetes-models)', async () => {
    const objects = manifests({namespace: 'chaos', experiment: experiment('helper-pod'), image: 'chaos-toolkit:test', pushgateway: 'http://pushgateway:9091', targetNamespaces: ['shop']})
    const models = {
      ServiceAccount: (await import('kubernetes-models/v1/ServiceAccount')).ServiceAccount,
      ConfigMap: (await import('kubernetes-models/v1/ConfigMap')).ConfigMap,
      Role: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/Role')).Role,
      RoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding')).RoleBinding,
      ClusterRole: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole')).ClusterRole,
      ClusterRoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding')).ClusterRoleBinding,
      Job: (await import('kubernetes-models/batch/v1/Job')).Job,
      CronJob: (await import('kubernetes-models/batch/v1/CronJob')).CronJob,
    } as Record<string, new (o: unknown) => {validate(): void}>
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Job', 'Role', 'RoleBinding', 'ServiceAccount'])
    for (const o of objects) expect(() => new models[o.kind as string](o).validate(), o.kind as string).not.toThrow()
    // the CLI prints the same objects
    const printed = spawnSync(process.execPath, [BIN, 'k8s', 'manifests', write('m.yaml', experiment('helper-pod')), '--namespace', 'chaos'], {encoding: 'utf8'})
    expect(printed.status, printed.stderr).toBe(0)
    const docs = printed.stdout.split(/^---$/m).map((d) => parse(d))
    expect(docs.map((d) => d.kind)).toContain('CronJob')
  })
})
