// The kubernetes platform's mechanisms against a REAL kube-apiserver (v1.37.2 and etcd, built from the Go module proxy
// by scripts/kube/build.sh), with the test node agent (test/helpers/node-agent.ts) in a kubelet's place: the pods are
// stored, validated, defaulted and admitted by the real server; the toolkit runs under its own ServiceAccount (the
// objects `chaos k8s manifests` prints, applied to the server, a token from the real TokenRequest API), so every
// request it makes is authorized by the real RBAC authorizer; the helper pods it creates reach the node because they
// name it, and their stressor's lines come back through the real server's log proxying to the agent. The agent's part
// (what a kubelet would do) is the local processes in cgroups and the status it writes through the API as the node.
import {execFile, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {PrometheusClient} from '../../src/metrics/prometheus/client.js'
import {readCgroupSample} from '../../src/metrics/resources.js'
import {describePermission, PERMISSIONS} from '../../src/platforms/kubernetes/rbac.js'
import {startCadvisor} from '../helpers/cadvisor.js'
import {workloadPod, workloadsAnswer} from '../helpers/fake-kube-api.js'
import {type RealApiServer, startRealApiServer} from '../helpers/kube-apiserver.js'
import {kubeExperiment} from '../helpers/kube-experiment.js'
import {OWN_NETNS_ANNOTATION} from '../helpers/local-runtime.js'
import {TestNodeAgent} from '../helpers/node-agent.js'
import {freePort, instantQuery, startPrometheus} from '../helpers/prometheus-server.js'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'run.js')
const execFileAsync = promisify(execFile)
const PORTS = {worker: 0, api: 0, flooder: 0}
const MECHANISMS = ['helper-pod', 'ephemeral-container'] as const

let server: RealApiServer
let agent: TestNodeAgent
let dir: string
/** kubeconfigs holding only a ServiceAccount token: one per mechanism, each from its own `chaos k8s manifests` */
const kubeconfigs: Record<'helper-pod' | 'ephemeral-container', string> = {'helper-pod': '', 'ephemeral-container': ''}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = {apiVersion: string, kind: string, metadata: {name: string, namespace?: string, labels?: Record<string, string>, uid?: string}, [key: string]: any}

const PLURAL: Record<string, string> = {
  Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ConfigMap: 'configmaps', Pod: 'pods', Role: 'roles', RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Job: 'jobs', CronJob: 'cronjobs',
}

function collection(o: Obj): string {
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`
  return `${base}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${PLURAL[o.kind]}`
}

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

function experiment(mechanism: 'helper-pod' | 'ephemeral-container', o: {fault?: string, extra?: string, targetSelector?: string} = {}): string {
  return kubeExperiment({name: `real-${mechanism}`, mechanism, image: 'chaos-toolkit:test', apiPort: PORTS.api, fault: o.fault, extra: o.extra, targetSelector: o.targetSelector})
}

/** `chaos ARGS` as a child process (asynchronous: the agent answers from this process's event loop). */
function chaos(args: string[], env: Record<string, string> = {}): Promise<{code: number | null, out: string}> {
  const child = spawn(process.execPath, [BIN, ...args], {env: {...process.env, CHAOS_STATE_DIR: join(dir, 'state'), ...env}})
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer)
    resolve({code, out})
  }))
}

/** Runs an experiment under a mechanism's ServiceAccount; the journal and the CLI's output. */
async function runUnderServiceAccount(mechanism: 'helper-pod' | 'ephemeral-container', name: string, text: string) {
  const journalFile = join(dir, `${name}.json`)
  const result = await chaos(['run', write(`${name}.yaml`, text), '--quiet', '--output', journalFile], {KUBECONFIG: kubeconfigs[mechanism]})
  let journal
  try {
    journal = JSON.parse(readFileSync(journalFile, 'utf8'))
  } catch {
    throw new Error(`no journal; the run said:\n${result.out}`)
  }
  return {result, journal}
}

async function getPod(name: string): Promise<Obj> {
  const res = await server.request('GET', `/api/v1/namespaces/shop/pods/${name}`)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

/** Pods the toolkit created (labelled chaos.run) still in the real server. */
async function toolkitPods(): Promise<string[]> {
  const res = await server.request('GET', '/api/v1/namespaces/shop/pods?labelSelector=chaos.run')
  return res.body.items.map((p: Obj) => p.metadata.name)
}

/** The worker container's cgroup, as the agent runs it. */
function workerBox() {
  return agent.running('shop', 'worker-0')!.containers.find((c) => c.name === 'app' && !c.ephemeral)!.cgroup
}

/** A namespace with these labels, beside the test's others. */
async function labelledNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await server.createNamespace(name)
  expect((await server.request('PATCH', `/api/v1/namespaces/${name}`, {metadata: {labels}}, {contentType: 'application/merge-patch+json'})).status).toBe(200)
}

/** A workload pod bound to the agent's node (no scheduler runs: the pod names its node), once it runs. */
async function runningPod(namespace: string, name: string, o: {port: number, cpu?: string, memory?: string, labels: Record<string, string>}): Promise<void> {
  const p = workloadPod({name, namespace, ...o})
  const created = await server.request('POST', `/api/v1/namespaces/${namespace}/pods`, {apiVersion: 'v1', kind: 'Pod', ...p, spec: {...p.spec, nodeName: agent.nodeName}})
  expect(created.status, JSON.stringify(created.body)).toBe(201)
  await waitFor(`${name} Running`, async () => ((await server.request('GET', `/api/v1/namespaces/${namespace}/pods/${name}`)).body.status?.phase === 'Running' ? true : undefined))
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-node-agent-'))
  server = await startRealApiServer()
  agent = new TestNodeAgent(server)
  await agent.start()
  for (const ns of ['chaos', 'shop']) await server.createNamespace(ns)
  expect((await server.request('PATCH', '/api/v1/namespaces/shop', {metadata: {labels: {'chaos.allowed': 'true'}}}, {contentType: 'application/merge-patch+json'})).status).toBe(200)
  PORTS.worker = await freePort()
  PORTS.api = await freePort()
  PORTS.flooder = await freePort()
  mkdirSync(join(dir, 'scratch'))
  const pods = [
    workloadPod({name: 'worker-0', namespace: 'shop', port: PORTS.worker, cpu: '500m', memory: '256Mi', labels: {app: 'worker', 'chaos.allowed': 'true'}}),
    workloadPod({name: 'api-0', namespace: 'shop', port: PORTS.api, cpu: '500m', memory: '256Mi', labels: {app: 'api', tier: 'web'}}),
    workloadPod({name: 'flooder-0', namespace: 'shop', port: PORTS.flooder, cpu: '500m', memory: '256Mi', labels: {app: 'flooder', 'chaos.allowed': 'true'}}),
  ]
  // the worker mounts an emptyDir where a disk fill may go (the agent mounts nothing: a mount path is a directory here)
  pods[0].spec.volumes = [{name: 'scratch', emptyDir: {sizeLimit: '1Gi'}}]
  pods[0].spec.containers[0].volumeMounts = [{name: 'scratch', mountPath: join(dir, 'scratch')}]
  pods[2].metadata.annotations = {[OWN_NETNS_ANNOTATION]: 'true'}
  for (const p of pods) {
    // no scheduler runs: the pod names its node, as a scheduler's binding would
    const res = await server.request('POST', '/api/v1/namespaces/shop/pods', {apiVersion: 'v1', kind: 'Pod', ...p, spec: {...p.spec, nodeName: agent.nodeName}})
    expect(res.status, JSON.stringify(res.body)).toBe(201)
  }
  for (const name of ['worker-0', 'api-0', 'flooder-0']) {
    await waitFor(`${name} Running`, async () => ((await getPod(name)).status?.phase === 'Running' ? true : undefined))
  }
  await workloadsAnswer([PORTS.worker, PORTS.api])
  // the toolkit's own objects, one set per mechanism (their Roles differ), applied to the real server
  for (const mechanism of ['helper-pod', 'ephemeral-container'] as const) {
    const name = mechanism === 'helper-pod' ? 'chaos-helper' : 'chaos-eph'
    const printed = await chaos(['k8s', 'manifests', write(`manifests-${mechanism}.yaml`, experiment(mechanism)), '--namespace', 'chaos', '--name', name, '--image', 'chaos-toolkit:test'])
    expect(printed.code, printed.out).toBe(0)
    for (const o of parseAllDocuments(printed.out).map((d) => d.toJS() as Obj).filter(Boolean)) {
      const res = await server.request('POST', `${collection(o)}?fieldValidation=Strict`, o)
      expect(res.status, `${o.kind} ${o.metadata.name}: ${JSON.stringify(res.body)}`).toBe(201)
    }
    kubeconfigs[mechanism] = server.tokenKubeconfig(await server.tokenFor('chaos', name), name)
  }
}, 45 * 60_000)

afterAll(async () => {
  await agent?.stop()
  await server?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('kubernetes mechanisms against a real kube-apiserver, the test node agent in a kubelet\'s place', () => {
  it('the agent registers a Ready node and runs the pods bound to it; the status it writes is the real server\'s', async () => {
    const node = await server.request('GET', `/api/v1/nodes/${agent.nodeName}`)
    expect(node.status).toBe(200)
    expect(node.body.status.conditions.find((c: {type: string}) => c.type === 'Ready').status).toBe('True')
    const worker = await getPod('worker-0')
    // the server's own defaults and QoS class, the agent's container status
    expect(worker.status.qosClass).toBe('Guaranteed')
    expect(worker.spec.containers[0].terminationMessagePolicy).toBe('File')
    const id = worker.status.containerStatuses[0].containerID.replace('containerd://', '')
    expect(workerBox().relativePath).toBe(`${agent.runtimeRoot}/pod${worker.metadata.uid}/${id}`)
    expect(agent.errors).toEqual([])
  })

  it('helper pod (cpu-hog): created under the ServiceAccount, run by the node, its log read through the server, the dose in the worker container\'s cgroup, deleted after', async () => {
    const box = workerBox()
    const before = readCgroupSample(box.paths()).cpuSeconds!
    const started = Date.now()
    const {result, journal} = await runUnderServiceAccount('helper-pod', 'helper-cpu', experiment('helper-pod'))
    const seconds = (Date.now() - started) / 1000
    const after = readCgroupSample(box.paths()).cpuSeconds!
    expect(result.code, `${result.out}\nagent: ${agent.errors.join('\n')}`).toBe(0)
    expect(journal.plan.join('\n')).toContain(`shop/worker-0 on node ${agent.nodeName}`)
    expect(journal.plan.join('\n')).toContain('admission: the API server admits the helper pod in namespace shop (dry-run create)')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // 0.25 cores for the 4 s of the dose, charged to the worker container's own cgroup
    expect(after - before).toBeGreaterThan(0.25 * 4 * 0.8)
    expect(after - before).toBeLessThan(0.5 * seconds)
    // the stressor's lines came through the API server's log proxy to the node (follow=true)
    expect(agent.kubeletRequests.some((r) => /^\/containerLogs\/shop\/chaos-[0-9a-f]+-/.test(r.path) && r.status === 200)).toBe(true)
    // deleted through the API, ended by the node, gone from the server
    await waitFor('the helper pod gone', async () => ((await toolkitPods()).length === 0 ? true : undefined))
    expect(agent.running('shop', 'worker-0')!.containers).toHaveLength(1)
    expect(agent.errors).toEqual([])
  })

  it.each(MECHANISMS)('%s (memory-leak): OOM-killed inside the worker\'s limits, the workload survives', async (mechanism) => {
    // a helper's stressor joins the worker container's own cgroup (256Mi); an ephemeral container's runs in a cgroup
    // of its own inside the worker's pod, whose limit is the sum of its containers' (256Mi too)
    const container = workerBox()
    const pod = new Cgroup(detectCgroupLayout(), dirname(container.relativePath))
    const before = readCgroupSample(container.paths()).oomKills ?? 0
    const {result, journal} = await runUnderServiceAccount(mechanism, `${mechanism}-leak`, experiment(mechanism, {fault: '{type: memory-leak, rate: 128Mi/s, limit: 1Gi}'}))
    const events = journal.injection.events.join('\n')
    expect(result.code, `${result.out}\n${events}`).toBe(0)
    expect(journal.verdict).toBe('contained')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    expect(events).toMatch(/memory stressor ended .*killed by SIGKILL/)
    if (mechanism === 'helper-pod') expect(readCgroupSample(container.paths()).oomKills).toBeGreaterThan(before)
    else {
      // the kill is counted where its victim was (cgroup v1 does not add it up the tree): the ephemeral container's
      // own cgroup, inside the pod's, whose 256Mi limit it reached
      const ephemeral = agent.running('shop', 'worker-0')!.containers.find((c) => c.name === `chaos-${journal.runId}-1`)!
      expect(dirname(ephemeral.cgroup.relativePath)).toBe(pod.relativePath)
      expect(readCgroupSample(ephemeral.cgroup.paths()).oomKills).toBeGreaterThanOrEqual(1)
    }
    // the server's record of the worker: never restarted (the leak was the largest process in the box)
    expect((await getPod('worker-0')).status.containerStatuses[0].restartCount).toBe(0)
    if (mechanism === 'helper-pod') await waitFor('the helper pod gone', async () => ((await toolkitPods()).length === 0 ? true : undefined))
    expect(agent.errors).toEqual([])
  })

  it.each(MECHANISMS)('%s (disk-fill): 64Mi written into the worker container\'s path (its emptyDir) and removed', async (mechanism) => {
    // the path as the worker container sees it, and where its emptyDir volume is on this machine (the agent binds the
    // volume there in the container's own mount namespace): the fill must reach it through the container's view
    const inContainer = join(dir, 'scratch', mechanism)
    const scratch = join(agent.volumeDir('shop', 'worker-0', 'scratch')!, mechanism)
    mkdirSync(scratch)
    let largest = 0
    const watch = setInterval(() => {
      for (const name of readdirSync(scratch)) {
        try {
          largest = Math.max(largest, statSync(join(scratch, name)).size)
        } catch { /* removed meanwhile */ }
      }
    }, 100)
    const {result, journal} = await runUnderServiceAccount(mechanism, `${mechanism}-fill`, experiment(mechanism, {extra: `safety: {allowPaths: [${inContainer}]}\n`, fault: `{type: disk-fill, path: ${inContainer}, size: 64Mi}`}))
    clearInterval(watch)
    expect(result.code, result.out).toBe(0)
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    expect(largest).toBe(64 * 1024 ** 2)
    expect(readdirSync(scratch)).toEqual([])
    // nothing went around the container's mount into this machine's directory of the same name
    expect(readdirSync(join(dir, 'scratch'))).toEqual([])
    // an ephemeral container reaches the path through the worker's volume, which the server's validation accepted
    if (mechanism === 'ephemeral-container') {
      const added = (await getPod('worker-0')).spec.ephemeralContainers.find((e: {name: string}) => e.name === `chaos-${journal.runId}-1`)
      expect(added.volumeMounts).toEqual([{name: 'scratch', mountPath: join(dir, 'scratch')}])
    }
    else await waitFor('the helper pod gone', async () => ((await toolkitPods()).length === 0 ? true : undefined))
  })

  it.each(MECHANISMS)('%s (network-flood): inside the target pod\'s own network namespace, to a sink in that pod', async (mechanism) => {
    const netns = agent.running('shop', 'flooder-0')!.netns!
    expect(netns).toMatch(/^chaos-agent-/)
    const loBytes = async () => Number((await execFileAsync('ip', ['netns', 'exec', netns, 'cat', '/sys/class/net/lo/statistics/tx_bytes'])).stdout)
    const before = await loBytes()
    const {result, journal} = await runUnderServiceAccount(mechanism, `${mechanism}-flood`, experiment(mechanism, {fault: '{type: network-flood, rate: 200Mbit, connections: 2}', targetSelector: 'app=flooder'}))
    expect(result.code, result.out).toBe(0)
    const efficacy = journal.injection.efficacy
    expect(efficacy.landed, JSON.stringify(efficacy)).toBe(true)
    const sent = Number(/(\d+) MB sent/.exec(efficacy.note)![1]) * 1e6
    expect(sent).toBeGreaterThan(10e6)
    expect((await loBytes()) - before).toBeGreaterThan(0.95 * sent)
    if (mechanism === 'helper-pod') await waitFor('the helper pod gone', async () => ((await toolkitPods()).length === 0 ? true : undefined))
  })

  it('a namespace whose Pod Security level is baseline: the real admission refuses the helper pod in the preflight\'s dry-run, exit 4, and nothing is created', async () => {
    await labelledNamespace('locked', {'chaos.allowed': 'true', 'pod-security.kubernetes.io/enforce': 'baseline'})
    await runningPod('locked', 'locked-0', {port: await freePort(), cpu: '200m', memory: '128Mi', labels: {app: 'locked'}})
    const text = experiment('helper-pod').replace('pods: {namespace: shop, selector: "app=worker"', 'pods: {namespace: locked, selector: "app=locked"')
    const journalFile = join(dir, 'locked.json')
    for (const args of [['--dry-run'], ['--output', journalFile]]) {
      const result = await chaos(['run', write('locked.yaml', text), '--quiet', ...args], {KUBECONFIG: server.adminKubeconfig})
      expect(result.code, result.out).toBe(4)
      expect(result.out).toContain('the API server would not admit the helper pod in namespace locked')
      expect(result.out).toMatch(/violates PodSecurity "baseline:latest": .*privileged/)
    }
    const pods = await server.request('GET', '/api/v1/namespaces/locked/pods')
    expect(pods.body.items.map((o: Obj) => o.metadata.name)).toEqual(['locked-0'])
  })

  it('a namespace with a compute ResourceQuota: the real quota admission takes the helper pod (it states its own requests and limits; without them the plan\'s dry-run is refused: "failed quota: compute: must specify limits.cpu"), the dose lands, and the stated isolation is checked against the real objects', async () => {
    await labelledNamespace('quota', {'chaos.allowed': 'true'})
    const quota = await server.request('POST', '/api/v1/namespaces/quota/resourcequotas', {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'compute'}, spec: {hard: {'limits.cpu': '4', 'limits.memory': '8Gi', 'requests.cpu': '2', 'requests.memory': '4Gi'}}})
    expect(quota.status, JSON.stringify(quota.body)).toBe(201)
    // the quota's status, as the resource-quota controller (not run here) would first write it: the admission plugin
    // enforces a quota only once its status holds hard and used
    const hard = quota.body.spec.hard
    const status = await server.request('PUT', '/api/v1/namespaces/quota/resourcequotas/compute/status', {...quota.body, status: {hard, used: Object.fromEntries(Object.keys(hard).map((k) => [k, '0']))}})
    expect(status.status, JSON.stringify(status.body)).toBe(200)
    await runningPod('quota', 'metered-0', {port: await freePort(), cpu: '500m', memory: '256Mi', labels: {app: 'metered'}})
    const text = experiment('helper-pod').replace('pods: {namespace: shop, selector: "app=worker"', 'pods: {namespace: quota, selector: "app=metered"')
    const journalFile = join(dir, 'quota.json')
    const result = await chaos(['run', write('quota.yaml', text), '--quiet', '--output', journalFile], {KUBECONFIG: server.adminKubeconfig})
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('admission: the API server admits the helper pod in namespace quota (dry-run create)')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    const left = await server.request('GET', '/api/v1/namespaces/quota/pods')
    expect(left.body.items.map((o: Obj) => o.metadata.name)).toEqual(['metered-0'])
    // the isolation a workflow states, checked against what the real server holds: the QoS class it computed, the
    // quota, no LimitRange; a false statement refuses the run (exit 2)
    const stated = (isolation: string) => text.replace('container: app}', `container: app, isolation: ${isolation}}`)
    const ok = await chaos(['run', write('quota-ok.yaml', stated('{qos: Guaranteed, limits: true, quota: true, limitRange: false, node: shared}')), '--dry-run'], {KUBECONFIG: server.adminKubeconfig})
    expect(ok.code, ok.out).toBe(0)
    expect(ok.out).toContain(`isolation of worker as stated: QoS Guaranteed, cpu and memory limits, ResourceQuota compute (limits.cpu 4, limits.memory 8Gi, requests.cpu 2, requests.memory 4Gi), no LimitRange, node shared (api's api-0 on ${agent.nodeName})`)
    const wrong = await chaos(['run', write('quota-wrong.yaml', stated('{qos: BestEffort, limitRange: true, node: dedicated, nodeSelector: {pool: chaos}}')), '--dry-run'], {KUBECONFIG: server.adminKubeconfig})
    expect(wrong.code, wrong.out).toBe(2)
    expect(wrong.out).toContain('the stated isolation is not what the cluster has')
    expect(wrong.out).toContain('worker: QoS BestEffort stated, but metered-0 is Guaranteed')
    expect(wrong.out).toContain('worker: a LimitRange in namespace quota stated, but it has none')
    expect(wrong.out).toContain(`worker: a dedicated node stated, but api's api-0 on ${agent.nodeName}`)
    expect(wrong.out).toContain('worker: nodeSelector pool=chaos stated, but metered-0 has {}')
    // under the toolkit's ServiceAccount: a quota stated where the namespace (shop) has none, no LimitRange rightly
    const noQuota = await chaos(['run', write('noquota.yaml', experiment('helper-pod').replace('container: app}', 'container: app, isolation: {quota: true, limitRange: false}}')), '--dry-run'], {KUBECONFIG: kubeconfigs['helper-pod']})
    expect(noQuota.code, noQuota.out).toBe(2)
    expect(noQuota.out).toContain('worker: a ResourceQuota in namespace shop stated, but it has none')
    expect(noQuota.out).not.toContain('LimitRange')
  })

  it('chaos matrix compares the levels of kubernetes.levels: other pods of the same workflow, each with its stated isolation', async () => {
    // the same worker as a BestEffort pod (no requests, no limits): the QoS class is the real server's
    // it carries no chaos.allowed label: its namespace's is read (get namespaces, the ClusterRole's)
    await runningPod('shop', 'worker-be-0', {port: await freePort(), labels: {app: 'worker-be'}})
    expect((await getPod('worker-be-0')).status.qosClass).toBe('BestEffort')
    const file = write('levels.yaml', experiment('helper-pod', {fault: '{type: cpu-hog, cores: 0.25}'})
      .replace('seed: 7}', 'seed: 7, level: guaranteed, levels: {besteffort: {description: the worker without requests or limits, target: {selector: "app=worker-be", isolation: {qos: BestEffort, limits: false}}}}}')
      .replace('container: app}', 'container: app, isolation: {qos: Guaranteed, limits: true}}'))
    const unknown = await chaos(['run', file, '--dry-run', '--level', 'burstable'], {KUBECONFIG: kubeconfigs['helper-pod']})
    expect(unknown.code, unknown.out).toBe(2)
    expect(unknown.out).toContain('level burstable: on platform kubernetes a level is other pods of the same workflows, named in kubernetes.levels; this experiment has guaranteed, besteffort')
    const out = join(dir, 'matrix.json')
    const matrixRun = await chaos(['matrix', file, '--repeat', '1', '--seed', '1', '--quiet', '--output', out], {KUBECONFIG: kubeconfigs['helper-pod']})
    expect(matrixRun.code, matrixRun.out).toBe(0)
    const matrix = JSON.parse(readFileSync(out, 'utf8'))
    expect(matrix.levels).toEqual(['guaranteed', 'besteffort'])
    const byLevel = Object.fromEntries(matrix.runs.map((r: {level: string, journal: Obj}) => [r.level, r.journal]))
    expect(byLevel.guaranteed.plan.join('\n')).toContain(`shop/worker-0 on node ${agent.nodeName}`)
    expect(byLevel.guaranteed.plan.join('\n')).toContain('isolation of worker as stated: QoS Guaranteed, cpu and memory limits')
    expect(byLevel.besteffort.plan.join('\n')).toContain('level besteffort: the worker without requests or limits')
    expect(byLevel.besteffort.plan.join('\n')).toContain(`shop/worker-be-0 on node ${agent.nodeName}`)
    expect(byLevel.besteffort.plan.join('\n')).toContain('isolation of worker as stated: QoS BestEffort, no limits')
    expect(byLevel.besteffort.plan.join('\n')).toContain('namespace shop is labelled chaos.allowed=true')
    for (const journal of Object.values(byLevel) as Obj[]) expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    expect(await toolkitPods()).toEqual([])
    expect((await server.request('DELETE', '/api/v1/namespaces/shop/pods/worker-be-0')).status).toBe(200)
  })

  it('a neighbour pod that stops being Ready during the injection is a breach of unready; a cluster without metrics-server is asked once per workflow', async () => {
    const file = write('unready.yaml', experiment('helper-pod').replace('  - {signal: restarts, max: 0}', '  - {signal: restarts, max: 0}\n  - {signal: unready, neighbor: api, max: 0}'))
    const auditedBefore = server.auditEvents().length
    const running = runUnderServiceAccount('helper-pod', 'unready', readFileSync(file, 'utf8'))
    // once the helper's stressor is ready the injection is on: the api pod's readiness "fails" for a second, as a
    // kubelet's readiness probe would report it
    let flipped = false
    for (let i = 0; i < 600 && !flipped; i++) {
      const [helper] = await toolkitPods()
      const log = helper ? agent.running('shop', helper)?.containers.find((c) => c.name === 'stressor')?.log : undefined
      if (log?.includes('"type":"ready"')) {
        await new Promise((r) => setTimeout(r, 500))
        agent.setReady('shop', 'api-0', false)
        await new Promise((r) => setTimeout(r, 1000))
        agent.setReady('shop', 'api-0', true)
        flipped = true
      } else await new Promise((r) => setTimeout(r, 50))
    }
    expect(flipped).toBe(true)
    const {result, journal} = await running
    const unready = journal.neighbors[0].signals.find((s: {signal: string}) => s.signal === 'unready')
    expect(unready, JSON.stringify(journal.neighbors[0].signals)).toMatchObject({verdict: 'breach', fault: 1})
    expect(journal.verdict).toBe('breach')
    expect(result.code, result.out).toBe(1)
    // no metrics-server here: the real server answers 404 for metrics.k8s.io, asked once per workflow
    const metricsCalls = server.auditEvents().slice(auditedBefore).filter((e) => e.objectRef?.apiGroup === 'metrics.k8s.io' && e.stage === 'ResponseComplete')
    expect(metricsCalls.map((e) => e.responseStatus?.code)).toEqual([404, 404])
    expect((await getPod('api-0')).status.conditions.find((c: Obj) => c.type === 'Ready').status).toBe('True')
  })

  it('ephemeral container (cpu-hog): added through the real server\'s ephemeralcontainers subresource, run in the worker\'s pod, and stopped early over exec through the server\'s exec proxying', async () => {
    const {result, journal} = await runUnderServiceAccount('ephemeral-container', 'ephemeral-cpu', experiment('ephemeral-container'))
    expect(result.code, result.out).toBe(0)
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // the server keeps the ephemeral containers of the earlier runs too (the API cannot remove one), not in the order added
    const name = `chaos-${journal.runId}-1`
    expect((await getPod('worker-0')).spec.ephemeralContainers.map((e: {name: string}) => e.name)).toContain(name)
    // the toolkit's exec (chaos k8s helper-stop) was authorized by the real server under the ServiceAccount (get and
    // create pods/exec) and proxied to the node as a WebSocket upgrade
    expect(agent.kubeletRequests.some((r) => r.path === `/exec/shop/worker-0/${name}` && r.status === 101), JSON.stringify(agent.kubeletRequests.filter((r) => r.path.startsWith('/exec')))).toBe(true)
    const terminated = await waitFor('the ephemeral container terminated', async () => {
      const status = (await getPod('worker-0')).status.ephemeralContainerStatuses?.find((s: {name: string}) => s.name === name)
      return status?.state?.terminated
    })
    expect(terminated.exitCode).toBe(0)
    // stopped at the end of the inject phase by that exec, not left to burn on to its deadline
    const log = agent.running('shop', 'worker-0')!.containers.find((c) => c.name === name)!.log
    expect(log).toMatch(/"type":"exit"[^\n]*"reason":"signal"/)
    expect(log).not.toContain('"reason":"deadline"')
    expect(agent.errors).toEqual([])
  })

  it('the Job of `chaos k8s manifests` runs as a pod on the node: in-cluster configuration from the token the node asked for that pod, every request authorized by the real RBAC', async () => {
    // the Job as the server stored it (beforeAll applied the manifests); no Job controller runs, so the test creates
    // the pod it would: the template, owned by the Job, bound to the agent's node (no scheduler either)
    const job = (await server.request('GET', '/apis/batch/v1/namespaces/chaos/jobs/chaos-helper')).body
    expect(job.kind, JSON.stringify(job)).toBe('Job')
    const template = job.spec.template
    const created = await server.request('POST', '/api/v1/namespaces/chaos/pods', {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: 'chaos-helper-', labels: {...template.metadata.labels, 'batch.kubernetes.io/job-name': 'chaos-helper', 'batch.kubernetes.io/controller-uid': job.metadata.uid},
        ownerReferences: [{apiVersion: 'batch/v1', kind: 'Job', name: 'chaos-helper', uid: job.metadata.uid, controller: true, blockOwnerDeletion: true}],
      },
      spec: {...template.spec, nodeName: agent.nodeName},
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const name: string = created.body.metadata.name
    // the server's ServiceAccount admission gave the pod its service account volume; the agent fills it as a kubelet
    // does (a TokenRequest as the node, bound to this pod; kube-root-ca.crt; the namespace) and mounts it where
    // client libraries look for it
    const projected = created.body.spec.volumes.find((v: Obj) => v.projected?.sources?.some((source: Obj) => source.serviceAccountToken))
    expect(projected, JSON.stringify(created.body.spec.volumes)).toBeDefined()
    expect(created.body.spec.containers[0].volumeMounts).toContainEqual({name: projected.name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true})
    const auditedBefore = server.auditEvents().length
    const phase = await waitFor('the Job\'s pod finished', async () => {
      const p = (await server.request('GET', `/api/v1/namespaces/chaos/pods/${name}`)).body
      return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p.status.phase as string : undefined
    }, 110_000)
    // its output through the server's log proxying, as `kubectl logs job/chaos-helper` would read it
    const logs = await server.request('GET', `/api/v1/namespaces/chaos/pods/${name}/log`)
    // (the request helper parses a body that is JSON: the pod printed the journal and nothing else)
    const output = typeof logs.body === 'string' ? logs.body : JSON.stringify(logs.body)
    expect(phase, output.slice(-3000)).toBe('Succeeded')
    const journal = JSON.parse(output)
    expect(journal.verdict, output.slice(-3000)).toBe('contained')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    expect(journal.plan.join('\n')).toContain('kubernetes: in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount)')

    // what the server's audit log says the pod's toolkit did, under the Job's ServiceAccount
    const events = server.auditEvents().slice(auditedBefore).filter((e) => e.user.username === 'system:serviceaccount:chaos:chaos-helper' && e.stage === 'ResponseComplete')
    expect(events.length).toBeGreaterThan(5)
    // with the token the node asked for this very pod: the server names the pod the token is bound to
    expect([...new Set(events.map((e) => e.user.extra?.['authentication.kubernetes.io/pod-name']?.[0]))]).toEqual([name])
    expect(events.filter((e) => e.responseStatus?.code === 401 || e.responseStatus?.code === 403).map((e) => `${e.responseStatus?.code} ${e.verb} ${e.requestURI}`)).toEqual([])
    // one helper pod created in shop (besides the plan's dry-run), deleted after; none left
    const creates = events.filter((e) => e.verb === 'create' && e.objectRef?.resource === 'pods' && e.objectRef.subresource === undefined && !e.requestURI.includes('dryRun'))
    expect(creates.map((e) => [e.objectRef?.namespace, e.responseStatus?.code])).toEqual([['shop', 201]])
    expect(events.some((e) => e.verb === 'delete' && e.objectRef?.resource === 'pods' && e.objectRef.namespace === 'shop' && e.responseStatus?.code === 200)).toBe(true)
    await waitFor('the helper pod gone', async () => ((await toolkitPods()).length === 0 ? true : undefined))
    // the finished pod is removed as the Job's ttlSecondsAfterFinished would (the agent removes its volumes)
    expect((await server.request('DELETE', `/api/v1/namespaces/chaos/pods/${name}`)).status).toBe(200)
    await waitFor('the Job\'s pod gone', async () => ((await server.request('GET', `/api/v1/namespaces/chaos/pods/${name}`)).status === 404 ? true : undefined))
    expect(agent.errors).toEqual([])
  })

  it('neighbour signals from a real cAdvisor behind the node\'s kubelet API, scraped by a real Prometheus: chaos run judges the api container while a helper pod hogs the worker, whose throttling shows there', async () => {
    // cAdvisor watches the agent's cgroups; the agent gives them the kubelet's labels and serves /metrics/cadvisor
    const labelsFile = join(dir, 'cadvisor-labels.json')
    const cadvisor = await startCadvisor({labelsFile, housekeeping: '1s', rawPrefixes: [`/${agent.runtimeRoot}`]})
    agent.useCadvisor({url: cadvisor.url, labelsFile})
    // Prometheus scrapes the kubelet's /metrics/cadvisor at the node's address over HTTPS, as kube-prometheus's
    // kubelet ServiceMonitor does (kubernetes_sd_configs role node; here the one node as a static target), with a
    // client certificate of the cluster's CA. Through the API server's node proxy it cannot be done here: the real
    // server refuses to proxy to a node whose address is loopback (400 "address not allowed")
    const admin = JSON.parse(readFileSync(server.adminKubeconfig, 'utf8')).users[0].user
    const node = `127.0.0.1:${agent.kubeletPort}`
    const proxied = await server.request('GET', `/api/v1/nodes/${agent.nodeName}/proxy/metrics/cadvisor`)
    expect([proxied.status, proxied.body?.message]).toEqual([400, 'address not allowed'])
    const prometheus = await startPrometheus({config: `global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 15s}
scrape_configs:
  - job_name: kubelet-cadvisor
    scheme: https
    metrics_path: /metrics/cadvisor
    tls_config: {ca_file: ${server.caFile}, cert_file: ${admin['client-certificate']}, key_file: ${admin['client-key']}}
    static_configs: [{targets: ['${node}']}]
`})
    try {
      const API = '{namespace="shop",pod="api-0",container="app"}'
      const WORKER = '{namespace="shop",pod="worker-0",container="app"}'
      await waitFor('the api container\'s series in Prometheus', async () => ((await instantQuery(prometheus.url, `container_memory_working_set_bytes${API}`)).length === 1 ? true : undefined), 30_000)
      const text = experiment('helper-pod', {fault: '{type: cpu-hog, load: 100%}'})
        .replace("selector: \"app=api,tier in (web)\"", 'selector: "app=api"')
        // cAdvisor stamps each sample with its housekeeping time (every 1 s here), not the scrape's: a rate window of
        // twice the scrape interval (2 s) then holds one sample now and then, and that point is missing (seen on a
        // loaded CI machine: one fault point, inconclusive). An interval of 3 s makes the rate window 3 s
        .replace(/^phases: .*$/m, 'phases: {warmup: 0s, baseline: 9s, inject: 12s, recover: 0s, interval: 3s}')
        // the api's working set against a bound under its 256Mi limit, not against its baseline: a Node workload's
        // working set is a garbage collector's sawtooth, and its maximum over the 12 s fault window against the 9 s
        // baseline's once read 25.2Mi -> 42.0Mi (+67%) in CI with nothing touching the api (a breach of a
        // max_increase of 50%). The hog's harm to the api is what cpu_throttled asks about
        .replace(/^hypothesis:\n(  - .*\n)+/m, 'hypothesis:\n  - {signal: cpu_throttled, neighbor: api, max: 10%}\n  - {signal: memory, neighbor: api, max: 192Mi}\n')
        + `metrics:
  source: prometheus
  url: ${prometheus.url}
  scrapeInterval: 1s
  latency: service
  neighbors:
    api: {containerSelector: '${API}'}
`
      const running = runUnderServiceAccount('helper-pod', 'cadvisor', text)
      // while it runs: the worker container's throttling as Prometheus has it from cAdvisor
      const throttled: Array<{t: number, value: number}> = []
      let done = false
      void running.finally(() => (done = true))
      while (!done) {
        const t = Date.now()
        const r = await instantQuery(prometheus.url, `rate(container_cpu_cfs_throttled_periods_total${WORKER}[3s])`).catch(() => [])
        if (r.length === 1) throttled.push({t, value: Number(r[0].value[1])})
        await new Promise((res) => setTimeout(res, 500))
      }
      const {result, journal} = await running
      expect(result.code, result.out).toBe(0)
      expect(journal.verdict, journal.reason).toBe('contained')
      expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
      expect(journal.plan.join('\n')).toContain(`api: {job="api"}, cAdvisor ${API}`)
      // the api's signals came from Prometheus, hence from cAdvisor: the same range queries over the journal's
      // windows give the very values
      const client = new PrometheusClient({url: prometheus.url, timeoutMs: 10_000, retries: 1})
      const api = journal.neighbors.find((n: Obj) => n.name === 'api')
      const queries = {
        memory: [`sum(container_memory_working_set_bytes${API}) or sum(process_resident_memory_bytes{job="api"})`, 'max'],
        cpu_throttled: [`sum(rate(container_cpu_cfs_throttled_periods_total${API}[3s])) / sum(rate(container_cpu_cfs_periods_total${API}[3s]))`, 'mean'],
      } as const
      for (const [signal, [query, statistic]] of Object.entries(queries)) {
        const sig = api.signals.find((x: Obj) => x.signal === signal)
        expect(sig.verdict, `${signal}: ${sig.reason}`).toBe('contained')
        for (const [window, value, count] of [[journal.phases.baseline, sig.baseline, sig.baselineCount], [journal.phases.inject, sig.fault, sig.faultCount]]) {
          const series = await client.queryRange(query, Date.parse(window.start) + 3000, Date.parse(window.end), 3000)
          expect(series, `${signal} ${query}`).toHaveLength(1)
          const values = series[0].values.map(([, v]: [number, string]) => Number(v))
          expect(values.length, signal).toBe(count)
          const expected = statistic === 'max' ? Math.max(...values) : values.reduce((a: number, b: number) => a + b, 0) / values.length
          expect(value, `${signal}: journal ${value} vs Prometheus ${expected}`).toBeCloseTo(expected, 9)
        }
      }
      // the working set cAdvisor reports is the api container's own: between its workload's size and its limit
      const memory = api.signals.find((x: Obj) => x.signal === 'memory')
      expect(memory.baseline).toBeGreaterThan(5 * 1024 ** 2)
      expect(memory.baseline).toBeLessThan(256 * 1024 ** 2)
      // the worker container throttled by its own 500m quota while the hog ran, and not before
      const inject = {from: Date.parse(journal.phases.inject.start) + 3000, to: Date.parse(journal.phases.inject.end)}
      const baseline = {from: Date.parse(journal.phases.baseline.start), to: Date.parse(journal.phases.baseline.end)}
      const during = throttled.filter((x) => x.t >= inject.from && x.t <= inject.to).map((x) => x.value)
      const before = throttled.filter((x) => x.t >= baseline.from && x.t <= baseline.to).map((x) => x.value)
      expect(during.length, JSON.stringify(throttled)).toBeGreaterThanOrEqual(4)
      expect(before.length, JSON.stringify(throttled)).toBeGreaterThanOrEqual(3)
      expect(Math.max(...during), JSON.stringify({before, during})).toBeGreaterThan(Math.max(...before))
    } finally {
      await prometheus.stop()
      await cadvisor.stop()
    }
  })

  // last: it reads what the runs above asked of the server
  it('over this suite, every request the toolkit made under its ServiceAccounts was within its Role, none refused, and together they used every verb the manifests grant', async () => {
    const used = new Set<string>()
    for (const [mechanism, name] of [['helper-pod', 'chaos-helper'], ['ephemeral-container', 'chaos-eph']] as const) {
      // what the applied Role (in shop) and ClusterRole grant this ServiceAccount, as the server holds them
      const role = (await server.request('GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/${name}`)).body
      const clusterRole = (await server.request('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}-namespaces`)).body
      const granted = new Set([...role.rules, ...clusterRole.rules].flatMap((rule: Obj) => rule.apiGroups.flatMap((group: string) => rule.resources.flatMap((res: string) => rule.verbs.map((verb: string) => {
        const [resource, subresource] = res.split('/')
        return describePermission({verb, resource, subresource, group})
      })))))
      const events = server.auditEvents().filter((e) => e.user.username === `system:serviceaccount:chaos:${name}` && e.stage === 'ResponseComplete' && e.objectRef?.resource !== 'selfsubjectaccessreviews')
      expect(events.length, mechanism).toBeGreaterThan(10)
      expect(events.filter((e) => e.responseStatus?.code === 401 || e.responseStatus?.code === 403).map((e) => `${e.responseStatus?.code} ${e.verb} ${e.requestURI}`)).toEqual([])
      const asked = events.map((e) => describePermission({verb: e.verb, resource: e.objectRef!.resource!, subresource: e.objectRef!.subresource, group: e.objectRef!.apiGroup ?? ''}))
      expect([...new Set(asked.filter((p) => !granted.has(p)))], `${mechanism}: asked outside its Role`).toEqual([])
      for (const p of asked) used.add(p)
    }
    // create pods/exec is not a request of its own: the server checks it on the exec's WebSocket GET (1.35+)
    expect([...used].sort()).toEqual(PERMISSIONS.map(describePermission).filter((p) => p !== 'create pods/exec').sort())
  })
})

describe('kubernetes platform: refusals before anything starts, against the real server', () => {
  it('--context picks the kubeconfig context and --mechanism the mechanism; an unknown context is exit 2, and so is either flag off platform kubernetes', async () => {
    // the current context points at a port where nothing listens: only --context chaos-helper reaches the server
    const config = JSON.parse(readFileSync(kubeconfigs['helper-pod'], 'utf8'))
    config['current-context'] = 'elsewhere'
    config.clusters.push({name: 'dead', cluster: {server: 'https://127.0.0.1:1'}})
    config.contexts.push({name: 'elsewhere', context: {cluster: 'dead', user: 'chaos-helper'}})
    const cfg = write('two-contexts', JSON.stringify(config))
    const file = write('ctx.yaml', experiment('helper-pod'))
    const chosen = await chaos(['run', file, '--dry-run', '--context', 'chaos-helper'], {KUBECONFIG: cfg})
    expect(chosen.code, chosen.out).toBe(0)
    expect(chosen.out).toContain('worker-0')
    const unknown = await chaos(['run', file, '--dry-run', '--context', 'nope'], {KUBECONFIG: cfg})
    expect(unknown.code, unknown.out).toBe(2)
    expect(unknown.out).toContain('kubeconfig context "nope" does not exist')
    expect(unknown.out).toContain('chaos-helper, elsewhere')
    const offPlatform = await chaos(['run', 'experiments/cpu-hog.yaml', '--dry-run', '--context', 'chaos-helper'], {KUBECONFIG: cfg})
    expect(offPlatform.code, offPlatform.out).toBe(2)
    expect(offPlatform.out).toContain('--context is for platform kubernetes; this experiment is platform process')
    // --mechanism overrides kubernetes.mechanism the same way
    const mechanism = await chaos(['run', write('mech.yaml', experiment('ephemeral-container')), '--dry-run', '--mechanism', 'helper-pod'], {KUBECONFIG: cfg, CHAOS_KUBE_CONTEXT: 'chaos-helper'})
    expect(mechanism.code, mechanism.out).toBe(0)
    expect(mechanism.out).toContain('mechanism helper-pod: a privileged helper pod')
    const mechanismOff = await chaos(['run', 'experiments/cpu-hog.yaml', '--dry-run', '--mechanism', 'helper-pod'])
    expect(mechanismOff.code, mechanismOff.out).toBe(2)
    expect(mechanismOff.out).toContain('--mechanism is for platform kubernetes')
  })

  it('disk-fill and network-flood refusals: each exit 2 with the reason, before anything starts', async () => {
    const scratch = join(dir, 'scratch')
    const cases: Array<['helper-pod' | 'ephemeral-container', string, string, RegExp]> = [
      ['helper-pod', '', `{type: disk-fill, path: ${scratch}/x, size: 16Mi}`, /disk-fill path \S+\/x is not under safety\.allowPaths \(empty\); on this platform the paths are as the target container sees them/],
      ['helper-pod', `safety: {allowPaths: [${scratch}]}\n`, `{type: disk-fill, path: ${scratch}, size: 50%}`, /a percentage is of the target container's limits\.ephemeral-storage, which it does not set; give the size in bytes/],
      // the service account's volume, which the real server's admission mounted read-only, is not offered
      ['ephemeral-container', 'safety: {allowPaths: [/var/log]}\n', '{type: disk-fill, path: /var/log, size: 16Mi}', /with mechanism ephemeral-container a fill goes into a writable volume of container app \(its writable mounts: \S+scratch\); a path in its writable layer needs mechanism helper-pod/],
      ['ephemeral-container', 'safety: {allowPaths: [/var/run/secrets]}\n', '{type: disk-fill, path: /var/run/secrets/kubernetes.io/serviceaccount, size: 16Mi}', /volume kube-api-access-\w+ is mounted read-only in container app/],
      ['helper-pod', `safety: {allowPaths: [${scratch}], maxDisk: 1Gi}\n`, `{type: disk-fill, path: ${scratch}, size: 2Gi}`, /above safety\.maxDisk/],
    ]
    for (const [mechanism, extra, fault, message] of cases) {
      const result = await chaos(['run', write('refuse-fill.yaml', experiment(mechanism, {extra, fault})), '--dry-run'], {KUBECONFIG: kubeconfigs[mechanism]})
      expect(result.code, result.out).toBe(2)
      expect(result.out).toMatch(message)
    }
    const allContainers = experiment('helper-pod', {fault: '{type: network-flood}', targetSelector: 'app=flooder'}).replace('container: app}', 'allContainers: true}')
    const refused = await chaos(['run', write('refuse-flood.yaml', allContainers), '--dry-run'], {KUBECONFIG: kubeconfigs['helper-pod']})
    expect(refused.code, refused.out).toBe(2)
    expect(refused.out).toContain('a pod\'s containers share one network namespace')
    const planned = await chaos(['run', write('plan-flood.yaml', experiment('helper-pod', {fault: '{type: network-flood}', targetSelector: 'app=flooder'})), '--dry-run'], {KUBECONFIG: kubeconfigs['helper-pod']})
    expect(planned.code, planned.out).toBe(0)
    expect(planned.out).toContain('inside the target pod\'s network namespace (its loopback')
    expect(await toolkitPods()).toEqual([])
  })

  it('in-cluster configuration with a token the server does not know: exit 4, the server refused the credentials (401)', async () => {
    // the service account's files where a pod has them, in a mount namespace of the run's own (a tmpfs over /run);
    // the valid case is the Job's pod above, whose token the node asked for
    const sa = join(dir, 'serviceaccount')
    mkdirSync(sa, {recursive: true})
    writeFileSync(join(sa, 'ca.crt'), readFileSync(server.caFile))
    writeFileSync(join(sa, 'namespace'), 'chaos')
    writeFileSync(join(sa, 'token'), 'not-a-token-of-this-server')
    const env: Record<string, string | undefined> = {...process.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(server.url).port, HOME: dir, SA: sa, CHAOS_STATE_DIR: join(dir, 'state')}
    delete env.KUBECONFIG
    delete env.CHAOS_KUBE_CONTEXT
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs chaos-test-sa /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp "$SA"/* /run/secrets/kubernetes.io/serviceaccount/ && exec "$0" "$@"',
      process.execPath, BIN, 'run', write('incluster.yaml', experiment('helper-pod')), '--dry-run'], {env})
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, out).toBe(4)
    expect(out, out).toContain('refused the credentials (401 Unauthorized)')
  })

  it('no kubeconfig and not in a pod: exit 4', async () => {
    const result = await chaos(['run', write('e1.yaml', experiment('helper-pod')), '--dry-run'], {KUBECONFIG: join(dir, 'missing'), HOME: dir})
    expect(result.code, result.out).toBe(4)
    expect(result.out).toContain('no kubeconfig')
  })
})
