// The test node agent: the tests' stand-in for a kubelet beside a REAL kube-apiserver (scripts/kube/apiserver.mjs),
// since no kubelet can run on this machine. What it does is what a kubelet does towards the API, through the real
// server and under a node's own identity (a client certificate O=system:nodes, CN=system:node:NAME, so the server's
// Node authorizer decides what it may do):
//
// - registers its Node (Ready, InternalIP 127.0.0.1, the port of its kubelet API in status.daemonEndpoints);
// - lists and watches the pods bound to it (fieldSelector spec.nodeName), as a kubelet does; no scheduler runs, so a
//   pod reaches it by naming the node (the toolkit's helper pods do; the tests' pods do too);
// - runs their containers, and the ephemeral containers added to them, as local processes in cgroups with their
//   limits (local-runtime.ts: the image is ignored), restarts a container of a restartPolicy Always pod in place, and
//   reports every change through the pod's status subresource (phase, conditions, container states, OOMKilled);
// - ends a pod the API marked for deletion (SIGTERM, SIGKILL after its grace period) and then deletes it for good
//   (grace period 0, precondition on its uid), as a kubelet does;
// - serves the kubelet API over HTTPS to the API server alone (a client certificate of the test CA, the one the
//   server presents with --kubelet-client-certificate): container logs, so `kubectl logs`-style reads, follow=true
//   among them, go through the real server's proxying; and exec over WebSocket (v5.channel.k8s.io), the protocol of
//   fake-kube-exec.ts: the node declares ExtendWebSocketsToKubelet (status.declaredFeatures), so the real server
//   authorizes the exec and proxies the client's upgrade to the node as it is.
//
// - mounts the pods' volumes in each container's own mount namespace: emptyDir, configMap, secret, and projected
//   (the service account token it asks the TokenRequest API for as the node, bound to the pod), so a Job's pod finds
//   its in-cluster configuration where client libraries look.
//
// What it does not do: exec over SPDY (what the server speaks to a node that does not declare that feature), attach,
// port-forward, images, hostPath volumes (its containers see this machine's filesystem), subPath, token rotation,
// a pod network (pods share the host's loopback unless annotated
// with OWN_NETNS_ANNOTATION, which gives a pod a network namespace of its own, as the fake's runtime does), probes,
// leases and node heartbeats (no node-lifecycle controller runs); cAdvisor's metrics only from a real cAdvisor it is given (useCadvisor).
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer, request as httpsRequest, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import type {Duplex} from 'node:stream'

import {Cgroup, type CgroupLayout, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {CHANNEL, closeExecSessions, execServer, refuse, startSession} from './fake-kube-exec.js'
import type {RealApiServer} from './kube-apiserver.js'
import {conditions, containerIdOf, type ContainerExit, type ContainerMount, createPodBox, OWN_NETNS_ANNOTATION, createPodNetns, deletePodNetns, launchContainer, now, type RunningContainer, serveContainerLog, stopContainer, terminatedState} from './local-runtime.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

interface PodState {
  uid: string
  namespace: string
  name: string
  pod: Json
  containers: RunningContainer[]
  netns?: string
  status: Json
  /** status writes, one at a time and in order */
  writes: Promise<unknown>
  terminating: boolean
  /** its volumes filled (true) or not (false: the pod stays Pending, as a kubelet's with a failed mount) */
  setup: Promise<boolean>
  /** the pod's directory on this machine: its volumes, one directory each */
  dir?: string
  /** volume name to the directory that holds it (hostPath volumes are not in it: see prepareVolumes) */
  volumes: Map<string, string>
}

export interface AgentRequest {
  method: string
  path: string
  status: number
}

export class TestNodeAgent {
  readonly nodeName: string
  /** every request the API server made to this agent's kubelet API */
  readonly kubeletRequests: AgentRequest[] = []
  readonly runtimeRoot = `kubepods-agent-${randomBytes(4).toString('hex')}`
  /** where its kubelet API listens (HTTPS on 127.0.0.1; a client certificate of the test CA gets in) */
  kubeletPort = 0
  private readonly pods = new Map<string, PodState>()
  private layout?: CgroupLayout
  private server?: Server
  private identity?: {cert: Buffer, key: Buffer, ca: Buffer}
  private watch?: {abort(): void}
  private stopping = false
  private watching?: Promise<void>
  /** errors the agent met talking to the API (a test fails on them) */
  readonly errors: string[] = []
  /** mount points this agent created on this machine (none of them existed), removed when it stops */
  private readonly mountPoints = new Set<string>()
  /** a real cAdvisor watching the agent's cgroups, whose metrics the kubelet API serves (useCadvisor) */
  private cadvisor?: {url: string, labelsFile: string}

  constructor(private readonly api: RealApiServer, nodeName = `chaos-node-${randomBytes(3).toString('hex')}`) {
    this.nodeName = nodeName
  }

  async start(): Promise<void> {
    this.layout = detectCgroupLayout()
    new Cgroup(this.layout, this.runtimeRoot).create()
    const id = this.api.issueCertificate(`node-${this.nodeName}`, `/O=system:nodes/CN=system:node:${this.nodeName}`)
    const serving = this.api.issueCertificate(`kubelet-${this.nodeName}`, `/CN=${this.nodeName}`, {server: true})
    const ca = readFileSync(this.api.caFile)
    this.identity = {cert: readFileSync(id.cert), key: readFileSync(id.key), ca}
    // the kubelet API: only a client with a certificate of the test CA (the API server's) gets in
    this.server = createServer({cert: readFileSync(serving.cert), key: readFileSync(serving.key), ca, requestCert: true, rejectUnauthorized: true}, (req, res) => this.serveKubelet(req, res))
    // exec: the node declares ExtendWebSocketsToKubelet, so the API server proxies the client's WebSocket upgrade to
    // it as it is (it would translate to SPDY for a node that does not)
    this.server.on('upgrade', (req, socket, head) => this.serveExec(req, socket, head))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const port = (this.server.address() as AddressInfo).port
    this.kubeletPort = port
    const created = await this.request('POST', '/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: {name: this.nodeName, labels: {'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64'}},
    })
    if (created.status !== 201) throw new Error(`the node agent could not register node ${this.nodeName}: HTTP ${created.status} ${JSON.stringify(created.body)}`)
    const at = now()
    const status = await this.request('PATCH', `/api/v1/nodes/${this.nodeName}/status`, {status: {
      conditions: [{type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the test node agent is ready', lastHeartbeatTime: at, lastTransitionTime: at}],
      addresses: [{type: 'InternalIP', address: '127.0.0.1'}, {type: 'Hostname', address: this.nodeName}],
      daemonEndpoints: {kubeletEndpoint: {Port: port}},
      declaredFeatures: ['ExtendWebSocketsToKubelet'],
      capacity: {cpu: '2', memory: '8Gi', pods: '110'}, allocatable: {cpu: '2', memory: '8Gi', pods: '110'},
      nodeInfo: {machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: 'test node agent', containerRuntimeVersion: 'local://0', kubeletVersion: 'v1.37.2', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64'},
    }}, 'application/merge-patch+json')
    if (status.status !== 200) throw new Error(`the node agent could not write node ${this.nodeName}'s status: HTTP ${status.status} ${JSON.stringify(status.body)}`)
    const listed = this.listAndWatch()
    this.watching = listed.then(() => undefined, () => undefined)
    await listed.catch((error) => {
      throw new Error(`the node agent could not list its pods: ${(error as Error).message}`)
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.watch?.abort()
    closeExecSessions(this)
    await Promise.all([...this.pods.values()].map((p) => this.endPod(p, false)))
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve()
      this.server.closeAllConnections()
      this.server.close(() => resolve())
    })
    if (this.layout) await new Cgroup(this.layout, this.runtimeRoot).remove()
    // deepest first; only what is still empty (nothing else is kept in them)
    for (const path of [...this.mountPoints].sort((a, b) => b.length - a.length)) {
      try {
        rmdirSync(path)
      } catch { /* not empty, or gone */ }
    }
    await this.request('DELETE', `/api/v1/nodes/${this.nodeName}`).catch(() => undefined)
  }

  /** The pod's state as the agent runs it (for assertions): its containers' cgroups, its network namespace. */
  running(namespace: string, name: string): {containers: {name: string, containerId: string, cgroup: Cgroup, ephemeral: boolean, log: string}[], netns?: string} | undefined {
    const state = [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name)
    if (!state) return undefined
    return {containers: state.containers.flatMap((rc) => (rc.cgroup ? [{name: rc.name, containerId: rc.containerId, cgroup: rc.cgroup, ephemeral: rc.ephemeral, log: rc.log}] : [])), netns: state.netns}
  }

  /**
   * A pod's readiness as a kubelet's readiness probe would change it: its Ready and ContainersReady conditions and
   * its containers' ready flags, written through the status subresource.
   */
  setReady(namespace: string, name: string, ready: boolean): void {
    const state = [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name)
    if (!state) throw new Error(`the node agent runs no pod ${namespace}/${name}`)
    state.status.conditions = conditions(ready)
    for (const c of state.status.containerStatuses ?? []) c.ready = ready
    this.writeStatus(state)
  }

  /**
   * Serves /metrics/cadvisor from a real cAdvisor (scripts/kube/cadvisor, started with --labels-file) that watches
   * this agent's cgroups, as a kubelet serves its embedded cAdvisor's: the agent writes the file that gives each of
   * its cgroups the kubelet's pod, namespace and container labels (a kubelet takes them from its runtime's CRI
   * labels; the agent has no CRI) and passes cAdvisor's exposition through as it is.
   */
  useCadvisor(cadvisor: {url: string, labelsFile: string}): void {
    this.cadvisor = cadvisor
    this.writeCadvisorLabels()
  }

  /** The labels file: each pod's cgroup (container "") and each of its containers' cgroups, by cAdvisor's name. */
  private writeCadvisorLabels(): void {
    if (!this.cadvisor) return
    const entries: Record<string, {namespace: string, pod: string, container: string}> = {}
    for (const state of this.pods.values()) {
      entries[`/${this.runtimeRoot}/pod${state.uid}`] = {namespace: state.namespace, pod: state.name, container: ''}
      for (const rc of state.containers) if (rc.cgroup && !rc.ended) entries[`/${rc.cgroup.relativePath}`] = {namespace: state.namespace, pod: state.name, container: rc.name}
    }
    // whole or not at all: cAdvisor re-reads it at its next scrape
    const partial = `${this.cadvisor.labelsFile}.${process.pid}.tmp`
    writeFileSync(partial, JSON.stringify(entries))
    renameSync(partial, this.cadvisor.labelsFile)
  }

  /** The directory on this machine that holds a pod's volume (an emptyDir, a configMap's files, a projected volume). */
  volumeDir(namespace: string, name: string, volume: string): string | undefined {
    return [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name)?.volumes.get(volume)
  }

  /** How many pods' containers the agent runs now. */
  get podCount(): number {
    return this.pods.size
  }

  // ---- the API, as the node --------------------------------------------------------------------------------------

  private request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{status: number, body: Json}> {
    const {cert, key, ca} = this.identity!
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const headers: Record<string, string> = {accept: 'application/json'}
      // a body without a length (chunked) is ignored on a DELETE: the options would be lost
      if (payload !== undefined) Object.assign(headers, {'content-type': contentType, 'content-length': String(Buffer.byteLength(payload))})
      const req = httpsRequest(`${this.api.url}${path}`, {method, cert, key, ca, headers}, (res) => {
        let text = ''
        // decoded as a stream: a character split across two chunks stays whole
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { text += chunk })
        res.on('end', () => {
          let parsed: Json = text
          try {
            parsed = JSON.parse(text)
          } catch { /* not JSON */ }
          resolve({status: res.statusCode ?? 0, body: parsed})
        })
      })
      req.once('error', reject)
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)))
      req.end(payload)
    })
  }

  private note(what: string): void {
    if (!this.stopping) this.errors.push(what)
  }

  /** List the node's pods, then watch from that list's resourceVersion; on any end of the watch, list again. */
  private async listAndWatch(): Promise<void> {
    const selector = encodeURIComponent(`spec.nodeName=${this.nodeName}`)
    const list = await this.request('GET', `/api/v1/pods?fieldSelector=${selector}`)
    if (list.status !== 200) throw new Error(`HTTP ${list.status} ${JSON.stringify(list.body)}`)
    const seen = new Set<string>()
    for (const pod of list.body.items) {
      seen.add(pod.metadata.uid)
      this.reconcile('MODIFIED', pod)
    }
    // a pod that disappeared while the watch was down
    for (const state of this.pods.values()) if (!seen.has(state.uid)) void this.endPod(state, false)
    const rv = list.body.metadata.resourceVersion
    void this.watchFrom(`/api/v1/pods?fieldSelector=${selector}&watch=true&resourceVersion=${rv}`)
  }

  private async watchFrom(path: string): Promise<void> {
    const {cert, key, ca} = this.identity!
    await new Promise<void>((resolve) => {
      const req = httpsRequest(`${this.api.url}${path}`, {method: 'GET', cert, key, ca, headers: {accept: 'application/json'}}, (res) => {
        let buffered = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buffered += chunk
          let newline
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline)
            buffered = buffered.slice(newline + 1)
            if (!line.trim()) continue
            try {
              const event = JSON.parse(line)
              if (event.type === 'ERROR') continue // expired: the relist below starts over
              this.reconcile(event.type, event.object)
            } catch (error) {
              this.note(`watch event: ${(error as Error).message}`)
            }
          }
        })
        res.on('end', resolve)
        res.on('close', resolve)
        res.on('error', resolve)
      })
      req.once('error', () => resolve())
      req.end()
      this.watch = {abort: () => req.destroy()}
    })
    if (this.stopping) return
    await new Promise((r) => setTimeout(r, 200))
    if (!this.stopping) await this.listAndWatch().catch((error) => this.note(`relist: ${(error as Error).message}`))
  }

  private reconcile(type: string, pod: Json): void {
    if (this.stopping) return
    if (process.env.CHAOS_AGENT_TRACE) process.stderr.write(`node agent: ${type} ${pod.metadata.namespace}/${pod.metadata.name} ${pod.status?.phase ?? ''}${pod.metadata.deletionTimestamp ? ' deleting' : ''}\n`)
    const uid = pod.metadata.uid
    const state = this.pods.get(uid)
    if (type === 'DELETED') {
      if (state) void this.endPod(state, false)
      return
    }
    if (pod.metadata.deletionTimestamp) {
      if (state && !state.terminating) void this.endPod(state, true)
      else if (!state) void this.finalDelete(pod.metadata.namespace, pod.metadata.name, uid)
      return
    }
    if (!state) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return
      this.startPod(pod)
      return
    }
    state.pod = pod
    void state.setup.then((ready) => {
      if (ready) this.startEphemeralContainers(state)
    })
  }

  private startEphemeralContainers(state: PodState): void {
    const pod = state.pod
    const started = new Set(state.containers.filter((c) => c.ephemeral).map((c) => c.name))
    const added = (pod.spec.ephemeralContainers ?? []).filter((e: Json) => !started.has(e.name))
    if (added.length > 0 && !state.terminating) {
      state.status.ephemeralContainerStatuses ??= []
      for (const spec of added) {
        const rc = this.launch(state, spec, containerIdOf(), true)
        state.status.ephemeralContainerStatuses.push({
          name: spec.name, image: spec.image, imageID: `${spec.image}@sha256:${'0'.repeat(64)}`, containerID: rc.containerId,
          ready: false, restartCount: 0, state: {running: {startedAt: rc.startedAt}}, lastState: {},
        })
      }
      this.writeStatus(state)
    }
  }

  private startPod(pod: Json): void {
    const state: PodState = {
      uid: pod.metadata.uid, namespace: pod.metadata.namespace, name: pod.metadata.name, pod,
      containers: [], status: {}, writes: Promise.resolve(), terminating: false, setup: Promise.resolve(false), volumes: new Map(),
    }
    this.pods.set(state.uid, state)
    state.setup = (async () => {
      try {
        // as a kubelet's volume manager, again until it works: the Node authorizer learns of a new pod's service
        // account from its own watch, a moment after the pod is bound (seen on a fresh clone's CI: the token request
        // refused, "no relationship found between node ... and this object")
        for (let delay = 100, until = Date.now() + 30_000; ; delay = Math.min(2 * delay, 2000)) {
          try {
            await this.prepareVolumes(state)
            break
          } catch (error) {
            if (Date.now() + delay > until || state.terminating || this.stopping) throw error
            await new Promise((resolve) => setTimeout(resolve, delay))
          }
        }
        if (state.terminating || this.stopping) return false
        this.runPod(state)
        return true
      } catch (error) {
        // a kubelet leaves such a pod in ContainerCreating (an event FailedMount); the test sees it in agent.errors
        this.note(`pod ${state.namespace}/${state.name}: ${(error as Error).message}`)
        return false
      }
    })()
  }

  /**
   * Fills the pod's volumes as a kubelet does, in a directory of the pod's own: an emptyDir empty; a configMap's or
   * secret's keys as files, read through the API as the node (the Node authorizer lets a node read only what pods
   * bound to it reference); a projected volume's sources, among them the service account token the kubelet asks the
   * TokenRequest API for, bound to this pod (audience the server's own unless the source names one), the
   * kube-root-ca.crt ConfigMap and the downward API's fields. The kubelet rotates the token at 80% of its life;
   * the agent writes it once (3607 s by default: longer than any test). A hostPath volume is not mounted: the
   * agent's containers already see this machine's filesystem (the helper pod's /host/sys/fs/cgroup is then absent,
   * and it reads /sys/fs/cgroup, the same hierarchy).
   */
  private async prepareVolumes(state: PodState): Promise<void> {
    const volumes: Json[] = state.pod.spec.volumes ?? []
    if (volumes.length === 0) return
    state.dir ??= mkdtempSync(join(tmpdir(), 'chaos-agent-pod-'))
    for (const v of volumes) {
      if (v.hostPath) continue
      const at = join(state.dir, 'volumes', v.name)
      mkdirSync(at, {recursive: true})
      if (v.emptyDir) {
        // empty, as the kubelet makes it
      } else if (v.configMap) {
        await this.writeKeys(at, state.namespace, 'configmaps', v.configMap)
      } else if (v.secret) {
        await this.writeKeys(at, state.namespace, 'secrets', {...v.secret, name: v.secret.secretName})
      } else if (v.projected) {
        for (const source of v.projected.sources ?? []) {
          if (source.serviceAccountToken) writeFileSync(join(at, source.serviceAccountToken.path), await this.serviceAccountToken(state, source.serviceAccountToken))
          else if (source.configMap) await this.writeKeys(at, state.namespace, 'configmaps', source.configMap)
          else if (source.secret) await this.writeKeys(at, state.namespace, 'secrets', source.secret)
          else if (source.downwardAPI) for (const item of source.downwardAPI.items ?? []) writeFileSync(join(at, item.path), this.downwardField(state.pod, item))
          else throw new Error(`volume ${v.name}: the test node agent cannot fill a projected source ${Object.keys(source).join(',')}`)
        }
      } else {
        throw new Error(`volume ${v.name}: the test node agent cannot mount a ${Object.keys(v).filter((k) => k !== 'name').join(',')} volume`)
      }
      state.volumes.set(v.name, at)
    }
  }

  /** A configMap's or secret's keys (or the items chosen) as files. */
  private async writeKeys(at: string, namespace: string, resource: 'configmaps' | 'secrets', ref: {name: string, items?: Array<{key: string, path: string}>, optional?: boolean}): Promise<void> {
    const res = await this.request('GET', `/api/v1/namespaces/${namespace}/${resource}/${ref.name}`)
    if (res.status === 404 && ref.optional) return
    if (res.status !== 200) throw new Error(`MountVolume: ${resource} ${namespace}/${ref.name}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`)
    const data: Record<string, string> = resource === 'secrets'
      ? Object.fromEntries(Object.entries(res.body.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()]))
      : res.body.data ?? {}
    const items = ref.items ?? Object.keys(data).map((key) => ({key, path: key}))
    for (const item of items) {
      if (!(item.key in data)) throw new Error(`MountVolume: ${resource} ${namespace}/${ref.name} has no key ${item.key}`)
      mkdirSync(dirname(join(at, item.path)), {recursive: true})
      writeFileSync(join(at, item.path), data[item.key])
    }
  }

  /** The kubelet's TokenRequest for a pod's projected service account token: as the node, bound to the pod. */
  private async serviceAccountToken(state: PodState, source: {audience?: string, expirationSeconds?: number}): Promise<string> {
    const sa = state.pod.spec.serviceAccountName ?? 'default'
    const res = await this.request('POST', `/api/v1/namespaces/${state.namespace}/serviceaccounts/${sa}/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: {
        ...(source.audience ? {audiences: [source.audience]} : {}),
        expirationSeconds: source.expirationSeconds ?? 3607,
        boundObjectRef: {apiVersion: 'v1', kind: 'Pod', name: state.name, uid: state.uid},
      },
    })
    if (res.status !== 201) throw new Error(`MountVolume: token of service account ${state.namespace}/${sa}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`)
    return res.body.status.token
  }

  private downwardField(pod: Json, item: {fieldRef?: {fieldPath: string}}): string {
    const path = item.fieldRef?.fieldPath
    const fields: Record<string, string | undefined> = {
      'metadata.namespace': pod.metadata.namespace, 'metadata.name': pod.metadata.name, 'metadata.uid': pod.metadata.uid,
      'spec.nodeName': pod.spec.nodeName, 'spec.serviceAccountName': pod.spec.serviceAccountName,
    }
    const value = path === undefined ? undefined : fields[path]
    if (value === undefined) throw new Error(`MountVolume: the test node agent does not give the downward API's ${JSON.stringify(item)}`)
    return value
  }

  /** A container's volume mounts as bind mounts, each mount point made on this machine if it is missing. */
  private mountsOf(state: PodState, spec: Json): ContainerMount[] {
    return (spec.volumeMounts ?? []).flatMap((m: Json): ContainerMount[] => {
      const source = state.volumes.get(m.name)
      if (source === undefined) return [] // a hostPath volume: see prepareVolumes
      if (m.subPath) throw new Error(`container ${spec.name}: the test node agent does not mount subPath (${m.name})`)
      const missing: string[] = []
      for (let p = m.mountPath; !existsSync(p); p = dirname(p)) missing.unshift(p)
      for (const p of missing) {
        mkdirSync(p)
        this.mountPoints.add(p)
      }
      return [{source, target: m.mountPath, readOnly: m.readOnly === true}]
    })
  }

  /** Its containers started, and the pod reported Running. */
  private runPod(state: PodState): void {
    const pod = state.pod
    createPodBox(this.layout!, `${this.runtimeRoot}/pod${state.uid}`, pod.spec.containers)
    if (pod.metadata.annotations?.[OWN_NETNS_ANNOTATION] === 'true') state.netns = createPodNetns('chaos-agent')
    const startedAt = now()
    for (const spec of pod.spec.containers) this.launch(state, spec, containerIdOf(), false)
    const hostNetwork = state.netns === undefined
    state.status = {
      phase: 'Running', hostIP: '127.0.0.1', hostIPs: [{ip: '127.0.0.1'}],
      ...(hostNetwork ? {podIP: '127.0.0.1', podIPs: [{ip: '127.0.0.1'}]} : {}),
      startTime: startedAt, conditions: conditions(true, startedAt),
      containerStatuses: state.containers.map((rc, i) => ({
        name: rc.name, image: pod.spec.containers[i].image, imageID: `${pod.spec.containers[i].image}@sha256:${'0'.repeat(64)}`, containerID: rc.containerId,
        ready: true, started: true, restartCount: 0, state: {running: {startedAt: rc.startedAt}}, lastState: {},
      })),
    }
    this.writeStatus(state)
  }

  private launch(state: PodState, spec: Json, id: string, ephemeral: boolean): RunningContainer {
    const api = new URL(this.api.url)
    const rc: RunningContainer = launchContainer({
      layout: this.layout!, cgroupPath: `${this.runtimeRoot}/pod${state.uid}/${id}`, spec, id, ephemeral, netns: state.netns,
      mounts: this.mountsOf(state, spec),
      // the kubelet gives every container the kubernetes Service's address; its ClusterIP cannot be reached here (no
      // kube-proxy), so the server's own, as on a node whose pods reach the API directly
      env: {HOSTNAME: state.name, KUBERNETES_SERVICE_HOST: api.hostname, KUBERNETES_SERVICE_PORT: api.port, KUBERNETES_SERVICE_PORT_HTTPS: api.port, KUBERNETES_PORT: `tcp://${api.host}`},
      who: 'test node agent', onExit: (exit) => this.exited(state, spec, rc, id, exit),
    })
    state.containers.push(rc)
    this.writeCadvisorLabels()
    return rc
  }

  /** A container ended on its own: restarted in place (restartPolicy Always) or reported terminated. */
  private exited(state: PodState, spec: Json, rc: RunningContainer, id: string, exit: ContainerExit): void {
    if (state.terminating || this.stopping) return
    const terminated = terminatedState(rc, exit)
    const list = rc.ephemeral ? state.status.ephemeralContainerStatuses : state.status.containerStatuses
    const status = list?.find((s: Json) => s.name === spec.name)
    if (!status) return
    if (!rc.ephemeral && (state.pod.spec.restartPolicy ?? 'Always') === 'Always') {
      status.restartCount++
      status.lastState = {terminated}
      state.containers.splice(state.containers.indexOf(rc), 1)
      const next = this.launch(state, spec, id, false)
      status.state = {running: {startedAt: next.startedAt}}
    } else {
      status.state = {terminated}
      status.ready = false
      status.started = false
      if (!rc.ephemeral) {
        const all = state.status.containerStatuses.every((s: Json) => s.state.terminated)
        if (all) state.status.phase = state.status.containerStatuses.every((s: Json) => s.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed'
        state.status.conditions = conditions(false, exit.finishedAt)
      }
    }
    this.writeStatus(state)
  }

  private writeStatus(state: PodState): void {
    const status = structuredClone(state.status)
    state.writes = state.writes.then(async () => {
      if (state.terminating) return
      const res = await this.request('PATCH', `/api/v1/namespaces/${state.namespace}/pods/${state.name}/status`, {status}, 'application/merge-patch+json')
      if (res.status !== 200 && res.status !== 404) this.note(`status of pod ${state.namespace}/${state.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    }).catch((error) => this.note(`status of pod ${state.namespace}/${state.name}: ${(error as Error).message}`))
  }

  /** Stops the pod's containers and removes its cgroups; for a pod marked for deletion, then deletes it for good. */
  private async endPod(state: PodState, finalDelete: boolean): Promise<void> {
    if (state.terminating) return
    if (process.env.CHAOS_AGENT_TRACE) process.stderr.write(`node agent: ending ${state.namespace}/${state.name}\n`)
    state.terminating = true
    const graceMs = Math.min(2, state.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000
    await state.setup
    await Promise.all(state.containers.map((rc) => stopContainer(rc, graceMs)))
    if (state.dir) rmSync(state.dir, {recursive: true, force: true})
    await new Cgroup(this.layout!, `${this.runtimeRoot}/pod${state.uid}`).remove()
    if (state.netns) deletePodNetns(state.netns)
    this.pods.delete(state.uid)
    this.writeCadvisorLabels()
    if (process.env.CHAOS_AGENT_TRACE) process.stderr.write(`node agent: ended ${state.namespace}/${state.name}\n`)
    if (finalDelete) await this.finalDelete(state.namespace, state.name, state.uid)
  }

  private async finalDelete(namespace: string, name: string, uid: string): Promise<void> {
    const res = await this.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, {apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: {uid}}).catch((error: Error) => ({status: 0, body: error.message}))
    if (process.env.CHAOS_AGENT_TRACE) process.stderr.write(`node agent: DELETE ${namespace}/${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}\n`)
    if (res.status !== 200 && res.status !== 404 && res.status !== 409) this.note(`deleting pod ${namespace}/${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
  }

  // ---- the kubelet API, for the API server -----------------------------------------------------------------------

  /**
   * GET /exec/{namespace}/{pod}/{container}?command=..&input=..&output=..&error=..&tty=.. upgraded to WebSocket
   * (v5.channel.k8s.io or v4): the kubelet's own exec server, reached through the API server's exec proxying, which
   * has already authorized the request (get and create pods/exec).
   */
  private serveExec(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined)
    const url = new URL(req.url ?? '/', 'https://x')
    const record: AgentRequest = {method: req.method ?? 'GET', path: url.pathname, status: 0}
    this.kubeletRequests.push(record)
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    if (parts[0] !== 'exec' || parts.length !== 4) return refuse(socket, 404, `the test node agent does not serve ${url.pathname}`, [record])
    const [, namespace, name, container] = parts
    const state = [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name)
    const rc = state?.containers.filter((c) => c.name === container && !c.ended).at(-1)
    // the kubelet's answer for a container that is not running, before it upgrades
    if (!state || !rc?.cgroup) return refuse(socket, 500, `container not found (${JSON.stringify(container)})`, [record])
    const q = url.searchParams
    const flag = (n: string) => ['1', 'true'].includes(q.get(n) ?? '')
    const streams = {stdin: flag('input'), stdout: flag('output'), stderr: flag('error'), tty: flag('tty')}
    const spec = [...state.pod.spec.containers, ...(state.pod.spec.ephemeralContainers ?? [])].find((c: Json) => c.name === container)
    record.status = 101
    execServer(this).handleUpgrade(req, socket, head, (ws) => {
      ws.send(Buffer.from([streams.stdout ? CHANNEL.stdout : streams.stderr ? CHANNEL.stderr : CHANNEL.error]))
      startSession(this, ws, {command: q.getAll('command'), ...streams, cgroupDirs: rc.cgroup!.dirs(), netns: state.netns, env: spec?.env ?? []})
    })
  }

  private serveKubelet(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x')
    const record: AgentRequest = {method: req.method ?? 'GET', path: url.pathname, status: 0}
    this.kubeletRequests.push(record)
    res.on('finish', () => { record.status = res.statusCode })
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    if (req.method === 'GET' && parts[0] === 'containerLogs' && parts.length === 4) {
      const [, namespace, name, container] = parts
      const state = [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name)
      const rc = state?.containers.filter((c) => c.name === container).at(-1)
      if (!rc) return void res.writeHead(404, {'content-type': 'text/plain'}).end(`container ${container} of pod ${namespace}/${name} is not running on node ${this.nodeName}`)
      return serveContainerLog(res, rc, url.searchParams.get('follow') === 'true')
    }
    if (parts[0] === 'healthz') return void res.writeHead(200, {'content-type': 'text/plain'}).end('ok')
    if (req.method === 'GET' && url.pathname === '/metrics/cadvisor' && this.cadvisor) {
      // the API server's node proxy brings Prometheus here, as to a kubelet's embedded cAdvisor
      void fetch(`${this.cadvisor.url}/metrics`, {headers: {accept: req.headers.accept ?? 'text/plain'}}).then(async (answer) => {
        res.writeHead(answer.status, {'content-type': answer.headers.get('content-type') ?? 'text/plain'}).end(Buffer.from(await answer.arrayBuffer()))
      }, (error: Error) => res.writeHead(502, {'content-type': 'text/plain'}).end(`cAdvisor: ${error.message}`))
      return
    }
    res.writeHead(404, {'content-type': 'text/plain'}).end(`the test node agent does not serve ${url.pathname}`)
  }
}
