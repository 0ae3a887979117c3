// The Job that `chaos k8s manifests` emits, run as a kubelet would run its pod (docs/kubernetes.md, "RBAC"): the
// pod template's only container, from the toolkit image built by scripts/docker-images.sh, under the real Docker
// engine, with exactly the Job's command, args, env, resources.limits and volumes (the ConfigMap holding the
// experiment, the state emptyDir), plus what a kubelet adds: KUBERNETES_SERVICE_HOST/_PORT and the service
// account's token, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount. The "cluster" is the fake
// API server in this process (test/helpers/fake-kube-api.ts, with its local runtime), demanding the service
// account's bearer token and granting exactly the verbs of the Role and ClusterRole the same manifests emit. The
// container shares the host's network (--network host): the fake listens on 127.0.0.1 only, and the api
// neighbour's probe reaches its workload there. So this proves the image, the Job's spec, the in-cluster
// configuration and least-privilege RBAC together; not a real kubelet, scheduler or apiserver (docs/kubernetes.md).
//
// Every container carries the label chaos.run=<this file's tag> and is removed in afterAll, which then checks that
// none is left. Skipped only when no engine answers AND CHAOS_REQUIRE_DOCKER is unset (as toolkit-image.test.ts).
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {engineProblem} from '../../src/platforms/docker/engine.js'
import {manifests} from '../../src/platforms/kubernetes/manifests.js'
import {describePermission} from '../../src/platforms/kubernetes/rbac.js'
import {FakeKubeApi, parseCpu, parseQuantity, workloadPod, workloadsAnswer, type RequestRecord} from '../helpers/fake-kube-api.js'
import {docker, type DockerResult, removeLabelledContainers} from '../helpers/docker-cli.js'
import {kubeExperiment} from '../helpers/kube-experiment.js'
import {freePort} from '../helpers/prometheus-server.js'

const execFileAsync = promisify(execFile)
const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER
const IMAGE = process.env.CHAOS_DOCKER_IMAGE ?? 'chaos-demo:local'
const tag = `kubernetes-job-${randomBytes(4).toString('hex')}`
const TOKEN = `sa-token-${randomBytes(8).toString('hex')}`
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

type Result = DockerResult


const PORTS = {worker: 0, api: 0}

/** The shape of the Kubernetes suites' experiment (test/helpers/kube-experiment.ts): a 50% CPU hog through a helper pod. */
function experiment(): string {
  return kubeExperiment({name: 'k8s-job-helper-pod', image: IMAGE, apiPort: PORTS.api})
}

type Rule = {apiGroups: string[], resources: string[], verbs: string[]}

/** A Role's or ClusterRole's rules as describePermission strings ("verb resource[/sub][.group]"). */
function permissionsOf(rules: Rule[]): string[] {
  return rules.flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources.flatMap((res) => rule.verbs.map((verb) => {
    const [resource, subresource] = res.split('/')
    return describePermission({verb, resource, subresource, group})
  }))))
}

let objects: Json[]
let job: Json
let fake: FakeKubeApi
let dir: string
/** the RBAC the manifests grant: per namespace (Roles, via their RoleBindings) and cluster-wide (ClusterRole) */
const granted = {namespaced: new Map<string, Set<string>>(), cluster: new Set<string>()}

/**
 * Runs the Job's pod as a kubelet would: its container with the pod template's command, args, env, limits and
 * volume mounts, the service account's files (`token` as given) and the in-cluster service environment.
 */
async function runJobPod(token: string, onTick?: () => void): Promise<Result & {seconds: number}> {
  const spec = job.spec.template.spec
  expect(spec.containers).toHaveLength(1)
  const c = spec.containers[0]
  const pod = mkdtempSync(join(dir, 'pod-'))
  const args = ['run', '--rm', '--label', `chaos.run=${tag}`, '--network', 'host']
  // the service account's projected volume, as the kubelet mounts it (read-only) into every container of a pod
  // whose serviceAccountName is set
  const sa = join(pod, 'serviceaccount')
  mkdirSync(sa)
  writeFileSync(join(sa, 'token'), token)
  writeFileSync(join(sa, 'ca.crt'), Buffer.from(JSON.parse(fake.kubeconfig()).clusters[0].cluster['certificate-authority-data'], 'base64'))
  const serviceAccount = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === spec.serviceAccountName)
  expect(serviceAccount, `ServiceAccount ${spec.serviceAccountName}`).toBeDefined()
  writeFileSync(join(sa, 'namespace'), job.metadata.namespace)
  args.push('-v', `${sa}:${SA_DIR}:ro`)
  // the pod's volumes, at the container's mount paths
  for (const mount of c.volumeMounts) {
    const volume = spec.volumes.find((v: Json) => v.name === mount.name)
    if (volume?.configMap) {
      const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.namespace === job.metadata.namespace && o.metadata.name === volume.configMap.name)
      expect(configMap, `ConfigMap ${volume.configMap.name}`).toBeDefined()
      const files = join(pod, `volume-${mount.name}`)
      mkdirSync(files)
      for (const [name, text] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(files, name), text)
      args.push('-v', `${files}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`)
    } else if (volume?.emptyDir) {
      args.push('--tmpfs', mount.mountPath)
    } else throw new Error(`volume ${mount.name}: neither a ConfigMap nor an emptyDir; this test does not know how to mount it`)
  }
  // what a kubelet puts in every container's environment for the kubernetes Service, and the container's own env
  args.push('-e', 'KUBERNETES_SERVICE_HOST=127.0.0.1', '-e', `KUBERNETES_SERVICE_PORT=${new URL(fake.url).port}`)
  for (const e of c.env ?? []) args.push('-e', `${e.name}=${e.value}`)
  // resources.limits, as the kubelet sets them on the container's cgroup
  if (c.resources?.limits?.cpu) args.push('--cpus', String(parseCpu(c.resources.limits.cpu)))
  if (c.resources?.limits?.memory) args.push('--memory', String(parseQuantity(c.resources.limits.memory)))
  // command replaces the image's entrypoint, args its CMD
  args.push('--entrypoint', c.command[0], c.image, ...c.command.slice(1), ...c.args)
  const started = Date.now()
  const ticker = onTick ? setInterval(onTick, 100) : undefined
  try {
    const result = await docker(args, 120_000)
    return {...result, seconds: (Date.now() - started) / 1000}
  } finally {
    clearInterval(ticker)
    rmSync(pod, {recursive: true, force: true})
  }
}

describe.skipIf(skip)('the Job of `chaos k8s manifests` runs the toolkit image in the "cluster" (fake API server, real Docker engine)', () => {
  beforeAll(async () => {
    // offline and idempotent: the engine, and the image from the local Node and dist/
    await execFileAsync('bash', ['scripts/docker-images.sh'], {timeout: 110_000})
    dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-job-'))
    PORTS.worker = await freePort()
    PORTS.api = await freePort()
    objects = manifests({namespace: 'chaos', experiment: experiment(), image: IMAGE, targetNamespaces: ['shop']})
    job = objects.find((o) => o.kind === 'Job')
    for (const o of objects) {
      if (o.kind === 'Role') {
        // a Role grants only through a RoleBinding of the Job's service account, in the Role's namespace
        const bound = objects.some((b) => b.kind === 'RoleBinding' && b.metadata.namespace === o.metadata.namespace && b.roleRef.kind === 'Role' && b.roleRef.name === o.metadata.name &&
          b.subjects.some((s: Json) => s.kind === 'ServiceAccount' && s.name === job.spec.template.spec.serviceAccountName && s.namespace === job.metadata.namespace))
        if (bound) granted.namespaced.set(o.metadata.namespace, new Set(permissionsOf(o.rules)))
      }
      if (o.kind === 'ClusterRole') {
        const bound = objects.some((b) => b.kind === 'ClusterRoleBinding' && b.roleRef.kind === 'ClusterRole' && b.roleRef.name === o.metadata.name &&
          b.subjects.some((s: Json) => s.kind === 'ServiceAccount' && s.name === job.spec.template.spec.serviceAccountName && s.namespace === job.metadata.namespace))
        if (bound) for (const p of permissionsOf(o.rules)) granted.cluster.add(p)
      }
    }
    expect([...granted.namespaced.keys()]).toEqual(['shop'])
    const allow = [...new Set([...granted.namespaced.get('shop')!, ...granted.cluster])]
    fake = new FakeKubeApi({runtime: true, token: TOKEN, allow, user: `system:serviceaccount:${job.metadata.namespace}:${job.spec.template.spec.serviceAccountName}`})
    await fake.start()
    fake.addNamespace('shop')
    await fake.addPod(workloadPod({name: 'worker-0', namespace: 'shop', port: PORTS.worker, cpu: '500m', memory: '256Mi', labels: {app: 'worker', 'chaos.allowed': 'true'}}))
    await fake.addPod(workloadPod({name: 'api-0', namespace: 'shop', port: PORTS.api, cpu: '500m', memory: '256Mi', labels: {app: 'api', tier: 'web'}}))
    // the workloads answer before the runs start
    await workloadsAnswer([PORTS.worker, PORTS.api])
  }, 120_000)

  afterAll(async () => {
    await fake?.stop()
    const left = await removeLabelledContainers(tag)
    if (dir) rmSync(dir, {recursive: true, force: true})
    expect(left, `containers labelled chaos.run=${tag} left behind`).toEqual([])
    expect(dir === undefined || !existsSync(dir)).toBe(true)
    // nothing of the fake's runtime is left: no kubepods-fake-* cgroup in any hierarchy
    const cgroups = await execFileAsync('sh', ['-c', 'ls -d /sys/fs/cgroup/*/kubepods-fake-* /sys/fs/cgroup/kubepods-fake-* 2>/dev/null || true'], {encoding: 'utf8'})
    expect(cgroups.stdout.trim()).toBe('')
  }, 60_000)

  it('exits 0 with the journal as JSON on stdout: contained, the dose landed, through the service account and with exactly the manifests\' RBAC', async () => {
    fake.requests.length = 0
    // the helper pods the run creates, as seen in the fake while the container runs
    const helpers = new Set<string>()
    const result = await runJobPod(TOKEN, () => {
      for (const p of fake.listPods()) if (p.metadata.labels?.['chaos.run']) helpers.add(`${p.metadata.namespace}/${p.metadata.name}`)
    })
    const why = `exit ${result.code}\nstderr: ${result.stderr.slice(-4000)}\nstdout: ${result.stdout.slice(0, 2000)}`
    expect(result.code, why).toBe(0)
    // stdout is the journal and nothing else (--json --quiet)
    const journal = JSON.parse(result.stdout)
    expect(journal.verdict, why).toBe('contained')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    const plan = journal.plan.join('\n')
    expect(plan).toContain('shop/worker-0')
    expect(plan).toContain(`kubernetes: in-cluster service account (${SA_DIR})`)
    expect(plan).toMatch(/cpu-hog: 0\.25 cores = 50% of 0\.5 CPU/)

    // every request carried the service account's token (the fake answers 401 without it) and was allowed
    const requests = fake.requests.filter((r) => r.resource !== 'selfsubjectaccessreviews')
    expect(requests.length).toBeGreaterThan(5)
    expect(fake.requests.filter((r) => r.status === 401 || r.status === 403).map((r) => `${r.status} ${r.method} ${r.path}`)).toEqual([])
    // each within the grant where it was made: the Role's verbs in the namespaces it is bound in, the ClusterRole's
    // at the cluster scope
    const outside = (r: RequestRecord) => r.namespace !== undefined ? !granted.namespaced.get(r.namespace)?.has(describePermission(r)) : !granted.cluster.has(describePermission(r))
    expect(requests.filter(outside).map((r) => `${describePermission(r)} ${r.namespace ?? '(cluster)'}`)).toEqual([])

    // a helper pod was created in shop, seen running, deleted, and no chaos.run pod is left
    expect(fake.requests.filter((r) => r.verb === 'create' && r.resource === 'pods' && r.subresource === undefined && !r.dryRun).map((r) => [r.namespace, r.status])).toEqual([['shop', 201]])
    expect(helpers.size, 'helper pods seen during the run').toBe(1)
    const [helper] = [...helpers]
    expect(fake.requests.some((r) => r.verb === 'delete' && `${r.namespace}/${r.name}` === helper && r.status === 200), `delete ${helper}`).toBe(true)
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
  })

  it('with the wrong token in the service account\'s volume: exit 4, the API server refused the credentials (401)', async () => {
    fake.requests.length = 0
    const result = await runJobPod('not-the-service-account-token')
    const why = `exit ${result.code}\nstderr: ${result.stderr.slice(-4000)}\nstdout: ${result.stdout.slice(0, 2000)}`
    expect(result.code, why).toBe(4)
    expect(result.stderr, why).toMatch(/refused the credentials \(401 Unauthorized\)/)
    // the fake answered, and only with 401; nothing was created
    expect(fake.requests.length).toBeGreaterThan(0)
    expect(fake.requests.filter((r) => r.status !== 401).map((r) => `${r.status} ${r.method} ${r.path}`)).toEqual([])
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
  })
})
