// The Kubernetes platform: workflows are pods a selector chooses in a cluster reached through
// @kubernetes/client-node (this module is imported only for platform kubernetes). Nothing is created in plan():
// it loads the kubeconfig, asks the API server whether every verb the run needs is allowed
// (SelfSubjectAccessReview), lists and chooses the pods, and refuses pods that are not running or not labelled
// chaos.allowed=true. A fault is charged to the target container through one of two mechanisms: an ephemeral
// container in the target pod running `chaos k8s helper` (no privileges; it stays in the pod spec until the pod
// restarts), or a short-lived privileged helper pod pinned to the target's node that joins the target container's
// cgroup found through its containerID. Helper pods are labelled chaos.run=RUN and written to the run's ledger
// before they are created.
import type {KubeSettingsSpec, NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import {KubeSettings} from '../../experiment/schema.js'
import {formatBytes} from '../../experiment/units.js'
import type {ClusterResource, RunLedger} from '../../rollback/ledger.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import type {StressorParams} from '../../stressors/protocol.js'
import type {Capabilities, FloodEndpoint, RemoteFillTarget} from '../capabilities.js'
import {type Platform, type PlatformFactoryContext, PlanError, type StressorPlacement} from '../platform.js'
import {PlatformWorkflows} from '../workflows.js'
import {type Cluster, connect, describeApiError, type Pod, statusOf, withTimeout} from './client.js'
import {formatCpu, parseQuantity} from './quantity.js'
import {describePermission, PERMISSIONS} from './rbac.js'
import {combineStressors, type RemoteContainer, remoteStressor} from './remote-stressor.js'
import {ALLOW_LABEL, choosePods, describePick, listPods, notRunning, RUN_LABEL} from './select.js'
import {type ChosenContainer, containerAllowance, KubeWorkflow} from './workflow.js'

export class KubernetesPlatform extends PlatformWorkflows<KubeWorkflow> implements Platform {
  readonly name = 'kubernetes'
  readonly targetKnownAtPlan = true
  private readonly settings: KubeSettingsSpec
  private cluster?: Cluster
  private ledger?: RunLedger
  private readonly helperPods: ClusterResource[] = []
  private readonly ephemeral: string[] = []
  /** the target container's volume a fill through an ephemeral container writes into */
  private fillMount?: {name: string, mountPath: string}
  private launched = 0
  /** optional verbs RBAC refused (the run goes on without what they give) */
  private readonly refused = new Set<string>()
  readonly seed: number
  /** a fill lands in the target container's filesystem (not this machine's); a flood stays inside the target pod */
  readonly capabilities: Partial<Capabilities> = {remoteFill: this, flood: this}
  /** the isolation level this run's pods embody: kubernetes.level, or the name of one of kubernetes.levels */
  readonly level: string

  constructor(ctx: PlatformFactoryContext) {
    super(ctx)
    this.settings = ctx.experiment.kubernetes ?? KubeSettings.parse({})
    this.seed = this.settings.seed ?? parseInt(ctx.runId.slice(0, 7), 16)
    this.level = this.settings.level
    if (ctx.levelOverride !== undefined && ctx.levelOverride !== this.settings.level) {
      const level = this.settings.levels?.[ctx.levelOverride]
      if (!level) {
        const names = [this.settings.level, ...Object.keys(this.settings.levels ?? {})]
        throw new PlanError(`level ${ctx.levelOverride}: on platform kubernetes a level is other pods of the same workflows, named in kubernetes.levels; this experiment has ${names.join(', ')}`)
      }
      // the level's pods replace the experiment's own (this run's copy of the experiment)
      this.level = ctx.levelOverride
      this.experiment.target.pods = {...this.experiment.target.pods!, ...level.target}
      for (const n of this.experiment.neighbors) {
        const override = level.neighbors?.[n.name]
        if (override) n.pods = {...n.pods!, ...override}
      }
    }
  }

  async plan(): Promise<string[]> {
    const cluster = await connect(this.settings)
    this.cluster = cluster
    const lines = [
      `kubernetes: ${cluster.source}, context ${cluster.context ?? '(in-cluster)'}, server ${cluster.server}`,
      ...(this.settings.levels ? [`level ${this.level}${this.level === this.settings.level ? ' (the experiment\'s own pods)' : `: ${this.settings.levels[this.level].description ?? 'kubernetes.levels'}`}`] : []),
      this.settings.mechanism === 'ephemeral-container'
        ? `mechanism ephemeral-container: the stressor runs as an ephemeral container (image ${this.settings.image}) in each target pod; it is stopped after the injection over exec (else it ends at its deadline), but the API cannot remove it: it stays listed in the pod spec until the pod is restarted`
        : `mechanism helper-pod: a privileged helper pod (image ${this.settings.image}, hostPID, the node's /sys/fs/cgroup mounted) on each target pod's node joins the target container's cgroup; labelled ${RUN_LABEL}=${this.runId}, deleted after`,
    ]
    await this.checkAccess(lines)
    const workflows: KubeWorkflow[] = []
    for (const [index, spec] of this.specs.entries()) {
      workflows.push(await this.choose(spec, index === 0, lines))
    }
    this.workflows = workflows
    await this.checkIsolation(lines)
    await this.checkAdmission(lines)
    return lines
  }

  /**
   * The helper pod as the API server's admission sees it, created with dryRun=All on each target pod's node: a
   * cluster that forbids privileged containers (kube-apiserver --allow-privileged=false), a namespace whose Pod
   * Security level is baseline or restricted, or a ResourceQuota the pod does not fit refuses it here, before anything
   * starts, and not in the middle of the run. RBAC was asked already; this is the server's validation and admission
   * (policies and webhooks included).
   */
  private async checkAdmission(lines: string[]): Promise<void> {
    if (this.settings.mechanism !== 'helper-pod') return
    const cluster = this.cluster!
    const places = new Map<string, {namespace: string, node: string}>()
    for (const pod of this.workflows[0].pods) {
      const namespace = pod.metadata?.namespace
      const node = pod.spec?.nodeName
      if (namespace && node) places.set(`${namespace}/${node}`, {namespace, node})
    }
    for (const {namespace, node} of places.values()) {
      const body = helperPod(`chaos-${this.runId}-admission`, this.runId, node, this.settings.image, ['chaos', 'k8s', 'helper'], Date.now() + 60_000)
      try {
        await withTimeout(cluster, 'a dry-run create of the helper pod', cluster.core.createNamespacedPod({namespace, body, dryRun: 'All'}))
      } catch (error) {
        if (error instanceof PlanError) throw error
        const said = describeApiError(error)
        const why = /privileged|PodSecurity|host namespaces|hostPath/i.test(said)
          ? 'The helper is a privileged pod with hostPID and a hostPath volume: it needs a cluster that allows privileged containers and a namespace at Pod Security level privileged; mechanism ephemeral-container needs neither'
          : 'Mechanism ephemeral-container adds no pod'
        throw new PlanError(`mechanism helper-pod: the API server would not admit the helper pod in namespace ${namespace} (a dry-run create was refused): ${said}. ${why}`, 4)
      }
    }
    lines.push(`admission: the API server admits the helper pod in namespace ${[...new Set([...places.values()].map((p) => p.namespace))].join(', ')} (dry-run create)`)
  }

  /** SelfSubjectAccessReview for every verb this run needs, in every namespace it touches: a refusal names the verb. */
  private async checkAccess(lines: string[]): Promise<void> {
    const cluster = this.cluster!
    const namespaces = [...new Set(this.specs.map((s) => s.pods!.namespace))]
    const targetNs = this.experiment.target.pods!.namespace
    // namespaces whose quota or LimitRange a workflow states
    const stating = [...new Set(this.specs.filter((s) => s.pods!.isolation?.quota !== undefined || s.pods!.isolation?.limitRange !== undefined).map((s) => s.pods!.namespace))]
    const needed = PERMISSIONS.filter((p) => (p.mechanism === undefined || p.mechanism === this.settings.mechanism) && (!p.forNamespaceIsolation || stating.length > 0))
    const missing: string[] = []
    for (const p of needed) {
      // workflows are listed and watched everywhere; what injects touches the target's namespace only
      const where = p.scope === 'cluster' ? [undefined] : p.forNamespaceIsolation ? stating
        : ['list', 'watch'].includes(p.verb) && p.resource === 'pods' && p.group === '' ? namespaces : [targetNs]
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
        if (p.optional) {
          this.refused.add(describePermission(p))
          lines.push(`note: not allowed to ${text}; the run goes on without it`)
        }
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

  /**
   * Each workflow's stated isolation (pods.isolation) against the cluster: QoS class, limits, the namespace's
   * ResourceQuota and LimitRange, node placement against the other workflows, node selector. One false statement
   * refuses the run: a verdict must not be filed under a boundary that is not there.
   */
  private async checkIsolation(lines: string[]): Promise<void> {
    const cluster = this.cluster!
    const problems: string[] = []
    for (const w of this.workflows) {
      const stated = w.spec.pods!.isolation
      if (!stated) continue
      const seen: string[] = []
      const wrong = (text: string) => problems.push(`${w.name}: ${text}`)
      if (stated.qos !== undefined) {
        const other = w.pods.filter((p) => p.status?.qosClass !== stated.qos)
        if (other.length > 0) wrong(`QoS ${stated.qos} stated, but ${other.map((p) => `${p.metadata?.name} is ${p.status?.qosClass ?? 'unknown'}`).join(', ')}`)
        else seen.push(`QoS ${stated.qos}`)
      }
      if (stated.limits !== undefined) {
        const off = w.containers.filter((c) => stated.limits ? c.cpuLimit === undefined || c.memoryLimit === undefined : c.cpuLimit !== undefined || c.memoryLimit !== undefined)
        if (off.length > 0) wrong(`${stated.limits ? 'cpu and memory limits' : 'no limits'} stated, but container ${off.map(describeContainer).join('; ')}`)
        else seen.push(stated.limits ? 'cpu and memory limits' : 'no limits')
      }
      for (const kind of ['quota', 'limitRange'] as const) {
        const want = stated[kind]
        if (want === undefined) continue
        const what = kind === 'quota' ? 'ResourceQuota' : 'LimitRange'
        let items: {metadata?: {name?: string}, spec?: {hard?: Record<string, unknown>, limits?: unknown[]}}[]
        try {
          const list = kind === 'quota'
            ? await withTimeout(cluster, 'listing ResourceQuotas', cluster.core.listNamespacedResourceQuota({namespace: w.namespace}))
            : await withTimeout(cluster, 'listing LimitRanges', cluster.core.listNamespacedLimitRange({namespace: w.namespace}))
          items = list.items
        } catch (error) {
          if (error instanceof PlanError) throw error
          throw new PlanError(`${w.name}: cannot list the ${what}s of namespace ${w.namespace} to check pods.isolation.${kind}: ${describeApiError(error)}`, 4)
        }
        const names = items.map((i) => `${i.metadata?.name}${i.spec?.hard ? ` (${Object.entries(i.spec.hard).map(([k, v]) => `${k} ${String(v)}`).join(', ')})` : ''}`)
        if (want && items.length === 0) wrong(`a ${what} in namespace ${w.namespace} stated, but it has none`)
        else if (!want && items.length > 0) wrong(`no ${what} in namespace ${w.namespace} stated, but it has ${names.join('; ')}`)
        else seen.push(want ? `${what} ${names.join('; ')}` : `no ${what}`)
      }
      if (stated.node !== undefined) {
        const mine = new Set(w.pods.map((p) => p.spec?.nodeName))
        const beside = this.workflows.filter((o) => o !== w).flatMap((o) => o.pods.filter((p) => mine.has(p.spec?.nodeName)).map((p) => `${o.name}'s ${p.metadata?.name} on ${p.spec?.nodeName}`))
        if (stated.node === 'dedicated' && beside.length > 0) wrong(`a dedicated node stated, but ${beside.slice(0, 5).join(', ')}${beside.length > 5 ? `, +${beside.length - 5} more` : ''}`)
        else if (stated.node === 'shared' && beside.length === 0) wrong(`a node shared with the other workflows stated, but no pod of theirs is on ${[...mine].join(', ')}`)
        else seen.push(stated.node === 'dedicated' ? `node${mine.size > 1 ? 's' : ''} ${[...mine].join(', ')} to itself` : `node shared (${beside[0]}${beside.length > 1 ? ', ...' : ''})`)
      }
      if (stated.nodeSelector !== undefined) {
        const off = w.pods.filter((p) => Object.entries(stated.nodeSelector!).some(([k, v]) => p.spec?.nodeSelector?.[k] !== v))
        const text = Object.entries(stated.nodeSelector).map(([k, v]) => `${k}=${v}`).join(',')
        if (off.length > 0) wrong(`nodeSelector ${text} stated, but ${off.map((p) => `${p.metadata?.name} has ${JSON.stringify(p.spec?.nodeSelector ?? {})}`).join(', ')}`)
        else seen.push(`nodeSelector ${text}`)
      }
      if (seen.length > 0) lines.push(`isolation of ${w.name} as stated: ${seen.join(', ')}`)
    }
    if (problems.length > 0) {
      throw new PlanError(`the stated isolation is not what the cluster has, so a verdict would be filed under the wrong boundary:\n  ${problems.join('\n  ')}`)
    }
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
    return picked.map((c) => ({
      name: c.name, cpuLimit: parseQuantity(c.resources?.limits?.cpu), memoryLimit: parseQuantity(c.resources?.limits?.memory),
      storageLimit: parseQuantity(c.resources?.limits?.['ephemeral-storage']),
    }))
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

  /** A fault charged to one container of each target pod refuses allContainers. */
  private oneContainer(fault: string, why: string): void {
    if (this.experiment.target.pods!.allContainers) {
      throw new PlanError(`${fault} on platform kubernetes is charged to one container of each target pod (${why}): leave allContainers out`)
    }
  }

  /**
   * A disk fill writes into the target container's own filesystem, which this machine cannot see. Through an
   * ephemeral container, it goes into the target container's volume that holds the path, mounted the same way.
   */
  remoteFill(fill: {volume?: string, path?: string}): RemoteFillTarget {
    this.oneContainer('disk-fill', 'the path is in that container\'s filesystem')
    if (fill.volume !== undefined || fill.path === undefined) {
      throw new PlanError('disk-fill on platform kubernetes fills a path in the target container (an emptyDir mount, or its writable layer): give fault.path, listed in safety.allowPaths as the container sees it; experiment volumes are loop filesystems on this machine')
    }
    const target = this.workflows[0]
    const container = target?.containers[0]
    let mounted = ''
    if (target && this.settings.mechanism === 'ephemeral-container') {
      for (const pod of target.pods) this.fillMount = volumeMountFor(pod, container!.name, fill.path)
      mounted = ` (the ephemeral container mounts volume ${this.fillMount!.name} at ${this.fillMount!.mountPath}, as the target container does)`
    }
    const storage = container?.storageLimit
    return {
      where: `${fill.path} in container ${container?.name ?? '?'} of each target pod${mounted}`,
      ...(storage === undefined ? {} : {percentOf: {bytes: storage, what: 'the container\'s ephemeral-storage limit'}}),
    }
  }

  /** A flood and its sink are both in one target pod's network namespace. */
  checkFlood(): void {
    this.oneContainer('network-flood', 'a pod\'s containers share one network namespace')
    const pods = this.workflows[0]?.pods.length ?? 0
    if (pods > 1) throw new PlanError(`network-flood on platform kubernetes floods inside one target pod's network namespace, to a sink in that pod; ${pods} pods were picked: use pick: one`)
  }

  /** Both ends of a flood are in the target pod's network namespace: the sink listens on its loopback. */
  flood(): FloodEndpoint {
    return {sinkHost: '127.0.0.1', inNamespace: true}
  }

  floodRoute(): string {
    return `inside the target pod's network namespace (its loopback; the node's softirq work is shared), ${this.settings.mechanism === 'helper-pod' ? 'entered by the helper pod' : 'shared by the ephemeral container'}`
  }

  launchStressor(placement: StressorPlacement): StressorHandle {
    const target = this.workflows[0]
    if (placement.where === 'sink') {
      // the receiving end of a flood: one, in the (single) target pod, charged to the target container too
      return this.launchOne(placement, placement.params, target.pods[0], target.containers[0].name)
    }
    const reference = target.containers[0]
    const handles: StressorHandle[] = []
    const weights: number[] = []
    for (const pod of target.pods) {
      for (const container of target.containers) {
        // each further container gets the fault's dose against its own limits
        const {params, weight} = container === reference || !placement.doseFor
          ? {params: placement.params, weight: 1} : placement.doseFor(containerAllowance(target.name, container))
        weights.push(weight)
        handles.push(this.launchOne(placement, params, pod, container.name))
      }
    }
    return combineStressors(handles, weights)
  }

  private helperArgs(placement: StressorPlacement, params: StressorParams): string[] {
    const args = ['chaos', 'k8s', 'helper', '--run', this.runId, '--kind', placement.kind, '--params', JSON.stringify(params), '--deadline', String(placement.deadline)]
    // a helper pod enters the target's network namespace itself; an ephemeral container is in it already
    if ((placement.kind === 'flood' || placement.kind === 'sink') && this.settings.mechanism === 'helper-pod') args.push('--netns')
    // a helper pod reaches the target's filesystem through /proc/PID/root; an ephemeral container mounts its volume
    if (placement.kind === 'disk' && this.settings.mechanism === 'helper-pod') args.push('--target-root')
    return args
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
              env: [{name: 'CHAOS_RUN', value: this.runId}, {name: 'CHAOS_IN_POD_NETNS', value: '1'}],
              ...(placement.kind === 'disk' && this.fillMount ? {volumeMounts: [this.fillMount]} : {}),
            }]}},
          }, cluster.k8s.setHeaderOptions('Content-Type', cluster.k8s.PatchStrategy.StrategicMergePatch)))
          return {namespace, pod: podName, container: name, ephemeral: true}
        },
        // the stressor's own container runs `chaos k8s helper-stop`, which ends this run's helper of this kind
        // (a flood and its sink are two ephemeral containers in one PID namespace)
        stopEarly: this.refused.has('get pods/exec') || this.refused.has('create pods/exec') ? undefined : async (where) => {
          const {execInContainer} = await import('./exec.js')
          await execInContainer(cluster, {
            namespace: where.namespace, pod: where.pod, container: where.container,
            command: ['chaos', 'k8s', 'helper-stop', '--run', this.runId, '--kind', placement.kind, '--grace', '5000'],
            // when the helper ends, its container ends and the runtime may cut the exec off (or leave it hanging):
            // either way the stop was delivered, so it is not waited for long
            timeoutMs: 10_000,
          })
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

/**
 * The target container's volume mount that holds a fill's path: an ephemeral container can mount the same volume
 * (it cannot reach the target's writable layer, whose files only the target's own mount namespace shows).
 */
export function volumeMountFor(pod: Pod, container: string, path: string): {name: string, mountPath: string} {
  const mounts = pod.spec?.containers.find((c) => c.name === container)?.volumeMounts ?? []
  const holding = mounts
    .filter((m) => path === m.mountPath || path.startsWith(m.mountPath.endsWith('/') ? m.mountPath : `${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0]
  if (!holding) {
    // the read-only ones cannot take a fill: on a real cluster every container has one (the service account's)
    const list = mounts.filter((m) => !m.readOnly).map((m) => m.mountPath).join(', ')
    throw new PlanError(`disk-fill path ${path}: with mechanism ephemeral-container a fill goes into a writable volume of container ${container} (its writable mounts: ${list || 'none'}); a path in its writable layer needs mechanism helper-pod`)
  }
  if (holding.readOnly) throw new PlanError(`disk-fill path ${path}: volume ${holding.name} is mounted read-only in container ${container}`)
  return {name: holding.name, mountPath: holding.mountPath}
}

function describeContainer(c: ChosenContainer): string {
  return `${c.name} (limits: ${c.cpuLimit !== undefined ? `cpu ${formatCpu(c.cpuLimit)}` : 'no cpu'}, ${c.memoryLimit !== undefined ? `memory ${formatBytes(c.memoryLimit)}` : 'no memory'})`
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
        // the helper's own box, not the dose's: its stressor joins the target container's cgroup before it burns or
        // allocates anything. Stated so that a namespace with a compute ResourceQuota admits the pod (the quota
        // refuses a pod without requests and limits); a CPU limit of one core keeps the helper's start quick
        resources: {requests: {cpu: '100m', memory: '256Mi'}, limits: {cpu: '1', memory: '256Mi'}},
        volumeMounts: [{name: 'host-cgroup', mountPath: '/host/sys/fs/cgroup'}],
      }],
      volumes: [{name: 'host-cgroup', hostPath: {path: '/sys/fs/cgroup', type: 'Directory'}}],
    },
  }
}

export {type RemoteContainer}
