// A local fake of the Kubernetes API server, for tests: node:http on 127.0.0.1 (random port), with exactly the
// paths the toolkit's kubernetes platform uses. Shapes follow the Kubernetes API reference (core/v1 Pod, Namespace,
// meta/v1 Status, ListMeta and WatchEvent, authorization/v1 SelfSubjectAccessReview, metrics.k8s.io/v1beta1
// PodMetrics); test/unit/kubernetes-fake-api.test.ts checks the objects against the OpenAPI schemas with the
// kubernetes-models package.
//
// With `runtime: true` it is also a tiny kubelet: a running pod's containers are real local processes (the image
// is ignored; a command starting with "chaos" runs this checkout's bin/run.js), each in a cgroup of its own under
// kubepods-fake-ID/podUID/CONTAINERID with the container's resources.limits applied, and status.containerStatuses[]
// .containerID names that directory. So a helper pod really can find and join the target container's cgroup.
import {randomBytes, randomUUID} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import type {IncomingMessage, Server, ServerResponse} from 'node:http'
import {createServer} from 'node:https'
import {tmpdir} from 'node:os'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import {Cgroup, type CgroupLayout, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {readCgroupSample} from '../../src/metrics/resources.js'
import {closeExecSessions, handleExecUpgrade} from './fake-kube-exec.js'
import {serveKubeletProxy} from './fake-kubelet-cadvisor.js'
import {conditions, type ContainerExit, containerIdOf, OWN_NETNS_ANNOTATION, createPodBox, createPodNetns, deletePodNetns, launchContainer, now, type RunningContainer, serveContainerLog, stopContainer, terminatedState} from './local-runtime.js'

export {OWN_NETNS_ANNOTATION, parseCpu, parseQuantity} from './local-runtime.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

export interface RequestRecord {
  method: string
  path: string
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
  name?: string
  status: number
  /** a request with dryRun=All: answered, nothing stored */
  dryRun?: boolean
}

export interface FakeKubeOptions {
  /** who the caller is (for Forbidden messages and SelfSubjectAccessReview) */
  user?: string
  /**
   * RBAC as "verb resource[/subresource][.group]" entries, e.g. "list pods", "patch pods/ephemeralcontainers",
   * "get pods.metrics.k8s.io". Undefined: everything is allowed.
   */
  allow?: string[]
  /** run pods' containers as local processes (see above) */
  runtime?: boolean
  nodeName?: string
  /** a bearer token every request must carry (a service account's); without it: 401, as the apiserver answers */
  token?: string
}

interface WatchClient {
  res: ServerResponse
  namespace?: string
  labelSelector?: Requirement[]
  fieldSelector?: FieldRequirement[]
}

type Requirement = {key: string, op: 'in' | 'notin' | 'exists' | '!exists', values: string[]}
type FieldRequirement = {field: string, op: '=' | '!=', value: string}


const POD_FIELDS = new Set(['metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'])

export class FakeKubeApi {
  readonly requests: RequestRecord[] = []
  private server?: Server
  private resourceVersion = 1000
  private readonly namespaces = new Map<string, Json>()
  private readonly pods = new Map<string, Json>()
  private readonly events: {rv: number, type: string, object: Json}[] = []
  private readonly watchers = new Set<WatchClient>()
  private readonly runtimes = new Map<string, RunningContainer[]>()
  private readonly netns = new Map<string, string>()
  private readonly quotas = new Map<string, Json>()
  private readonly limitRanges = new Map<string, Json>()
  private readonly continues = new Map<string, {rv: string, keys: string[]}>()
  private layout?: CgroupLayout
  private tls?: {dir: string, cert: string, key: string}
  readonly runtimeRoot = `kubepods-fake-${randomBytes(4).toString('hex')}`
  url = ''

  constructor(readonly options: FakeKubeOptions = {}) {}

  get user(): string {
    return this.options.user ?? 'system:serviceaccount:chaos:chaos'
  }

  async start(): Promise<string> {
    if (this.options.runtime) {
      this.layout = detectCgroupLayout()
      new Cgroup(this.layout, this.runtimeRoot).create()
    }
    // HTTPS with a throwaway self-signed certificate for 127.0.0.1, handed to clients as the kubeconfig's CA
    const tlsDir = mkdtempSync(join(tmpdir(), 'fake-kube-tls-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=fake-kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE'], {stdio: 'ignore'})
    this.tls = {dir: tlsDir, cert: readFileSync(join(tlsDir, 'cert.pem'), 'utf8'), key: readFileSync(join(tlsDir, 'key.pem'), 'utf8')}
    rmSync(tlsDir, {recursive: true, force: true})
    this.server = createServer({cert: this.tls.cert, key: this.tls.key}, (req, res) => {
      void this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) this.status(res, 500, 'InternalError', error.message)
        else res.end()
      })
    })
    // exec over WebSocket (fake-kube-exec.ts)
    this.server.on('upgrade', (req, socket, head) => handleExecUpgrade(this, req, socket, head))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this.url
  }

  async stop(): Promise<void> {
    closeExecSessions(this)
    for (const w of this.watchers) w.res.end()
    this.watchers.clear()
    for (const key of [...this.runtimes.keys()]) await this.stopContainers(key)
    if (this.layout) await new Cgroup(this.layout, this.runtimeRoot).remove()
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve()
      this.server.closeAllConnections()
      this.server.close(() => resolve())
    })
  }

  /** A kubeconfig (YAML is a superset of JSON) pointing at this server. */
  kubeconfig(context = 'fake'): string {
    return JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': context,
      clusters: [{name: 'fake', cluster: {server: this.url, 'certificate-authority-data': Buffer.from(this.tls!.cert).toString('base64')}}],
      users: [{name: 'fake', user: {token: 'fake-token'}}],
      contexts: [{name: context, context: {cluster: 'fake', user: 'fake', namespace: 'default'}}],
    })
  }

  // ---- state -------------------------------------------------------------------------------------------------

  private nextRv(): string {
    return String(++this.resourceVersion)
  }

  addNamespace(name: string, labels: Record<string, string> = {}): Json {
    const ns = {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: {name, uid: randomUUID(), resourceVersion: this.nextRv(), creationTimestamp: now(), labels: {'kubernetes.io/metadata.name': name, ...labels}},
      spec: {finalizers: ['kubernetes']},
      status: {phase: 'Active'},
    }
    this.namespaces.set(name, ns)
    return ns
  }

  /** Adds a pod as if created and scheduled; with the runtime, its containers start. phase: 'Pending' keeps it unscheduled. */
  async addPod(input: Json, opts: {phase?: 'Pending' | 'Running'} = {}): Promise<Json> {
    const pod = this.normalisePod(input)
    this.store(pod, 'ADDED')
    if (opts.phase !== 'Pending') await this.schedule(pod)
    return this.pods.get(key(pod.metadata.namespace, pod.metadata.name))
  }

  /** Many pods at once, without the runtime (for pagination and the benchmark). */
  addPodsBulk(pods: Json[]): void {
    for (const input of pods) {
      const pod = this.normalisePod(input)
      const startedAt = now()
      pod.spec.nodeName ??= this.nodeName
      pod.status = this.runningStatus(pod, startedAt, pod.spec.containers.map(() => `containerd://${containerIdOf()}`))
      this.store(pod, 'ADDED')
    }
  }

  getPod(namespace: string, name: string): Json | undefined {
    return this.pods.get(key(namespace, name))
  }

  /** A ResourceQuota (core/v1) in a namespace: spec.hard as given, status.used all zero (the fake admits anything). */
  addResourceQuota(namespace: string, name: string, hard: Record<string, string>): Json {
    const quota = {
      apiVersion: 'v1', kind: 'ResourceQuota',
      metadata: {name, namespace, uid: randomUUID(), resourceVersion: this.nextRv(), creationTimestamp: now()},
      spec: {hard}, status: {hard, used: Object.fromEntries(Object.keys(hard).map((k) => [k, '0']))},
    }
    this.quotas.set(key(namespace, name), quota)
    return quota
  }

  /** A LimitRange (core/v1): default limits and requests for the namespace's containers. */
  addLimitRange(namespace: string, name: string, limit: Json): Json {
    const range = {apiVersion: 'v1', kind: 'LimitRange', metadata: {name, namespace, uid: randomUUID(), resourceVersion: this.nextRv(), creationTimestamp: now()}, spec: {limits: [{type: 'Container', ...limit}]}}
    this.limitRanges.set(key(namespace, name), range)
    return range
  }

  removeNamespaceLimits(namespace: string): void {
    for (const map of [this.quotas, this.limitRanges]) for (const [k, o] of map) if (o.metadata.namespace === namespace) map.delete(k)
  }

  /** The network namespace of a pod annotated with OWN_NETNS_ANNOTATION (ip netns name), if it has one. */
  netnsOf(namespace: string, name: string): string | undefined {
    return this.netns.get(key(namespace, name))
  }

  listPods(): Json[] {
    return [...this.pods.values()]
  }

  /** For fake-kube-exec.ts: the Forbidden Status RBAC (the `allow` list) gives this request, or undefined. */
  forbidden(r: RequestRecord): Json | undefined {
    return this.denied(r)
  }

  /** For fake-kubelet-cadvisor.ts: each pod with containers in the runtime, and those containers' cgroups. */
  runtimePods(): {pod: Json, containers: {name: string, containerId: string, cgroup: Cgroup}[]}[] {
    return [...this.runtimes].flatMap(([k, list]) => this.pods.has(k) ? [{pod: this.pods.get(k), containers: list.flatMap((rc) => rc.cgroup && !rc.stopping ? [{name: rc.name, containerId: rc.containerId, cgroup: rc.cgroup}] : [])}] : [])
  }

  runningContainer(namespace: string, name: string, container: string): {cgroupDirs: string[], containerId: string} | undefined {
    const rc = this.runtimes.get(key(namespace, name))?.filter((r) => r.name === container).at(-1)
    return rc?.cgroup && !rc.ended && !rc.stopping ? {cgroupDirs: rc.cgroup.dirs(), containerId: rc.containerId} : undefined
  }

  private get nodeName(): string {
    return this.options.nodeName ?? 'fake-node-1'
  }

  private normalisePod(input: Json): Json {
    const pod = structuredClone(input)
    pod.apiVersion = 'v1'
    pod.kind = 'Pod'
    pod.metadata = {namespace: 'default', labels: {}, ...pod.metadata, uid: randomUUID(), creationTimestamp: now()}
    if (!pod.metadata.name && pod.metadata.generateName) pod.metadata.name = `${pod.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`
    pod.spec = {
      restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30,
      serviceAccountName: 'default', securityContext: {}, enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority', priority: 0,
      tolerations: [], ...pod.spec,
    }
    pod.spec.containers = (pod.spec.containers ?? []).map((c: Json) => ({
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent', resources: {}, ...c,
    }))
    pod.status = {phase: 'Pending', qosClass: qosClass(pod.spec.containers), conditions: [{type: 'PodScheduled', status: 'False', lastTransitionTime: now()}]}
    return pod
  }

  private store(pod: Json, type: 'ADDED' | 'MODIFIED' | 'DELETED'): void {
    pod.metadata.resourceVersion = this.nextRv()
    const k = key(pod.metadata.namespace, pod.metadata.name)
    if (type === 'DELETED') this.pods.delete(k)
    else this.pods.set(k, pod)
    const event = {rv: Number(pod.metadata.resourceVersion), type, object: structuredClone(pod)}
    this.events.push(event)
    if (this.events.length > 10_000) this.events.splice(0, 1000)
    for (const w of this.watchers) {
      if (this.watchMatches(w, pod)) w.res.write(`${JSON.stringify({type, object: pod})}\n`)
    }
  }

  private runningStatus(pod: Json, startedAt: string, ids: string[], restarts: number[] = []): Json {
    return {
      phase: 'Running', qosClass: qosClass(pod.spec.containers), hostIP: '127.0.0.1', hostIPs: [{ip: '127.0.0.1'}],
      podIP: '127.0.0.1', podIPs: [{ip: '127.0.0.1'}], startTime: startedAt, conditions: conditions(true),
      containerStatuses: pod.spec.containers.map((c: Json, i: number) => ({
        name: c.name, image: c.image, imageID: `${c.image}@sha256:${'0'.repeat(64)}`, containerID: ids[i],
        ready: true, started: true, restartCount: restarts[i] ?? 0, state: {running: {startedAt}}, lastState: {},
      })),
    }
  }

  private async schedule(pod: Json): Promise<void> {
    pod.spec.nodeName ??= this.nodeName
    const k = key(pod.metadata.namespace, pod.metadata.name)
    const ids = pod.spec.containers.map(() => containerIdOf())
    if (this.options.runtime) {
      createPodBox(this.layout!, `${this.runtimeRoot}/pod${pod.metadata.uid}`, pod.spec.containers)
      if (pod.metadata.annotations?.[OWN_NETNS_ANNOTATION] === 'true') this.netns.set(k, createPodNetns('chaos-fake'))
      const running: RunningContainer[] = []
      this.runtimes.set(k, running)
      pod.spec.containers.forEach((c: Json, i: number) => running.push(this.startContainer(pod, c, ids[i], false)))
    }
    pod.status = this.runningStatus(pod, now(), ids.map((id: string) => `containerd://${id}`))
    if (pod.spec.restartPolicy === 'Never' && this.options.runtime) pod.status.conditions = conditions(true)
    this.store(pod, 'MODIFIED')
  }

  private startContainer(pod: Json, c: Json, id: string, ephemeral: boolean): RunningContainer {
    const k = key(pod.metadata.namespace, pod.metadata.name)
    const rc: RunningContainer = launchContainer({
      layout: this.layout!, cgroupPath: `${this.runtimeRoot}/pod${pod.metadata.uid}/${id}`, spec: c, id, ephemeral, netns: this.netns.get(k),
      who: 'fake kubelet', onExit: (exit) => onExit(exit),
    })
    const onExit = (exit: ContainerExit) => {
      const current = this.pods.get(k)
      if (!current || current.metadata.deletionTimestamp || !this.runtimes.has(k)) return
      const terminated = terminatedState(rc, exit)
      const statuses = ephemeral ? current.status.ephemeralContainerStatuses : current.status.containerStatuses
      const status = statuses?.find((s: Json) => s.name === c.name)
      if (!status) return
      if (!ephemeral && current.spec.restartPolicy === 'Always') {
        // the kubelet restarts it in place: restartCount and lastState record the death
        status.restartCount++
        status.lastState = {terminated}
        const next = this.startContainer(current, c, id, false)
        const list = this.runtimes.get(k)!
        list[list.indexOf(rc)] = next
        status.state = {running: {startedAt: now()}}
      } else {
        status.state = {terminated}
        status.ready = false
        status.started = false
        if (!ephemeral) {
          const all = current.status.containerStatuses.every((s: Json) => s.state.terminated)
          if (all) current.status.phase = current.status.containerStatuses.every((s: Json) => s.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed'
          current.status.conditions = conditions(false)
        }
      }
      this.store(current, 'MODIFIED')
    }
    return rc
  }

  private async stopContainers(k: string): Promise<void> {
    const list = this.runtimes.get(k)
    if (!list) return
    this.runtimes.delete(k)
    for (const rc of list) rc.stopping = true
    await Promise.all(list.map((rc) => stopContainer(rc)))
    const uid = list[0]?.cgroup?.relativePath.split('/')[1]
    if (uid && this.layout) await new Cgroup(this.layout, `${this.runtimeRoot}/${uid}`).remove()
    const netns = this.netns.get(k)
    if (netns) {
      this.netns.delete(k)
      deletePodNetns(netns)
    }
  }

  // ---- HTTP --------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const q = url.searchParams
    const parts = url.pathname.split('/').filter(Boolean)
    const record: RequestRecord = {method: req.method ?? 'GET', path: url.pathname, verb: '', group: '', resource: '', status: 200}
    this.requests.push(record)
    res.on('finish', () => { record.status = res.statusCode })
    if (this.options.token !== undefined && req.headers.authorization !== `Bearer ${this.options.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized')
    // /api/v1/... (core) or /apis/GROUP/VERSION/...
    let rest: string[]
    if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2)
    else if (parts[0] === 'apis' && parts.length >= 3) {
      record.group = parts[1]
      rest = parts.slice(3)
    } else if (url.pathname === '/version') {
      return this.json(res, 200, {major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64'})
    } else return this.status(res, 404, 'NotFound', 'the server could not find the requested resource')
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      record.namespace = rest[1]
      rest = rest.slice(2)
    }
    record.resource = rest[0] ?? ''
    record.name = rest[1]
    record.subresource = rest[2]
    const method = record.method
    record.verb = method === 'GET' ? (record.name ? 'get' : (q.get('watch') === '1' || q.get('watch') === 'true') ? 'watch' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (record.name ? 'delete' : 'deletecollection') : method.toLowerCase()
    // namespaces themselves: /api/v1/namespaces/NAME
    if (record.resource === 'namespaces' && parts[2] === 'namespaces' && record.namespace === undefined && rest.length === 2) record.name = rest[1]
    else if (parts[2] === 'namespaces' && parts.length === 4 && parts[0] === 'api') {
      record.resource = 'namespaces'
      record.name = parts[3]
      record.namespace = undefined
      record.verb = method === 'GET' ? 'get' : record.verb
    }
    const body = method === 'GET' || method === 'DELETE' ? undefined : await readBody(req)

    if (record.group === 'authorization.k8s.io' && record.resource === 'selfsubjectaccessreviews' && method === 'POST') {
      return this.accessReview(res, body)
    }
    const denied = this.denied(record)
    if (denied) return this.json(res, 403, denied)

    if (record.group === '' && record.resource === 'namespaces') {
      if (record.verb === 'get') {
        const ns = this.namespaces.get(record.name!)
        return ns ? this.json(res, 200, ns) : this.notFound(res, 'namespaces', record.name!)
      }
      if (record.verb === 'list') return this.json(res, 200, {kind: 'NamespaceList', apiVersion: 'v1', metadata: {resourceVersion: String(this.resourceVersion)}, items: [...this.namespaces.values()]})
    }
    // the kubelet behind the apiserver's node proxy (fake-kubelet-cadvisor.ts): get nodes/proxy, cluster-scoped
    if (record.group === '' && record.resource === 'nodes' && record.subresource === 'proxy' && record.verb === 'get') {
      return record.name === this.nodeName ? serveKubeletProxy(res, rest.slice(3).join('/'), this) : this.notFound(res, 'nodes', record.name!)
    }
    if (record.group === 'metrics.k8s.io' && record.resource === 'pods') {
      if (record.verb === 'get') return this.podMetrics(res, record.namespace!, record.name!)
      if (record.verb === 'list') {
        const items = [...this.pods.values()].filter((p) => p.metadata.namespace === record.namespace && this.runtimes.has(key(p.metadata.namespace, p.metadata.name)))
          .map((p) => this.podMetricsObject(p.metadata.namespace, p.metadata.name))
        return this.json(res, 200, {kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {}, items})
      }
    }
    if (record.group === '' && (record.resource === 'resourcequotas' || record.resource === 'limitranges') && record.verb === 'list' && record.namespace) {
      const kind = record.resource === 'resourcequotas' ? 'ResourceQuotaList' : 'LimitRangeList'
      const items = [...(record.resource === 'resourcequotas' ? this.quotas : this.limitRanges).values()].filter((o) => o.metadata.namespace === record.namespace)
      return this.json(res, 200, {kind, apiVersion: 'v1', metadata: {resourceVersion: String(this.resourceVersion)}, items})
    }
    // what the fake does not serve of metrics.k8s.io: the real kube-apiserver answers a path it does not serve (the
    // whole group, without metrics-server) in plain text, not a Status (seen against it: a client that parses the body
    // as JSON first took it for a 500; the real server's tests cover that case)
    if (record.group === 'metrics.k8s.io') return void res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'}).end('404 page not found\n')
    if (record.group !== '' || record.resource !== 'pods') return this.status(res, 404, 'NotFound', 'the server could not find the requested resource')
    if (record.namespace !== undefined && !this.namespaces.has(record.namespace) && record.verb !== 'list' && record.verb !== 'watch') {
      return this.notFound(res, 'namespaces', record.namespace)
    }
    if (!record.name) {
      if (record.verb === 'list') return this.list(res, record.namespace, q)
      if (record.verb === 'watch') return this.watch(req, res, record.namespace, q)
      if (record.verb === 'create') {
        record.dryRun = q.get('dryRun') === 'All' || undefined
        return this.create(res, record.namespace!, body, record.dryRun)
      }
    }
    const pod = this.pods.get(key(record.namespace!, record.name!))
    if (!pod) return this.notFound(res, 'pods', record.name!)
    if (record.subresource === undefined) {
      if (record.verb === 'get') return this.json(res, 200, pod)
      if (record.verb === 'delete') return this.delete(res, pod, q)
    }
    if (record.subresource === 'ephemeralcontainers') {
      if (record.verb === 'get') return this.json(res, 200, pod)
      if (record.verb === 'patch' || record.verb === 'update') return this.ephemeral(req, res, pod, body, record.verb)
    }
    if (record.subresource === 'log' && record.verb === 'get') return this.log(res, pod, q)
    // exec itself arrives as an 'upgrade' (fake-kube-exec.ts); without the Upgrade header, as the apiserver says:
    if (record.subresource === 'exec') return this.status(res, 400, 'BadRequest', 'Upgrade request required')
    return this.status(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
  }

  private json(res: ServerResponse, code: number, body: Json): void {
    res.writeHead(code, {'content-type': 'application/json'})
    res.end(JSON.stringify(body))
  }

  /** A meta/v1 Status, as the apiserver answers every failure. */
  private status(res: ServerResponse, code: number, reason: string, message: string, details?: Json): void {
    this.json(res, code, {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? {details} : {}), code})
  }

  private notFound(res: ServerResponse, resource: string, name: string): void {
    this.status(res, 404, 'NotFound', `${resource} "${name}" not found`, {name, kind: resource})
  }

  private allowed(verb: string, resource: string, subresource: string | undefined, group: string): boolean {
    if (this.options.allow === undefined) return true
    const want = `${verb} ${resource}${subresource ? `/${subresource}` : ''}${group ? `.${group}` : ''}`
    return this.options.allow.includes(want)
  }

  /** The apiserver's Forbidden Status, word for word, or undefined when the rules allow the request. */
  private denied(r: RequestRecord): Json | undefined {
    if (this.allowed(r.verb, r.resource, r.subresource, r.group)) return undefined
    const qualified = r.group ? `${r.resource}.${r.group}` : r.resource
    const what = r.name ? `${qualified} "${r.name}"` : qualified
    const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource
    const scope = r.namespace !== undefined ? `in the namespace "${r.namespace}"` : 'at the cluster scope'
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `${what} is forbidden: User "${this.user}" cannot ${r.verb} resource "${resource}" in API group "${r.group}" ${scope}`,
      reason: 'Forbidden', details: {...(r.name ? {name: r.name} : {}), ...(r.group ? {group: r.group} : {}), kind: r.resource}, code: 403,
    }
  }

  private accessReview(res: ServerResponse, body: Json): void {
    const attrs = body?.spec?.resourceAttributes
    if (!attrs) return this.status(res, 422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified')
    const allowed = this.allowed(attrs.verb, attrs.resource, attrs.subresource || undefined, attrs.group ?? '')
    this.json(res, 201, {
      kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: {creationTimestamp: null},
      spec: body.spec,
      status: allowed ? {allowed: true, reason: 'RBAC: allowed by fake rules'} : {allowed: false},
    })
  }

  private list(res: ServerResponse, namespace: string | undefined, q: URLSearchParams): void {
    let labelSelector: Requirement[] | undefined
    let fieldSelector: FieldRequirement[] | undefined
    try {
      labelSelector = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector')!) : undefined
      fieldSelector = q.get('fieldSelector') ? parseFieldSelector(q.get('fieldSelector')!) : undefined
    } catch (error) {
      return this.status(res, 400, 'BadRequest', (error as Error).message)
    }
    const limit = Number(q.get('limit') ?? 0)
    let keys: string[]
    let rv: string
    const token = q.get('continue')
    if (token) {
      const saved = this.continues.get(token)
      if (!saved) return this.status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.')
      this.continues.delete(token)
      keys = saved.keys
      rv = saved.rv
    } else {
      // a consistent snapshot, in key order as etcd returns it
      keys = [...this.pods.keys()].filter((k) => namespace === undefined || k.startsWith(`${namespace}/`)).sort()
      rv = String(this.resourceVersion)
    }
    const items: Json[] = []
    let i = 0
    for (; i < keys.length && (limit <= 0 || items.length < limit); i++) {
      const pod = this.pods.get(keys[i])
      if (pod && matchesLabels(pod.metadata.labels ?? {}, labelSelector) && matchesFields(pod, fieldSelector)) items.push(pod)
    }
    const metadata: Json = {resourceVersion: rv}
    if (i < keys.length) {
      const next = Buffer.from(JSON.stringify({v: 'meta.k8s.io/v1', rv: Number(rv), start: keys[i]})).toString('base64')
      this.continues.set(next, {rv, keys: keys.slice(i)})
      metadata.continue = next
      // unset when a selector is given: the count is unknown then
      if (!labelSelector && !fieldSelector) metadata.remainingItemCount = keys.length - i
    }
    this.json(res, 200, {kind: 'PodList', apiVersion: 'v1', metadata, items})
  }

  private watchMatches(w: WatchClient, pod: Json): boolean {
    return (w.namespace === undefined || pod.metadata.namespace === w.namespace) && matchesLabels(pod.metadata.labels ?? {}, w.labelSelector) && matchesFields(pod, w.fieldSelector)
  }

  private watch(req: IncomingMessage, res: ServerResponse, namespace: string | undefined, q: URLSearchParams): void {
    let w: WatchClient
    try {
      w = {res, namespace, labelSelector: q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector')!) : undefined, fieldSelector: q.get('fieldSelector') ? parseFieldSelector(q.get('fieldSelector')!) : undefined}
    } catch (error) {
      return this.status(res, 400, 'BadRequest', (error as Error).message)
    }
    res.writeHead(200, {'content-type': 'application/json', 'transfer-encoding': 'chunked'})
    const from = q.get('resourceVersion')
    if (from && from !== '0') {
      const rv = Number(from)
      if (this.events.length > 0 && rv < this.events[0].rv - 1) {
        res.write(`${JSON.stringify({type: 'ERROR', object: {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${rv} (${this.events[0].rv})`, reason: 'Expired', code: 410}})}\n`)
        return void res.end()
      }
      for (const e of this.events) if (e.rv > rv && this.watchMatches(w, e.object)) res.write(`${JSON.stringify({type: e.type, object: e.object})}\n`)
    } else {
      // no resourceVersion: synthetic ADDED events for the current state, then changes
      for (const pod of this.pods.values()) if (this.watchMatches(w, pod)) res.write(`${JSON.stringify({type: 'ADDED', object: pod})}\n`)
    }
    this.watchers.add(w)
    const timeout = Number(q.get('timeoutSeconds') ?? 0)
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined
    req.on('close', () => {
      clearTimeout(timer)
      this.watchers.delete(w)
    })
  }

  /** dryRun: validated and answered as created, but not stored (dryRun=All, as the apiserver does) */
  private async create(res: ServerResponse, namespace: string, body: Json, dryRun = false): Promise<void> {
    if (!body?.metadata?.name && !body?.metadata?.generateName) return this.status(res, 422, 'Invalid', 'Pod "" is invalid: metadata.name: Required value: name or generateName is required', {kind: 'Pod', causes: [{reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name'}]})
    if (body.metadata.namespace && body.metadata.namespace !== namespace) return this.status(res, 400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
    if (body.metadata.name && this.pods.has(key(namespace, body.metadata.name))) {
      return this.status(res, 409, 'AlreadyExists', `pods "${body.metadata.name}" already exists`, {name: body.metadata.name, kind: 'pods'})
    }
    if (!Array.isArray(body.spec?.containers) || body.spec.containers.length === 0) return this.status(res, 422, 'Invalid', `Pod "${body.metadata.name}" is invalid: spec.containers: Required value`, {name: body.metadata.name, kind: 'Pod'})
    const pod = this.normalisePod({...body, metadata: {...body.metadata, namespace}})
    if (dryRun) return this.json(res, 201, pod)
    this.store(pod, 'ADDED')
    const created = structuredClone(pod)
    // the scheduler and kubelet act after the create returns, as in a cluster
    setTimeout(() => void this.schedule(this.pods.get(key(namespace, pod.metadata.name)) ?? pod).catch(() => undefined), 20)
    this.json(res, 201, created)
  }

  private async delete(res: ServerResponse, pod: Json, q: URLSearchParams): Promise<void> {
    const k = key(pod.metadata.namespace, pod.metadata.name)
    const grace = Number(q.get('gracePeriodSeconds') ?? pod.spec.terminationGracePeriodSeconds ?? 30)
    pod.metadata.deletionTimestamp = now()
    pod.metadata.deletionGracePeriodSeconds = grace
    this.store(pod, 'MODIFIED')
    const answer = structuredClone(pod)
    const finish = async () => {
      await this.stopContainers(k)
      const current = this.pods.get(k)
      if (current) this.store(current, 'DELETED')
    }
    if (this.runtimes.has(k)) void finish()
    else await finish()
    this.json(res, 200, answer)
  }

  /** The ephemeralcontainers subresource: the whole Pod (since 1.23); entries may be added, never changed or removed. */
  private ephemeral(req: IncomingMessage, res: ServerResponse, pod: Json, body: Json, verb: string): void {
    let wanted: Json[]
    if (verb === 'patch') {
      const type = req.headers['content-type'] ?? ''
      if (type.startsWith('application/strategic-merge-patch+json') || type.startsWith('application/merge-patch+json')) {
        // strategic merge: ephemeralContainers merge by name; JSON merge: the list is replaced
        const given: Json[] = body?.spec?.ephemeralContainers ?? []
        const existing: Json[] = pod.spec.ephemeralContainers ?? []
        wanted = type.startsWith('application/strategic') ? [...existing.filter((e) => !given.some((g) => g.name === e.name)), ...given] : given
      } else if (type.startsWith('application/json-patch+json')) {
        wanted = [...(pod.spec.ephemeralContainers ?? [])]
        for (const op of Array.isArray(body) ? body : []) {
          if (op.op === 'add' && /^\/spec\/ephemeralContainers(\/-)?$/.test(op.path)) {
            if (op.path.endsWith('/-')) wanted.push(op.value)
            else wanted = op.value
          } else return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: unsupported patch operation ${op.op} ${op.path}`)
        }
      } else return this.status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`)
    } else wanted = body?.spec?.ephemeralContainers ?? []
    const existing: Json[] = pod.spec.ephemeralContainers ?? []
    for (const e of existing) {
      const now = wanted.find((w) => w.name === e.name)
      if (!now) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "${e.name}" may not be removed`, {name: pod.metadata.name, kind: 'Pod'})
    }
    const added = wanted.filter((w) => !existing.some((e) => e.name === w.name))
    for (const a of added) {
      if (!a.name || !a.image) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers[0].image: Required value`, {name: pod.metadata.name, kind: 'Pod'})
      if (a.resources && Object.keys(a.resources).length > 0) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container`, {name: pod.metadata.name, kind: 'Pod'})
      if ([...pod.spec.containers, ...existing].some((c: Json) => c.name === a.name)) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers[0].name: Duplicate value: "${a.name}"`, {name: pod.metadata.name, kind: 'Pod'})
      const unknownVolume = (a.volumeMounts ?? []).findIndex((m: Json) => !(pod.spec.volumes ?? []).some((v: Json) => v.name === m.name))
      if (unknownVolume >= 0) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers[0].volumeMounts[${unknownVolume}].name: Not found: "${a.volumeMounts[unknownVolume].name}"`, {name: pod.metadata.name, kind: 'Pod'})
      if (a.targetContainerName && !pod.spec.containers.some((c: Json) => c.name === a.targetContainerName)) return this.status(res, 422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: spec.ephemeralContainers[0].targetContainerName: Not found: "${a.targetContainerName}"`, {name: pod.metadata.name, kind: 'Pod'})
    }
    pod.spec.ephemeralContainers = wanted.map((w) => ({terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent', ...w}))
    this.store(pod, 'MODIFIED')
    const answer = structuredClone(pod)
    if (added.length > 0) {
      setTimeout(() => {
        const current = this.pods.get(key(pod.metadata.namespace, pod.metadata.name))
        if (!current || current.metadata.deletionTimestamp) return
        current.status.ephemeralContainerStatuses ??= []
        for (const a of added) {
          const id = containerIdOf()
          const spec = current.spec.ephemeralContainers.find((e: Json) => e.name === a.name)
          if (this.options.runtime) this.runtimes.get(key(pod.metadata.namespace, pod.metadata.name))?.push(this.startContainer(current, spec, id, true))
          current.status.ephemeralContainerStatuses.push({
            name: a.name, image: a.image, imageID: `${a.image}@sha256:${'0'.repeat(64)}`, containerID: `containerd://${id}`,
            ready: false, restartCount: 0, state: {running: {startedAt: now()}}, lastState: {},
          })
        }
        this.store(current, 'MODIFIED')
      }, 20)
    }
    this.json(res, 200, answer)
  }

  private log(res: ServerResponse, pod: Json, q: URLSearchParams): void {
    const names = [...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])].map((c: Json) => c.name)
    const container = q.get('container') ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0].name : undefined)
    if (!container) return this.status(res, 400, 'BadRequest', `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${pod.spec.containers.map((c: Json) => c.name).join(' ')}]`)
    if (!names.includes(container)) return this.status(res, 400, 'BadRequest', `container ${container} is not valid for pod ${pod.metadata.name}`)
    const rc = this.runtimes.get(key(pod.metadata.namespace, pod.metadata.name))?.filter((r) => r.name === container).at(-1)
    if (!rc) return this.status(res, 400, 'BadRequest', `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`)
    serveContainerLog(res, rc, q.get('follow') === 'true')
  }

  /** metrics.k8s.io/v1beta1 PodMetrics, read from the fake runtime's cgroups (metrics-server reads the kubelet's). */
  private podMetrics(res: ServerResponse, namespace: string, name: string): void {
    if (!this.pods.has(key(namespace, name)) || !this.runtimes.has(key(namespace, name))) return this.status(res, 404, 'NotFound', `podmetrics.metrics.k8s.io "${namespace}/${name}" not found`, {name, group: 'metrics.k8s.io', kind: 'pods'})
    this.json(res, 200, this.podMetricsObject(namespace, name))
  }

  private podMetricsObject(namespace: string, name: string): Json {
    const pod = this.pods.get(key(namespace, name))
    const running = this.runtimes.get(key(namespace, name))!
    const containers = pod.spec.containers.map((c: Json) => {
      const rc = running.filter((r) => r.name === c.name && !r.ephemeral).at(-1)
      const sample = rc?.cgroup ? readCgroupSample(rc.cgroup.paths()) : {t: Date.now()}
      let nanocores = 0
      if (rc && sample.cpuSeconds !== undefined) {
        if (rc.lastCpu && sample.t > rc.lastCpu.t) nanocores = Math.max(0, Math.round((sample.cpuSeconds - rc.lastCpu.seconds) / ((sample.t - rc.lastCpu.t) / 1000) * 1e9))
        rc.lastCpu = {t: sample.t, seconds: sample.cpuSeconds}
      }
      return {name: c.name, usage: {cpu: `${nanocores}n`, memory: `${Math.round((sample.memoryBytes ?? 0) / 1024)}Ki`}}
    })
    return {
      kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: {name, namespace, creationTimestamp: now(), labels: pod.metadata.labels},
      timestamp: now(), window: '1s', containers,
    }
  }
}

// ---- selectors (kubectl/apimachinery syntax), written from the labels.Parse grammar, not from the toolkit -------

export function parseLabelSelector(text: string): Requirement[] {
  const out: Requirement[] = []
  const src = text.trim()
  let i = 0
  const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?/
  const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?/
  const ws = () => { while (src[i] === ' ') i++ }
  while (i < src.length) {
    ws()
    let negate = false
    if (src[i] === '!') {
      negate = true
      i++
      ws()
    }
    const k = KEY.exec(src.slice(i))
    if (!k) throw new Error(`unable to parse requirement: found '${src.slice(i, i + 1) || 'EOF'}', expected: identifier`)
    i += k[0].length
    ws()
    if (negate) out.push({key: k[0], op: '!exists', values: []})
    else if (i >= src.length || src[i] === ',') out.push({key: k[0], op: 'exists', values: []})
    else if (src.startsWith('!=', i) || src.startsWith('==', i) || src[i] === '=') {
      const op = src.startsWith('!=', i) ? 'notin' : 'in'
      i += src.startsWith('==', i) || src.startsWith('!=', i) ? 2 : 1
      ws()
      const v = VALUE.exec(src.slice(i))!
      i += v[0].length
      out.push({key: k[0], op, values: [v[0]]})
    } else if (/^(in|notin)\s*\(/.test(src.slice(i))) {
      const op = src.startsWith('notin', i) ? 'notin' : 'in'
      i = src.indexOf('(', i) + 1
      const close = src.indexOf(')', i)
      if (close < 0) throw new Error(`unable to parse requirement: found 'EOF', expected: ')'`)
      const values = src.slice(i, close).split(',').map((v) => v.trim())
      for (const v of values) if (!VALUE.test(v) || VALUE.exec(v)![0] !== v) throw new Error(`unable to parse requirement: invalid label value: "${v}"`)
      i = close + 1
      out.push({key: k[0], op, values})
    } else throw new Error(`unable to parse requirement: found '${src[i]}', expected: in, notin, =, ==, !=, gt, lt`)
    ws()
    if (i < src.length) {
      if (src[i] !== ',') throw new Error(`unable to parse requirement: found '${src[i]}', expected: ','`)
      i++
    }
  }
  return out
}

function parseFieldSelector(text: string): FieldRequirement[] {
  return text.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part)
    if (!m) throw new Error(`invalid selector: '${text}'; can't understand '${part}'`)
    if (!POD_FIELDS.has(m[1])) throw new Error(`field label not supported: ${m[1]}`)
    return {field: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3]}
  })
}

function matchesLabels(labels: Record<string, string>, reqs: Requirement[] | undefined): boolean {
  return (reqs ?? []).every((r) => {
    const has = Object.hasOwn(labels, r.key)
    switch (r.op) {
      case 'exists': return has
      case '!exists': return !has
      case 'in': return has && r.values.includes(labels[r.key])
      case 'notin': return !has || !r.values.includes(labels[r.key])
    }
  })
}

function matchesFields(pod: Json, reqs: FieldRequirement[] | undefined): boolean {
  return (reqs ?? []).every((r) => {
    const value = String(r.field.split('.').reduce((o: Json, p) => o?.[p], pod) ?? '')
    return r.op === '=' ? value === r.value : value !== r.value
  })
}

// ---- helpers ---------------------------------------------------------------------------------------------------

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`
}



function qosClass(containers: Json[]): string {
  const all = containers.map((c) => ({req: c.resources?.requests ?? c.resources?.limits ?? {}, lim: c.resources?.limits ?? {}}))
  if (all.every((c) => Object.keys(c.req).length === 0 && Object.keys(c.lim).length === 0)) return 'BestEffort'
  if (all.every((c) => c.lim.cpu !== undefined && c.lim.memory !== undefined && c.req.cpu === c.lim.cpu && c.req.memory === c.lim.memory)) return 'Guaranteed'
  return 'Burstable'
}

async function readBody(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString()
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Waits (up to 10 s each) until the workloads of the fake's runtime on these ports answer, before runs start. */
export async function workloadsAnswer(ports: number[]): Promise<void> {
  for (const port of ports) {
    for (let i = 0; i < 100; i++) {
      if (await fetch(`http://127.0.0.1:${port}/metrics`).then(() => true, () => false)) break
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** A pod of the demo workload for the fake's runtime. */
export function workloadPod(opts: {name: string, namespace: string, port: number, labels?: Record<string, string>, cpu?: string, memory?: string, extraArgs?: string[], containerName?: string}): Json {
  const limits: Record<string, string> = {}
  if (opts.cpu) limits.cpu = opts.cpu
  if (opts.memory) limits.memory = opts.memory
  return {
    metadata: {name: opts.name, namespace: opts.namespace, labels: opts.labels ?? {}},
    spec: {
      containers: [{
        name: opts.containerName ?? 'app', image: 'chaos-toolkit:0.1.0',
        command: ['chaos', 'workload', '--port', String(opts.port), ...(opts.extraArgs ?? [])],
        ports: [{containerPort: opts.port, protocol: 'TCP'}],
        resources: Object.keys(limits).length > 0 ? {limits, requests: limits} : {},
      }],
    },
  }
}
