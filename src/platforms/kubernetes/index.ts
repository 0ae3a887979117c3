// The Kubernetes platform: workflows are pods a selector chooses in a cluster reached through
// @kubernetes/client-node (this module is imported only for platform kubernetes). Nothing is created in plan():
// it loads the kubeconfig, asks the API server whether every verb the run needs is allowed
// (SelfSubjectAccessReview), lists and chooses the pods, and refuses pods that are not running or not labelled
// chaos.allowed=true. A fault is charged to the target container through one of two mechanisms: an ephemeral
// container in the target pod running `chaos k8s helper` (no privileges; it stays in the pod spec until the pod
// restarts), or a short-lived privileged helper pod pinned to the target's node that joins the target container's
// cgroup found through its containerID. Helper pods are labelled chaos.run=RUN and written to the run's ledger
// before they are created.
import type {Experiment, KubeSettingsSpec, NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import {KubeSettings} from '../../experiment/schema.js'
import {formatBytes} from '../../experiment/units.js'
import type {ClusterResource, RunLedger} from '../../rollback/ledger.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import type {CpuParams, MemoryParams, StressorParams} from '../../stressors/protocol.js'
import {
  type FloodEndpoint, type Platform, type PlatformFactoryContext, PlanError, type StressorPlacement, type WorkflowHandle,
} from '../platform.js'
import {type Cluster, connect, describeApiError, type Pod, statusOf, withTimeout} from './client.js'
import {formatCpu, parseQuantity} from './quantity.js'
import {describePermission, PERMISSIONS} from './rbac.js'
import {combineStressors, type RemoteContainer, remoteStressor} from './remote-stressor.js'
import {ALLOW_LABEL, choosePods, describePick, listPods, notRunning, RUN_LABEL} from './select.js'
import {type ChosenContainer, KubeWorkflow} from './workflow.js'

export class KubernetesPlatform implements Platform {
  readonly name = 'kubernetes'
  private readonly experiment: Experiment
  private readonly runId: string
  private readonly settings: KubeSettingsSpec
  private cluster?: Cluster
  private ledger?: RunLedger
  private workflows: KubeWorkflow[] = []
  private readonly helperPods: ClusterResource[] = []
  private readonly ephemeral: string[] = []
  private launched = 0
  readonly seed: number

  constructor(ctx: PlatformFactoryContext) {
    this.experiment = ctx.experiment
    this.runId = ctx.runId
    this.settings = ctx.experiment.kubernetes ?? KubeSettings.parse({})
    this.seed = this.settings.seed ?? parseInt(ctx.runId.slice(0, 7), 16)
    if (ctx.levelOverride !== undefined && ctx.levelOverride !== 'none') {
      throw new PlanError(`--level ${ctx.levelOverride}: on platform kubernetes the pods keep the isolation the cluster gave them; compare isolation levels with one experiment per deployment`)
    }
  }

  get target(): WorkflowHandle {
    return this.workflows[0]
  }

  get neighbors(): WorkflowHandle[] {
    return this.workflows.slice(1)
  }

  private get specs(): (TargetSpec | NeighborSpec)[] {
    return [this.experiment.target, ...this.experiment.neighbors]
  }

  async plan(): Promise<string[]> {
    const fault = this.experiment.fault
    if (fault.type !== 'cpu-hog' && fault.type !== 'memory-leak') {
      throw new PlanError(`fault ${fault.type} is not offered on platform kubernetes yet: cpu-hog and memory-leak are (docs/kubernetes.md)`)
    }
    const cluster = await connect(this.settings)
    this.cluster = cluster
    const lines = [
      `kubernetes: ${cluster.source}, context ${cluster.context ?? '(in-cluster)'}, server ${cluster.server}`,
      this.settings.mechanism === 'ephemeral-container'
        ? `mechanism ephemeral-container: the stressor runs as an ephemeral container (image ${this.settings.image}) in each target pod; it ends at the deadline, but the API cannot remove it: it stays listed in the pod spec until the pod is restarted`
        : `mechanism helper-pod: a privileged helper pod (image ${this.settings.image}, hostPID, the node's /sys/fs/cgroup mounted) on each target pod's node joins the target container's cgroup; labelled ${RUN_LABEL}=${this.runId}, deleted after`,
    ]
    await this.checkAccess(lines)
    const workflows: KubeWorkflow[] = []
    for (const [index, spec] of this.specs.entries()) {
      workflows.push(await this.choose(spec, index === 0, lines))
    }
    this.workflows = workflows
    return lines
  }

  /** SelfSubjectAccessReview for every verb this run needs, in every namespace it touches: a refusal names the verb. */
  private async checkAccess(lines: string[]): Promise<void> {
    const cluster = this.cluster!
    const namespaces = [...new Set(this.specs.map((s) => s.pods!.namespace))]
    const targetNs = this.experiment.target.pods!.namespace
    const needed = PERMISSIONS.filter((p) => p.mechanism === undefined || p.mechanism === this.settings.mechanism)
    const missing: string[] = []
    for (const p of needed) {
      // workflows are listed and watched everywhere; what injects touches the target's namespace only
      const where = p.scope === 'cluster' ? [undefined] : ['list', 'watch'].includes(p.verb) && p.resource === 'pods' && p.group === '' ? namespaces : [targetNs]
      for (const namespace of where) {
        let allowed: boolean
        try {
          const review = await withTimeout(cluster, 'SelfSubjectAccessReview', cluster.authz.createSelfSubjectAccessReview({
            body: {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {resourceAttributes: {namespace, verb: p.verb, group: p.group, resource: p.resource, subresource: p.subresource}}},
          }))
          allowed = review.status?.allowed === true
        } catch (error) {
          if (error instanceof PlanError) throw error
          const status = statusOf(error)
          if (status?.code === 401) throw new PlanError(`the API server at ${cluster.server} refused the credentials (401 Unauthorized)`, 4)
          throw new PlanError(`the API server at ${cluster.server} cannot be asked about permissions: ${describeApiError(error)}`, 4)
        }
        if (allowed) continue
        const text = `"${describePermission(p)}"${namespace ? ` in namespace ${namespace}` : ' (cluster-wide)'} (to ${p.why})`
        if (p.optional) lines.push(`note: not allowed to ${text}; the run goes on without it`)
        else missing.push(text)
      }
    }
    if (missing.length > 0) {
      throw new PlanError(`forbidden by RBAC: this identity may not ${missing.join('; nor ')}. Grant them (chaos k8s manifests prints a least-privilege Role)`, 4)
    }
    lines.push(`RBAC: the ${needed.filter((p) => !p.optional).length} verbs this run needs are allowed (SelfSubjectAccessReview)`)
  }

  private async choose(spec: TargetSpec | NeighborSpec, isTarget: boolean, lines: string[]): Promise<KubeWorkflow> {
    const cluster = this.cluster!
    const sel = spec.pods!
    const role = isTarget ? 'target' : 'neighbour'
    const what = `pods in namespace ${sel.namespace}${sel.selector ? ` matching ${sel.selector}` : ''}${sel.fieldSelector ? ` with ${sel.fieldSelector}` : ''}`
    const listed = await listPods(cluster, sel)
    if (listed.pods.length === 0) throw new PlanError(`${spec.name}: no ${what}`)
    const pick = sel.pick ?? (isTarget ? 'one' : 'all')
    // the target is chosen among running pods only when some are; a chosen pod that is not running is refused below
    const running = listed.pods.filter((p) => notRunning(p, containerOf(p, sel.container)) === undefined)
    const pool = isTarget && running.length > 0 ? running : listed.pods
    const chosen = choosePods(pool, pick, this.seed)
    for (const pod of chosen) {
      const names = pod.spec?.containers.map((c) => c.name) ?? []
      if (sel.container !== undefined && !names.includes(sel.container)) {
        throw new PlanError(`${spec.name}: pod ${pod.metadata?.name} has no container ${sel.container} (it has ${names.join(', ')})`)
      }
      const why = notRunning(pod, containerOf(pod, sel.container))
      if (why && isTarget) throw new PlanError(`${spec.name}: pod ${sel.namespace}/${pod.metadata?.name} ${why}; a fault can only be charged to a running container`, 4)
      if (why) lines.push(`note: neighbour ${spec.name}: pod ${pod.metadata?.name} ${why}`)
    }
    if (isTarget) await this.checkAllowed(spec, chosen, lines)
    const containers = this.containersOf(chosen[0], sel.container, isTarget && sel.allContainers)
    if (isTarget && chosen.length > 1) this.checkAlike(spec, chosen, containers)
    lines.push(`${role} ${spec.name}: ${chosen.length} of ${listed.pods.length} ${what} (${listed.pages} page${listed.pages > 1 ? 's' : ''}, pick ${describePick(pick)}${chosen.length < listed.pods.length ? `, seed ${this.seed}` : ''}):`)
    for (const pod of chosen) {
      const qos = pod.status?.qosClass ?? '?'
      const c = this.containersOf(pod, sel.container, isTarget && sel.allContainers)
      lines.push(`  ${pod.metadata?.namespace}/${pod.metadata?.name} on node ${pod.spec?.nodeName ?? '?'}, QoS ${qos}, container ${c.map(describeContainer).join('; ')}`)
    }
    return new KubeWorkflow(spec.name, isTarget ? 'target' : 'neighbor', spec, chosen, containers)
  }

  /** Safety: a target pod must carry chaos.allowed=true, or live in a namespace that does, unless the experiment overrides. */
  private async checkAllowed(spec: TargetSpec, pods: Pod[], lines: string[]): Promise<void> {
    const unlabelled = pods.filter((p) => p.metadata?.labels?.[ALLOW_LABEL] !== 'true')
    if (unlabelled.length === 0) return
    const ns = spec.pods!.namespace
    let nsAllowed = false
    let nsProblem = ''
    try {
      const namespace = await withTimeout(this.cluster!, `reading namespace ${ns}`, this.cluster!.core.readNamespace({name: ns}))
      nsAllowed = namespace.metadata?.labels?.[ALLOW_LABEL] === 'true'
    } catch (error) {
      if (error instanceof PlanError) throw error
      nsProblem = statusOf(error)?.code === 403 ? ` (the namespace's labels could not be read: forbidden to "get namespaces")` : ` (namespace ${ns}: ${describeApiError(error)})`
    }
    if (nsAllowed) {
      lines.push(`safety: namespace ${ns} is labelled ${ALLOW_LABEL}=true`)
      return
    }
    const names = unlabelled.map((p) => p.metadata?.name).join(', ')
    if (this.settings.allowUnlabelled || this.experiment.safety.allowUnlabelled) {
      lines.push(`safety OVERRIDDEN (${this.settings.allowUnlabelled ? 'kubernetes' : 'safety'}.allowUnlabelled): ${names} carry no ${ALLOW_LABEL}=true label, nor does namespace ${ns}`)
      return
    }
    throw new PlanError(`${spec.name}: pod${unlabelled.length > 1 ? 's' : ''} ${names} in namespace ${ns} ${unlabelled.length > 1 ? 'are' : 'is'} not labelled for chaos: label the pod or its namespace ${ALLOW_LABEL}=true, or set safety.allowUnlabelled: true if you mean it${nsProblem}`)
  }

  private containersOf(pod: Pod, name: string | undefined, all: boolean): ChosenContainer[] {
    const list = pod.spec?.containers ?? []
    const picked = all ? list : [list.find((c) => c.name === (name ?? list[0]?.name))!]
    return picked.map((c) => ({name: c.name, cpuLimit: parseQuantity(c.resources?.limits?.cpu), memoryLimit: parseQuantity(c.resources?.limits?.memory)}))
  }

  /** Several target pods get one dose each: their chosen containers must have the same limits, or the dose would differ. */
  private checkAlike(spec: TargetSpec, pods: Pod[], reference: ChosenContainer[]): void {
    for (const pod of pods.slice(1)) {
      const mine = this.containersOf(pod, spec.pods!.container, spec.pods!.allContainers)
      const same = mine.length === reference.length && mine.every((c, i) => c.name === reference[i].name && c.cpuLimit === reference[i].cpuLimit && c.memoryLimit === reference[i].memoryLimit)
      if (!same) throw new PlanError(`${spec.name}: pod ${pod.metadata?.name} has other containers or limits than ${pods[0].metadata?.name}; a limit-relative dose would differ between them. Narrow the selector to one kind of pod`)
    }
  }

  async setup(ledger: RunLedger, log: (line: string) => void): Promise<void> {
    this.ledger = ledger
    await Promise.all(this.workflows.map((w) => w.start(this.cluster!, this.experiment.phases.interval, log)))
    const target = this.workflows[0]
    if (target.metricsProblem) log(`note: no PodMetrics for ${target.name} (${target.metricsProblem}); the dose is proven from the stressor's own figures`)
    for (const w of this.workflows) log(`${w.role} ${w.name}: ${w.pods.length} pod(s), ${w.readyPods()} Ready (${w.boundary})`)
  }

  fillDirectory(): {dir: string, createdByExperiment: boolean} {
    throw new PlanError('disk-fill is not offered on platform kubernetes yet')
  }

  flood(): FloodEndpoint {
    throw new PlanError('network-flood is not offered on platform kubernetes yet')
  }

  launchStressor(placement: StressorPlacement): StressorHandle {
    if (placement.where !== 'target') throw new PlanError('platform kubernetes runs stressors in the target only')
    const target = this.workflows[0]
    const reference = target.containers[0]
    const handles: StressorHandle[] = []
    const weights: number[] = []
    for (const pod of target.pods) {
      for (const container of target.containers) {
        const {params, weight} = scaleParams(placement.kind, placement.params, reference, container)
        weights.push(weight)
        handles.push(this.launchOne(placement, params, pod, container.name))
      }
    }
    return combineStressors(handles, weights)
  }

  private helperArgs(placement: StressorPlacement, params: StressorParams): string[] {
    return ['chaos', 'k8s', 'helper', '--run', this.runId, '--kind', placement.kind, '--params', JSON.stringify(params), '--deadline', String(placement.deadline)]
  }

  private launchOne(placement: StressorPlacement, params: StressorParams, pod: Pod, container: string): StressorHandle {
    const cluster = this.cluster!
    const n = ++this.launched
    const namespace = pod.metadata!.namespace!
    const podName = pod.metadata!.name!
    const args = {kind: placement.kind, runId: this.runId, deadline: placement.deadline, parent: process.pid, cgroups: [], params}
    if (this.settings.mechanism === 'ephemeral-container') {
      const name = `chaos-${this.runId}-${n}`
      return remoteStressor({
        cluster, args,
        launch: async () => {
          this.ephemeral.push(`${namespace}/${podName}/${name}`)
          await withTimeout(cluster, `adding ephemeral container ${name} to ${podName}`, cluster.core.patchNamespacedPodEphemeralcontainers({
            namespace, name: podName,
            body: {spec: {ephemeralContainers: [{
              name, image: this.settings.image, imagePullPolicy: 'IfNotPresent', targetContainerName: container,
              command: this.helperArgs(placement, params),
              env: [{name: 'CHAOS_RUN', value: this.runId}],
            }]}},
          }, cluster.k8s.setHeaderOptions('Content-Type', cluster.k8s.PatchStrategy.StrategicMergePatch)))
          return {namespace, pod: podName, container: name, ephemeral: true}
        },
      })
    }
    const status = pod.status?.containerStatuses?.find((c) => c.name === container)
    const containerId = status?.containerID
    const resource: ClusterResource = {kind: 'pod', namespace, name: `chaos-${this.runId}-h${n}`, context: cluster.context, kubeconfig: cluster.kubeconfig}
    return remoteStressor({
      cluster, args,
      launch: async () => {
        if (!containerId) throw new Error(`container ${container} of ${podName} reports no containerID`)
        if (!pod.spec?.nodeName) throw new Error(`pod ${podName} is not on a node`)
        // on disk before it exists: a crash from here on leaves a ledger `chaos cleanup` can act on
        this.ledger!.add(resource)
        this.helperPods.push(resource)
        await withTimeout(cluster, `creating helper pod ${resource.name}`, cluster.core.createNamespacedPod({namespace, body: helperPod(resource.name, this.runId, pod.spec.nodeName, this.settings.image, [...this.helperArgs(placement, params), '--container-id', containerId], placement.deadline)}))
        return {namespace, pod: resource.name, container: 'stressor', ephemeral: false}
      },
      remove: async () => {
        await this.removeHelper(resource)
      },
    })
  }

  private async removeHelper(resource: ClusterResource): Promise<boolean> {
    const {deletePod} = await import('./undo.js')
    const gone = await deletePod(resource, this.cluster)
    if (gone) {
      this.ledger?.remove(resource)
      const i = this.helperPods.indexOf(resource)
      if (i >= 0) this.helperPods.splice(i, 1)
    }
    return gone
  }

  async teardown(): Promise<string[]> {
    for (const w of this.workflows) w.stop()
    const left: string[] = []
    for (const resource of [...this.helperPods].reverse()) {
      let gone = false
      try {
        gone = await this.removeHelper(resource)
      } catch { /* reported below */ }
      if (!gone) left.push(`kubernetes pod ${resource.namespace}/${resource.name}`)
    }
    return left
  }
}

function containerOf(pod: Pod, name: string | undefined): string {
  return name ?? pod.spec?.containers[0]?.name ?? ''
}

function describeContainer(c: ChosenContainer): string {
  return `${c.name} (limits: ${c.cpuLimit !== undefined ? `cpu ${formatCpu(c.cpuLimit)}` : 'no cpu'}, ${c.memoryLimit !== undefined ? `memory ${formatBytes(c.memoryLimit)}` : 'no memory'})`
}

/** The same limit-relative dose for another container: CPU and memory scaled by its limits against the reference's. */
export function scaleParams(kind: string, params: StressorParams, reference: ChosenContainer, container: ChosenContainer): {params: StressorParams, weight: number} {
  if (container === reference) return {params, weight: 1}
  if (kind === 'cpu' && reference.cpuLimit && container.cpuLimit) {
    const ratio = container.cpuLimit / reference.cpuLimit
    const p = params as CpuParams
    return {params: {...p, loadPerWorker: Math.min(1, p.loadPerWorker * ratio)}, weight: ratio}
  }
  if (kind === 'memory' && reference.memoryLimit && container.memoryLimit) {
    const ratio = container.memoryLimit / reference.memoryLimit
    const p = params as MemoryParams
    return {params: {...p, limit: Math.round(p.limit * ratio), rate: Math.max(1024, Math.round(p.rate * ratio))}, weight: ratio}
  }
  return {params, weight: 1}
}

/** The privileged helper pod, pinned to the target's node, that joins the target container's cgroup. */
export function helperPod(name: string, runId: string, nodeName: string, image: string, command: string[], deadline: number): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {name, labels: {[RUN_LABEL]: runId, 'app.kubernetes.io/managed-by': 'chaos', 'app.kubernetes.io/component': 'stressor'}},
    spec: {
      nodeName,
      restartPolicy: 'Never',
      hostPID: true,
      terminationGracePeriodSeconds: 1,
      activeDeadlineSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000) + 30),
      automountServiceAccountToken: false,
      tolerations: [{operator: 'Exists'}],
      containers: [{
        name: 'stressor', image, imagePullPolicy: 'IfNotPresent', command,
        securityContext: {privileged: true},
        volumeMounts: [{name: 'host-cgroup', mountPath: '/host/sys/fs/cgroup'}],
      }],
      volumes: [{name: 'host-cgroup', hostPath: {path: '/sys/fs/cgroup', type: 'Directory'}}],
    },
  }
}

export {type RemoteContainer}
