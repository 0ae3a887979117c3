// The kubernetes platform against a REAL kube-apiserver (v1.37.2 and etcd, built from the Go module proxy by
// scripts/kube/build.sh; test/helpers/kube-apiserver.ts): `chaos k8s manifests` applied and accepted by the server's
// own strict validation, the ServiceAccount they create allowed exactly what the toolkit needs and refused the rest
// by the real RBAC authorizer, the toolkit's preflight run under that ServiceAccount's token (a real TokenRequest),
// a missing verb named from the real server's answer, label and field selectors and pagination as the real server
// implements them. No kubelet runs in this suite, so pods stay Pending: what needs a running pod is in
// kubernetes-node-agent.test.ts, with the test node agent in a kubelet's place (docs/kubernetes.md says which parts are real).
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

import {connect} from '../../src/platforms/kubernetes/client.js'
import {PERMISSIONS, describePermission} from '../../src/platforms/kubernetes/rbac.js'
import {listPods} from '../../src/platforms/kubernetes/select.js'
import {type RealApiServer, startRealApiServer} from '../helpers/kube-apiserver.js'
import {kubeExperiment} from '../helpers/kube-experiment.js'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'run.js')
const run = promisify(execFile)

let server: RealApiServer
let dir: string
let experimentFile: string
let saKubeconfig: string

/** `chaos ARGS` as a child process; its exit code and all it printed. */
async function chaos(args: string[], env: Record<string, string> = {}): Promise<{code: number, out: string}> {
  try {
    const {stdout, stderr} = await run(process.execPath, [BIN, ...args], {env: {...process.env, CHAOS_STATE_DIR: join(dir, 'state'), ...env}, timeout: 60_000})
    return {code: 0, out: stdout + stderr}
  } catch (error) {
    const e = error as {code?: number, stdout?: string, stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}`}
  }
}

const PLURAL: Record<string, string> = {
  Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ConfigMap: 'configmaps', Pod: 'pods', Role: 'roles', RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Job: 'jobs', CronJob: 'cronjobs',
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = {apiVersion: string, kind: string, metadata: {name: string, namespace?: string, labels?: Record<string, string>}, [key: string]: any}

/** The collection path of an object, as the API server names it. */
function collection(o: Obj): string {
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`
  return `${base}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${PLURAL[o.kind]}`
}

/** Creates an object as the admin, with the server's strict field validation (an unknown field is an error). */
function create(o: Obj) {
  return server.request('POST', `${collection(o)}?fieldValidation=Strict`, o)
}

function pod(name: string, namespace: string, labels: Record<string, string>): Obj {
  return {apiVersion: 'v1', kind: 'Pod', metadata: {name, namespace, labels}, spec: {containers: [{name: 'app', image: 'chaos-toolkit:test', resources: {limits: {cpu: '500m', memory: '256Mi'}}}]}}
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-real-api-'))
  server = await startRealApiServer()
  for (const ns of ['chaos', 'shop', 'bulk']) await server.createNamespace(ns)
  // the target namespace is labelled for chaos; the pods are stored, validated and defaulted, and stay Pending
  expect((await server.request('PATCH', '/api/v1/namespaces/shop', {metadata: {labels: {'chaos.allowed': 'true'}}}, {contentType: 'application/merge-patch+json'})).status).toBe(200)
  for (const p of [pod('worker-0', 'shop', {app: 'worker', 'chaos.allowed': 'true'}), pod('api-0', 'shop', {app: 'api', tier: 'web'})]) {
    const res = await create(p)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
  }
  experimentFile = join(dir, 'real.yaml')
  writeFileSync(experimentFile, kubeExperiment({name: 'real-api', mechanism: 'ephemeral-container', image: 'chaos-toolkit:test', apiPort: 1}))
}, 45 * 60_000)

afterAll(async () => {
  await server?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('the kubernetes platform against a real kube-apiserver (RBAC, validation, selection; no kubelet)', () => {
  it('accepts every object `chaos k8s manifests` prints, under strict field validation, and refuses one with an unknown field', async () => {
    const printed = await chaos(['k8s', 'manifests', experimentFile, '--namespace', 'chaos', '--image', 'chaos-toolkit:test'])
    expect(printed.code, printed.out).toBe(0)
    const objects = parseAllDocuments(printed.out).map((d) => d.toJS() as Obj).filter(Boolean)
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Job', 'Role', 'RoleBinding', 'ServiceAccount'])
    for (const o of objects) {
      const res = await create(o)
      expect(res.status, `${o.kind} ${o.metadata.name}: ${JSON.stringify(res.body)}`).toBe(201)
    }
    // the server's defaults applied to the Job the toolkit runs in: it is a real object now
    const job = await server.request('GET', '/apis/batch/v1/namespaces/chaos/jobs/chaos')
    expect(job.body.spec.template.spec.serviceAccountName).toBe('chaos')
    expect(job.body.spec.template.spec.restartPolicy).toBe('Never')
    // the same validation refuses what it should: the check above is not a server that accepts anything
    const broken: Obj = {...objects.find((o) => o.kind === 'Job')!, metadata: {name: 'chaos-broken', namespace: 'chaos'}}
    broken.spec = {...broken.spec, backoffLimitt: 0}
    const refused = await create(broken)
    expect(refused.status).toBe(400)
    expect(JSON.stringify(refused.body)).toContain('backoffLimitt')
  })

  it('allows the toolkit\'s ServiceAccount every verb the run needs, and the real RBAC authorizer refuses anything else', async () => {
    const token = await server.tokenFor('chaos', 'chaos')
    saKubeconfig = server.tokenKubeconfig(token, 'chaos-sa')
    const review = async (namespace: string, verb: string, resource: string, subresource?: string, group = '') => {
      const res = await server.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {resourceAttributes: {namespace, verb, resource, subresource, group}},
      }, {token})
      expect(res.status).toBe(201)
      return res.body.status.allowed === true
    }
    const granted = PERMISSIONS.filter((p) => p.mechanism !== 'helper-pod' && !p.forNamespaceIsolation && p.group === '')
    for (const p of granted) expect(await review('shop', p.verb, p.resource, p.subresource, p.group), describePermission(p)).toBe(true)
    // beyond what the run needs: other verbs, other resources, other namespaces
    expect(await review('shop', 'list', 'secrets')).toBe(false)
    expect(await review('shop', 'delete', 'deployments', undefined, 'apps')).toBe(false)
    expect(await review('kube-system', 'list', 'pods')).toBe(false)
    expect(await review('', 'delete', 'namespaces')).toBe(false)
    // and a real request, not only a review: 403 from the server
    const secrets = await server.request('GET', '/api/v1/namespaces/shop/secrets', undefined, {token})
    expect(secrets.status).toBe(403)
    expect(secrets.body.message).toContain('system:serviceaccount:chaos:chaos')
  })

  it('chaos run --dry-run under the ServiceAccount: the real server allows every verb, and the Pending target is refused (exit 4)', async () => {
    const result = await chaos(['run', experimentFile, '--dry-run'], {KUBECONFIG: saKubeconfig})
    expect(result.code, result.out).toBe(4)
    expect(result.out).not.toContain('forbidden')
    expect(result.out).toMatch(/pod shop\/worker-0 is Pending, not Running/)
  })

  it('a Role without one verb: the preflight names it from the real server\'s answer, exit 4, and creates nothing', async () => {
    const role = await server.request('GET', '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/chaos')
    const rules = (role.body.rules as {verbs: string[], resources: string[]}[]).map((r) => ({...r, resources: r.resources.filter((x) => x !== 'pods/ephemeralcontainers')})).filter((r) => r.resources.length > 0)
    expect(rules.length).toBeGreaterThan(0)
    const replaced = await server.request('PUT', '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/chaos', {...role.body, rules})
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200)
    try {
      const result = await chaos(['run', experimentFile, '--dry-run'], {KUBECONFIG: saKubeconfig})
      expect(result.code, result.out).toBe(4)
      expect(result.out).toContain('forbidden by RBAC')
      expect(result.out).toContain('"patch pods/ephemeralcontainers" in namespace shop')
      const pods = await server.request('GET', '/api/v1/namespaces/shop/pods')
      expect(pods.body.items.map((p: Obj) => p.metadata.name).sort()).toEqual(['api-0', 'worker-0'])
    } finally {
      // unconditionally (the role's resourceVersion moved on with the edit above): the later tests need it whole
      const {resourceVersion, ...metadata} = role.body.metadata
      const restored = await server.request('PUT', '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/chaos', {...role.body, metadata})
      expect(restored.status, `${resourceVersion}: ${JSON.stringify(restored.body)}`).toBe(200)
    }
  })

  it('reads chaos.allowed from the namespace when a running pod carries none (the ClusterRole\'s get namespaces), and refuses a pod in an unlabelled namespace or no pod at all, exit 2', async () => {
    expect((await create(pod('lone-0', 'shop', {app: 'lone'}))).status).toBe(201)
    expect((await create(pod('stray-0', 'bulk', {app: 'stray'}))).status).toBe(201)
    // the status a node would write for a started container (no kubelet runs here): the pods are Running from now on
    for (const [ns, name] of [['shop', 'lone-0'], ['bulk', 'stray-0'], ['shop', 'api-0']]) {
      const startedAt = new Date().toISOString()
      const res = await server.request('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {status: {
        phase: 'Running', conditions: [{type: 'Ready', status: 'True', lastTransitionTime: startedAt}],
        containerStatuses: [{name: 'app', ready: true, started: true, restartCount: 0, image: 'chaos-toolkit:test', imageID: '', containerID: `containerd://${name}`, state: {running: {startedAt}}}],
      }}, {contentType: 'application/merge-patch+json'})
      expect(res.status, JSON.stringify(res.body)).toBe(200)
    }
    const lone = join(dir, 'lone.yaml')
    writeFileSync(lone, kubeExperiment({name: 'real-lone', mechanism: 'ephemeral-container', image: 'chaos-toolkit:test', apiPort: 1, targetSelector: 'app=lone'}))
    // shop is labelled chaos.allowed=true: the unlabelled pod passes, read under the ServiceAccount, and the plan is whole
    const inLabelled = await chaos(['run', lone, '--dry-run'], {KUBECONFIG: saKubeconfig})
    expect(inLabelled.code, inLabelled.out).toBe(0)
    expect(inLabelled.out).toContain('namespace shop is labelled chaos.allowed=true')
    // bulk is not labelled (the admin lists there: the ServiceAccount's Role is in shop only)
    const stray = join(dir, 'stray.yaml')
    writeFileSync(stray, kubeExperiment({name: 'real-stray', mechanism: 'ephemeral-container', image: 'chaos-toolkit:test', apiPort: 1, targetSelector: 'app=stray'}).replace('pods: {namespace: shop, selector: "app=stray"', 'pods: {namespace: bulk, selector: "app=stray"'))
    const unlabelled = await chaos(['run', stray, '--dry-run'], {KUBECONFIG: server.adminKubeconfig})
    expect(unlabelled.code, unlabelled.out).toBe(2)
    expect(unlabelled.out).toContain('stray-0 in namespace bulk is not labelled for chaos')
    // the experiment's override lets it through, and the plan says so
    const overridden = join(dir, 'stray-overridden.yaml')
    writeFileSync(overridden, readFileSync(stray, 'utf8').replace('seed: 7}', 'seed: 7, allowUnlabelled: true}'))
    const allowed = await chaos(['run', overridden, '--dry-run'], {KUBECONFIG: server.adminKubeconfig})
    expect(allowed.code, allowed.out).toBe(0)
    expect(allowed.out).toContain('safety OVERRIDDEN')
    const none = join(dir, 'none.yaml')
    writeFileSync(none, kubeExperiment({name: 'real-none', mechanism: 'ephemeral-container', image: 'chaos-toolkit:test', apiPort: 1, targetSelector: 'app=nothing'}))
    const noPods = await chaos(['run', none, '--dry-run'], {KUBECONFIG: saKubeconfig})
    expect(noPods.code, noPods.out).toBe(2)
    expect(noPods.out).toContain('no pods in namespace shop matching app=nothing')
  })

  it('selects through the real server\'s pagination (continue tokens), label selectors and field selectors, and passes on its refusal of a bad selector', async () => {
    for (let i = 0; i < 23; i++) expect((await create(pod(`many-${i}`, 'bulk', {app: 'many', shard: String(i % 3)}))).status).toBe(201)
    expect((await create(pod('other-0', 'bulk', {app: 'other'}))).status).toBe(201)
    const cluster = await connect({kubeconfig: server.adminKubeconfig})
    const all = await listPods(cluster, {namespace: 'bulk', selector: 'app=many'}, 5)
    expect(all.pages).toBe(5)
    expect(new Set(all.pods.map((p) => p.metadata!.name)).size).toBe(23)
    const shard = await listPods(cluster, {namespace: 'bulk', selector: 'app=many,shard in (0)'}, 5)
    expect(shard.pods.map((p) => p.metadata!.name).sort()).toEqual(Array.from({length: 8}, (_, i) => `many-${i * 3}`).sort())
    const byName = await listPods(cluster, {namespace: 'bulk', selector: 'app=many', fieldSelector: 'metadata.name=many-7'}, 5)
    expect(byName.pods.map((p) => p.metadata!.name)).toEqual(['many-7'])
    // a field the server cannot select on: its own 400, passed on as the experiment's error
    await expect(listPods(cluster, {namespace: 'bulk', selector: 'app=many', fieldSelector: 'spec.containers=x'}, 5)).rejects.toThrow(/pods\.selector\/fieldSelector in namespace bulk: the API server refused it/)
  })
})
