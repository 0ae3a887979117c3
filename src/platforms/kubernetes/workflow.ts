// One workflow on the kubernetes platform: the pods its selector chose. Its signals come from the cluster: a watch
// on its pods (restarts, OOMKilled, evictions, deletions, readiness) and metrics-server's PodMetrics (CPU, working
// set), polled in the background because the runner samples synchronously.
import type {NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import type {ResourceSample} from '../../metrics/types.js'
import {type Allowance, type WorkflowHandle} from '../platform.js'
import {type Cluster, type Pod, statusOf} from './client.js'
import {formatCpu, parseQuantity} from './quantity.js'

export interface ChosenContainer {
  name: string
  cpuLimit?: number
  memoryLimit?: number
  /** limits.ephemeral-storage: what the kubelet evicts the pod above (writable layer, logs, emptyDir) */
  storageLimit?: number
}

/** metrics-server's answer (metrics.k8s.io/v1beta1 PodMetricsList), the fields read here */
interface PodMetricsList {
  items: Array<{metadata: {name: string}, containers: Array<{name: string, usage: {cpu: string, memory: string}}>}>
}

interface PodState {
  restarts: number
  oomKills: number
  evicted: boolean
  deleted: boolean
  ready: boolean
  lastExit?: string
}

export class KubeWorkflow implements WorkflowHandle {
  private readonly state = new Map<string, PodState>()
  private baseline = new Map<string, PodState>()
  private cpuSeconds = 0
  private memoryBytes?: number
  private lastMetricsAt?: number
  private lastExitText?: string
  private unreadyCount = 0
  private watchAbort?: AbortController
  private poller?: NodeJS.Timeout
  private stopped = false
  metricsProblem?: string

  constructor(
    readonly name: string,
    readonly role: 'target' | 'neighbor',
    readonly spec: TargetSpec | NeighborSpec,
    readonly pods: Pod[],
    /** the containers the fault is charged to (target) or that are watched (neighbour) */
    readonly containers: ChosenContainer[],
  ) {
    for (const pod of pods) {
      const s = podState(pod, undefined)
      this.state.set(pod.metadata!.uid!, s)
      this.baseline.set(pod.metadata!.uid!, {...s})
    }
  }

  get namespace(): string {
    return this.spec.pods!.namespace
  }

  get boundary(): string {
    const pod = this.pods[0]
    const c = this.containers[0]
    const limits = [c.cpuLimit !== undefined ? `cpu ${formatCpu(c.cpuLimit)}` : 'no cpu limit', c.memoryLimit !== undefined ? `memory ${Math.round(c.memoryLimit / 1024 ** 2)}Mi` : 'no memory limit'].join(', ')
    const more = this.pods.length > 1 ? ` (+${this.pods.length - 1} more pod${this.pods.length > 2 ? 's' : ''})` : ''
    return `pod ${pod.metadata?.namespace}/${pod.metadata?.name}${more}, container ${this.containers.map((x) => x.name).join('+')} [${limits}, QoS ${pod.status?.qosClass ?? '?'}]`
  }

  allowance(): Allowance {
    return containerAllowance(this.name, this.containers[0])
  }

  sample(): ResourceSample {
    const oomKills = [...this.state.values()].reduce((s, p) => s + p.oomKills, 0)
    return {t: Date.now(), cpuSeconds: this.lastMetricsAt === undefined ? undefined : this.cpuSeconds, memoryBytes: this.memoryBytes, oomKills, unready: this.unreadyCount}
  }

  unexpectedExits(): number {
    let n = 0
    for (const [uid, s] of this.state) {
      const b = this.baseline.get(uid)!
      n += s.restarts - b.restarts + (s.evicted && !b.evicted ? 1 : 0) + (s.deleted ? 1 : 0)
    }
    return n
  }

  lastExit(): string | undefined {
    return this.lastExitText
  }

  /** how many of its pods are Ready now */
  readyPods(): number {
    return [...this.state.values()].filter((s) => s.ready && !s.deleted).length
  }

  async start(cluster: Cluster, intervalMs: number, log: (line: string) => void): Promise<void> {
    const byUid = new Set(this.pods.map((p) => p.metadata!.uid!))
    const watch = new cluster.k8s.Watch(cluster.kc)
    const selector = this.spec.pods!
    const path = `/api/v1/namespaces/${selector.namespace}/pods`
    const onEvent = (type: string, pod: Pod) => {
      const uid = pod?.metadata?.uid
      if (!uid || !byUid.has(uid)) return
      const before = this.state.get(uid)
      const next = podState(pod, before)
      if (type === 'DELETED') next.deleted = true
      this.state.set(uid, next)
      const what = `${this.name}: pod ${pod.metadata?.name}`
      if (before && next.restarts > before.restarts) {
        this.lastExitText = `${pod.metadata?.name} restarted${next.lastExit ? ` (${next.lastExit})` : ''}`
        log(`${what} restarted${next.lastExit ? `: ${next.lastExit}` : ''}`)
      }
      if (before && next.evicted && !before.evicted) {
        this.lastExitText = `${pod.metadata?.name} evicted`
        log(`${what} was evicted: ${pod.status?.message ?? ''}`)
      }
      if (before && next.deleted && !before.deleted && !this.stopped) {
        this.lastExitText = `${pod.metadata?.name} deleted`
        log(`${what} was deleted`)
      }
      if (before && before.ready !== next.ready && !this.stopped) log(`${what} is ${next.ready ? 'Ready' : 'not Ready'}`)
      // a pod that stops being Ready (its readiness probe failing, say) is taken out of its Service: the unready signal
      if (before?.ready && !next.ready && !next.deleted) this.unreadyCount++
    }
    const begin = async (): Promise<void> => {
      if (this.stopped) return
      try {
        this.watchAbort = await watch.watch(path, {labelSelector: selector.selector, fieldSelector: selector.fieldSelector, allowWatchBookmarks: true},
          (type, obj) => onEvent(type, obj as Pod),
          () => {
            // watches end (server timeouts); start again unless we are done
            if (!this.stopped) setTimeout(() => void begin(), 500).unref()
          })
      } catch (error) {
        if (!this.stopped) setTimeout(() => void begin(), 1000).unref()
        void error
      }
    }
    await begin()
    // through the generated client rather than client-node's Metrics helper: a real API server answers a group it does
    // not serve (no metrics-server) with a plain-text 404, which that helper reports as a 500 (it parses the body as
    // JSON first), so its absence was never recognised and the refusal was asked again every interval
    const custom = cluster.kc.makeApiClient(cluster.k8s.CustomObjectsApi)
    const names = new Set(this.pods.map((p) => p.metadata!.name!))
    const containers = new Set(this.containers.map((c) => c.name))
    /** metrics-server absent (404) or forbidden (403): asking again each interval would only repeat the refusal */
    let given = false
    const poll = async () => {
      try {
        const list = await custom.listNamespacedCustomObject({group: 'metrics.k8s.io', version: 'v1beta1', namespace: selector.namespace, plural: 'pods'}) as PodMetricsList
        const now = Date.now()
        let cores = 0
        let memory = 0
        for (const item of list.items) {
          if (!names.has(item.metadata.name)) continue
          for (const c of item.containers) {
            if (!containers.has(c.name)) continue
            cores += parseQuantity(c.usage.cpu) ?? 0
            memory += parseQuantity(c.usage.memory) ?? 0
          }
        }
        if (this.lastMetricsAt !== undefined) this.cpuSeconds += cores * (now - this.lastMetricsAt) / 1000
        this.lastMetricsAt = now
        this.memoryBytes = memory
        this.metricsProblem = undefined
      } catch (error) {
        this.metricsProblem = (error as Error).message
        const code = (error as {statusCode?: number, code?: number}).statusCode ?? statusOf(error)?.code
        if (code === 403 || code === 404) given = true
      }
    }
    await poll()
    const loop = () => {
      if (given) return
      this.poller = setTimeout(() => void poll().finally(() => { if (!this.stopped) loop() }), intervalMs)
    }
    loop()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.poller)
    this.watchAbort?.abort()
  }
}

function podState(pod: Pod, before: PodState | undefined): PodState {
  const statuses = pod.status?.containerStatuses ?? []
  const restarts = statuses.reduce((s, c) => s + (c.restartCount ?? 0), 0)
  let oomKills = before?.oomKills ?? 0
  let lastExit = before?.lastExit
  if (before && restarts > before.restarts) {
    for (const c of statuses) {
      const t = c.lastState?.terminated
      if (t) {
        lastExit = `container ${c.name}: ${t.reason ?? 'terminated'} (exit ${t.exitCode})`
        if (t.reason === 'OOMKilled') oomKills++
      }
    }
  } else if (!before) {
    oomKills = 0
  }
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
  return {restarts, oomKills, evicted: pod.status?.reason === 'Evicted', deleted: before?.deleted ?? false, ready, lastExit}
}

/** What a container may use: its limits. A limit-relative dose is relative to these (each container's its own). */
export function containerAllowance(workflow: string, c: ChosenContainer): Allowance {
  if (c.cpuLimit === undefined) {
    return {
      cpus: Number.POSITIVE_INFINITY, cpuSource: 'unlimited', memoryLimit: c.memoryLimit,
      unlimitedWhy: `${workflow}: container ${c.name} has no resources.limits.cpu, so a limit-relative CPU dose has nothing to be relative to; set a limit, or give the fault cores:`,
    }
  }
  return {cpus: c.cpuLimit, cpuSource: 'quota', memoryLimit: c.memoryLimit}
}
