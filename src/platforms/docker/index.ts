// The Docker platform: workflows are containers of a local Docker engine. Managed ones are created from an image
// on a bridge network the experiment creates, with the limits their isolation names (level container), under one
// shared cgroup parent with one set of limits (level shared), or with none (level none); attached ones are found
// by name or id and keep what they have. Faults are charged to the target container itself: the toolkit's
// stressor joins the container's cgroups (and, for floods, its network namespace through nsenter). Every
// container and network is labelled chaos.run=RUN and written to the run's ledger before it is created.
import {setTimeout as sleep} from 'node:timers/promises'
import type Docker from 'dockerode'

import {isolationSettingsOf, type NeighborSpec, type TargetSpec} from '../../experiment/schema.js'
import {formatBitRate, formatBytes} from '../../experiment/units.js'
import {Cgroup, CgroupUnavailableError, countIoIn, detectCgroupLayout, type IoThrottle, v1CpuShares, writeCpuIdle, writeV1IoWeight} from '../../host/cgroupfs.js'
import {allowanceOf, expandCpuset, onlineCpus} from '../../host/cpus.js'
import {run} from '../../host/exec.js'
import {limitEgress, vethPeerHere} from '../../host/netns.js'
import {readCgroupSample} from '../../metrics/resources.js'
import type {IoCounters} from '../../metrics/types.js'
import type {LedgerResource as Resource, RunLedger} from '../../rollback/ledger.js'
import {undo} from '../../rollback/undo.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import {answeringUrl} from '../answering.js'
import type {Capabilities, FloodEndpoint} from '../capabilities.js'
import {describeLimits, LocalPlatform} from '../local.js'
import {type Allowance, type Platform, type PlatformFactoryContext, localLevel, PlanError, type StressorPlacement} from '../platform.js'
import {containerCgroup} from './cgroups.js'
import {
  connectEngine, describeError, engineAddress, engineProblem, removeContainer, removeNetwork, RUN_LABEL, statusOf, WORKFLOW_LABEL,
} from './engine.js'
import {type DockerLevel, DockerWorkflow} from './workflow.js'

/** Where `${volumes.NAME}` and `${run.dir}` are inside a managed container. */
const CONTAINER_VOLUMES = '/chaos/volumes'
const CONTAINER_RUN_DIR = '/tmp/chaos-run'
/** The toolkit inside the images scripts/docker-images.sh and the Dockerfile build: `chaos` in run: means this. */
const IMAGE_TOOLKIT = ['node', '/app/bin/run.js']

const ALLOW_LABEL = 'chaos.allowed'
/** how long teardown waits for an engine that went away during the run to answer again */
const ENGINE_RETURN_MS = 20_000

/** A container the experiment creates (image:), as opposed to one it attaches to (container: or selector:). */
function managed(spec: TargetSpec | NeighborSpec): boolean {
  return spec.container === undefined && spec.selector === undefined
}

export class DockerPlatform extends LocalPlatform<DockerWorkflow> implements Platform {
  readonly name = 'docker'
  private readonly levelOverride?: DockerLevel
  private docker?: Docker
  private canMakeBoxes = false
  private events?: NodeJS.ReadableStream
  private engineLost?: string
  private tornDown = false
  private readonly networkName: string
  /**
   * besides a local platform's fill and flood: a fork stressor on this machine placed in the target container's
   * cgroups, whose children its pids accounting counts (as a process the container itself forked would be)
   */
  override readonly capabilities: Partial<Capabilities> = {localFill: this, flood: this, tasks: this, blockIo: this}

  constructor(ctx: PlatformFactoryContext) {
    super(ctx)
    // `chaos matrix` and `--level` speak the process platform's words: its cgroup is a container here
    const level = localLevel(ctx.levelOverride, 'docker')
    this.levelOverride = level === 'cgroup' ? 'container' : level
    this.networkName = `chaos-${this.runId}`
    this.workflows = this.specs.map((spec, i) => new DockerWorkflow(spec, i === 0 ? 'target' : 'neighbor', this.levelOf(spec), managed(spec), this.runId))
    // a managed target's allowance is known before anything exists (chaos matrix fixes a CPU dose with it);
    // an attached one's only once the engine is asked
    if (managed(this.experiment.target)) this.plannedTargetAllowance = () => allowanceOf(this.limitsOf(this.experiment.target))
  }

  plannedTargetAllowance?: () => Allowance

  protected levelOf(spec: TargetSpec | NeighborSpec): DockerLevel {
    const level = this.levelOverride ?? spec.isolation.level
    return level === 'cgroup' ? 'container' : level
  }

  private get sharedPath(): string {
    return `chaos-${this.runId}/shared`
  }

  /** only containers the experiment creates join the shared box (an attached one keeps what it has) */
  protected override inSharedBox(spec: TargetSpec | NeighborSpec): boolean {
    return managed(spec) && super.inSharedBox(spec)
  }

  async plan(): Promise<string[]> {
    const lines: string[] = []
    const address = engineAddress()
    if (!address.local) {
      throw new PlanError(`DOCKER_HOST is ${address.text}: a remote engine is not supported yet. The toolkit charges a fault to the target by joining its cgroup and network namespace on this machine, so the engine must be local (unix socket)`, 4)
    }
    const problem = await engineProblem()
    if (problem) throw new PlanError(`${problem}. Start it (scripts/docker-images.sh --engine starts dockerd), or point DOCKER_HOST at a local socket`, 4)
    this.docker = await connectEngine()
    const info = await this.docker.info() as {ServerVersion?: string, CgroupDriver?: string, CgroupVersion?: string}
    lines.push(`docker engine ${info.ServerVersion ?? '?'} at ${address.text}, cgroup driver ${info.CgroupDriver ?? '?'}, cgroup v${info.CgroupVersion ?? '?'}`)
    lines.push(this.instrumentPlanLine())
    try {
      this.layout = detectCgroupLayout()
    } catch (error) {
      throw new PlanError(`the toolkit cannot see this machine's cgroups, so it cannot charge a fault to a container: ${(error as Error).message}`, 4)
    }
    this.canMakeBoxes = process.getuid?.() === 0
    if (!this.canMakeBoxes) throw new PlanError('the docker platform joins containers\' cgroups and namespaces: run it as root', 4)
    this.refuseUnappliableLimits(this.layout)
    const shared = this.specs.some((s) => managed(s) && this.levelOf(s) === 'shared')
    if (shared && info.CgroupDriver === 'systemd') {
      throw new PlanError('level shared puts containers under one cgroup parent; with the systemd cgroup driver that parent must be a systemd slice, which this version does not make yet. Use the cgroupfs driver, or level container', 4)
    }
    const hostCpus = onlineCpus()
    for (const spec of this.specs) {
      const role = spec === this.experiment.target ? 'target' : 'neighbour'
      const level = this.levelOf(spec)
      if (!managed(spec)) {
        if (isolationSettingsOf(spec.isolation).length > 0 || spec.ports !== undefined || spec.run !== undefined) {
          throw new PlanError(`${spec.name}: limits, ports and run: apply only to containers the experiment creates (image:); an attached container keeps what it has`)
        }
        const ref = spec.container ?? await this.selectContainer(spec.name, spec.selector!)
        const found = await this.inspectContainer(ref)
        if (!found) throw new PlanError(`${spec.name}: no container named ${ref} on this engine (docker ps -a lists them)`)
        if (!found.State?.Running) throw new PlanError(`${spec.name}: container ${ref} exists but is not running (${found.State?.Status ?? 'unknown state'})`)
        this.workflows[this.specs.indexOf(spec)].containerName = ref
        const how = spec.selector === undefined ? '' : ` (the one running container labelled ${spec.selector})`
        lines.push(`${role} ${spec.name}: attached to container ${ref}${how} (${found.Id.slice(0, 12)}), isolation as found`)
        if (role === 'target') lines.push(this.allowedToTarget(spec.name, ref, found.Config?.Labels ?? {}))
        continue
      }
      try {
        await this.docker.getImage(spec.image!).inspect()
      } catch (error) {
        if (statusOf(error) === 404) {
          throw new PlanError(`${spec.name}: image ${spec.image} is not on this engine. The toolkit never pulls; build it first (scripts/docker-images.sh builds chaos-demo:local offline, or docker build / docker load)`, 4)
        }
        throw new PlanError(`${spec.name}: cannot inspect image ${spec.image}: ${describeError(error)}`, 4)
      }
      const taken = await answeringUrl(spec)
      if (taken) throw new PlanError(`${spec.name}: something already answers at ${taken} before the experiment started it (another run, or another service on that port); measuring it would judge the wrong process`, 4)
      if (spec.isolation.cpuset) {
        const unknown = expandCpuset(spec.isolation.cpuset).filter((c) => !hostCpus.includes(c))
        if (unknown.length > 0) throw new PlanError(`${spec.name}: cpuset "${spec.isolation.cpuset}" names CPU ${unknown.join(',')}, but this host has CPUs ${hostCpus.join(',')}`)
      }
      if (spec.isolation.network && spec !== this.experiment.target) {
        throw new PlanError(`${spec.name}: a shaped link (isolation.network) is offered for the target only`)
      }
      const limits = this.limitsOf(spec)
      const box = level === 'none' ? 'no limits' : level === 'shared' ? `shared cgroup parent /${this.sharedPath}` : 'limits of its own'
      lines.push(`${role} ${spec.name}: container chaos-${this.runId}-${spec.name} from ${spec.image}${spec.run ? `: ${this.commandOf(spec).join(' ')}` : ''}  [${level}: ${box}${limits ? describeLimits(limits) : ''}]` +
        `${spec.ports?.length ? `, ports ${spec.ports.map((p) => `127.0.0.1:${portPair(p).host}->${portPair(p).container}`).join(' ')}` : ''}` +
        `${spec.isolation.network ? `, link ${formatBitRate(spec.isolation.network.rate)} each way (tbf on its eth0 and on the host's end of its veth)` : ''}`)
    }
    if (this.experiment.target.isolation.network) {
      const tc = await run('tc', ['-V'])
      if (tc.code !== 0) throw new PlanError('isolation.network needs tc (iproute2) on this machine', 4)
    }
    if (this.specs.some(managed)) lines.push(`network ${this.networkName}: a bridge of the experiment's own, labelled ${RUN_LABEL}=${this.runId}`)
    for (const [name, volume] of Object.entries(this.experiment.volumes ?? {})) lines.push(`volume ${name}: tmpfs ${formatBytes(volume.size)}, mounted at ${CONTAINER_VOLUMES}/${name} in the containers that name it`)
    return lines
  }

  /** The one running container whose labels match; exit 2 for none or several (the plan must name exactly what it touches). */
  private async selectContainer(workflow: string, selector: string): Promise<string> {
    let found: {Names?: string[], Id: string}[]
    try {
      found = await this.docker!.listContainers({filters: {label: selector.split(','), status: ['running']}})
    } catch (error) {
      throw new PlanError(`${workflow}: cannot list containers labelled ${selector}: ${describeError(error)}`, 4)
    }
    const names = found.map((c) => c.Names?.[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)).sort()
    if (names.length === 0) throw new PlanError(`${workflow}: no running container is labelled ${selector} (docker ps --filter label=... lists them)`)
    if (names.length > 1) throw new PlanError(`${workflow}: ${names.length} running containers are labelled ${selector} (${names.join(', ')}); a workflow is one container: narrow the selector`)
    return names[0]
  }

  /** An existing container is a target only when it says so (label chaos.allowed=true) or the experiment overrides. */
  private allowedToTarget(workflow: string, ref: string, labels: Record<string, string>): string {
    if (labels[ALLOW_LABEL] === 'true') return `safety: container ${ref} is labelled ${ALLOW_LABEL}=true`
    if (this.experiment.safety.allowUnlabelled) return `safety OVERRIDDEN (safety.allowUnlabelled): container ${ref} carries no ${ALLOW_LABEL}=true label`
    throw new PlanError(`${workflow}: container ${ref} is not labelled for chaos: start it with --label ${ALLOW_LABEL}=true, or set safety.allowUnlabelled: true if you mean it`)
  }

  private async inspectContainer(nameOrId: string) {
    try {
      return await this.docker!.getContainer(nameOrId).inspect()
    } catch (error) {
      if (statusOf(error) === 404) return undefined
      throw new PlanError(`cannot inspect container ${nameOrId}: ${describeError(error)}`, 4)
    }
  }

  /** The container's command: run: with `chaos` meaning the image's toolkit; the demo workload listens on all of the container's addresses. */
  private commandOf(spec: TargetSpec | NeighborSpec): string[] {
    if (spec.run === undefined) return []
    const argv = spec.run.map((arg) => this.substitute(spec, arg))
    if (argv[0] !== 'chaos') return argv
    const rest = argv.slice(1)
    // inside a container, loopback is the container's own: published ports reach only a server on its eth0
    if (rest[0] === 'workload' && !rest.some((a) => a === '--host' || a.startsWith('--host='))) rest.push('--host', '0.0.0.0')
    return [...IMAGE_TOOLKIT, ...rest]
  }

  private substitute(spec: TargetSpec | NeighborSpec, text: string): string {
    return text.replaceAll('${run.dir}', CONTAINER_RUN_DIR).replace(/\$\{volumes\.([a-z0-9-]+)\}/g, (whole, name: string) => {
      if (!this.experiment.volumes?.[name]) throw new PlanError(`${spec.name}: ${whole} names a volume the experiment does not declare`)
      return `${CONTAINER_VOLUMES}/${name}`
    })
  }

  /** The experiment volumes a workflow's command or environment names: those are mounted into its container. */
  private volumesOf(spec: TargetSpec | NeighborSpec): string[] {
    const text = JSON.stringify([spec.run ?? [], spec.env ?? {}])
    return Object.keys(this.experiment.volumes ?? {}).filter((name) => text.includes(`\${volumes.${name}}`))
  }

  async setup(ledger: RunLedger, log: (line: string) => void): Promise<void> {
    this.ledger = ledger
    const docker = this.docker ?? (this.docker = await connectEngine())
    const layout = this.layout ?? (this.layout = detectCgroupLayout())
    await this.makeRunDirAndVolumes()
    // the run's own cgroup: the instrument's box, and the shared parent of level shared
    const parent = new Cgroup(layout, `chaos-${this.runId}`)
    this.track({kind: 'cgroup', version: layout.version, root: layout.root, path: parent.relativePath})
    parent.create()
    this.protectInstrument(layout)
    const managed = this.workflows.filter((w) => w.managed)
    if (managed.some((w) => w.level === 'shared')) {
      const box = new Cgroup(layout, this.sharedPath)
      box.create()
      try {
        box.applyLimits(this.sharedLimits())
      } catch (error) {
        if (error instanceof CgroupUnavailableError) throw new PlanError(error.message, 4)
        throw error
      }
      for (const w of managed.filter((m) => m.level === 'shared')) {
        w.sharedParent = `/${this.sharedPath}`
        w.sharedBox = box.paths()
      }
    }
    if (managed.length > 0) {
      const network: Resource = {kind: 'network', name: this.networkName}
      this.track(network)
      try {
        await docker.createNetwork({
          Name: this.networkName, Driver: 'bridge', CheckDuplicate: true,
          Labels: {[RUN_LABEL]: this.runId},
          // a host-side bridge name that says whose it is (at most 15 characters)
          Options: {'com.docker.network.bridge.name': `ch${this.runId}`},
        })
      } catch (error) {
        // e.g. the engine's address pools are used up by networks a crashed run left: chaos cleanup removes them
        throw new PlanError(`the engine could not create network ${this.networkName}: ${describeError(error)}`, 4)
      }
    }
    const since = Math.floor(Date.now() / 1000) - 1
    for (const w of managed) await this.createContainer(docker, w)
    for (const w of this.workflows) await this.locate(docker, w)
    for (const w of managed) this.ensureIoWeight(w, log)
    for (const w of managed) this.ensureCpuIdle(w)
    this.watchEvents(docker, since)
    const target = this.workflows[0]
    const network = this.experiment.target.isolation.network
    if (network && target.managed) {
      if (!target.netnsPath) throw new PlanError(`${target.name}: the target has no network namespace of its own to shape`, 4)
      let hostEnd: string
      try {
        // a link's speed holds both ways: the container's eth0 egress, set from the host through its network
        // namespace, and its ingress as the egress of the veth's other end on the host (the engine removes that
        // end, and its qdisc, with the container)
        await limitEgress(target.netnsPath, 'eth0', network.rate)
        hostEnd = await vethPeerHere(target.netnsPath, 'eth0')
        await limitEgress(undefined, hostEnd, network.rate)
      } catch (error) {
        throw new PlanError(`${target.name}: cannot shape the container's link: ${(error as Error).message}`, 4)
      }
      log(`network: ${target.containerName} eth0 <--veth (tbf ${formatBitRate(network.rate)} each way)--> ${hostEnd} on ${this.networkName}`)
    }
    await Promise.all(this.workflows.map((w) => this.waitReady(docker, w)))
    for (const w of this.workflows) log(`${w.role} ${w.name} ready (${w.boundary})`)
  }

  private async createContainer(docker: Docker, w: DockerWorkflow): Promise<void> {
    const spec = w.spec
    const limits = w.level === 'container' ? this.limitsOf(spec) : undefined
    w.limits = this.limitsOf(spec)
    const exposed: Record<string, object> = {}
    const bindings: Record<string, {HostIp: string, HostPort: string}[]> = {}
    for (const entry of spec.ports ?? []) {
      const {host, container} = portPair(entry)
      exposed[`${container}/tcp`] = {}
      // loopback only: nothing the experiment starts is reachable from beyond this machine
      bindings[`${container}/tcp`] = [{HostIp: '127.0.0.1', HostPort: String(host)}]
    }
    const binds = this.volumesOf(spec).map((name) => `${this.volumeDirs.get(name)}:${CONTAINER_VOLUMES}/${name}`)
    const env = Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${this.substitute(spec, v)}`)
    const command = this.commandOf(spec)
    const resource: Resource = {kind: 'container', name: w.containerName}
    this.track(resource)
    try {
      const container = await docker.createContainer({
        name: w.containerName,
        Image: spec.image,
        ...(command.length > 0 ? {Cmd: command} : {}),
        Env: env,
        ...(spec.cwd ? {WorkingDir: spec.cwd} : {}),
        Labels: {[RUN_LABEL]: this.runId, [WORKFLOW_LABEL]: spec.name},
        ExposedPorts: exposed,
        HostConfig: {
          NetworkMode: this.networkName,
          PortBindings: bindings,
          Binds: binds,
          ...(w.level === 'shared' ? {CgroupParent: `/${this.sharedPath}`} : {}),
          ...(limits?.memory !== undefined ? {Memory: limits.memory, MemorySwap: limits.memory} : {}),
          ...(limits?.cpus !== undefined ? {NanoCpus: Math.round(limits.cpus * 1e9)} : {}),
          ...(limits?.cpuset !== undefined ? {CpusetCpus: limits.cpuset} : {}),
          ...(limits?.pids !== undefined ? {PidsLimit: limits.pids} : {}),
          ...(limits?.ioWeight !== undefined ? {BlkioWeight: Math.min(1000, Math.max(10, limits.ioWeight))} : {}),
          ...(limits?.cpuWeight !== undefined ? {CpuShares: v1CpuShares(limits.cpuWeight)} : {}),
          ...(limits?.io !== undefined ? engineIoThrottle(limits.io) : {}),
        },
      })
      w.id = container.id
      await container.start()
    } catch (error) {
      throw new PlanError(`${spec.name}: the engine could not start container ${w.containerName} from ${spec.image}: ${describeError(error)}`, 4)
    }
  }

  /**
   * The container's I/O weight as asked, whatever the engine did with BlkioWeight: dockerd looks for CFQ's
   * blkio.weight at the blkio root and, on a kernel without CFQ (5.0 on: this machine has only bfq's
   * blkio.bfq.weight), discards the weight with a warning the API caller never sees. Then it is written into the
   * container's own blkio directory from the host, as the process platform does, and the run says so. (cgroup v2:
   * runc writes io.weight or io.bfq.weight itself.)
   */
  private ensureIoWeight(w: DockerWorkflow, log: (line: string) => void): void {
    const weight = w.level === 'container' ? w.limits?.ioWeight : undefined
    const paths = w.cgroup?.paths
    if (weight === undefined || paths?.version !== 1 || paths.blkio === undefined) return
    try {
      if (!writeV1IoWeight(paths.blkio, weight)) log(`note: ${w.name}: the engine did not set BlkioWeight ${weight} (dockerd looks for blkio.weight, which this kernel lacks); written to the container's blkio directory from the host`)
    } catch (error) {
      throw new PlanError(`${w.name}: ${(error as Error).message}`, 4)
    }
  }

  /**
   * An idle container (isolation.cpuIdle): the engine has no such setting, so cpu.idle is written into the
   * container's own cpu directory from the host, as its I/O weight is, before the baseline begins. The container's
   * start-up ran at the default weight.
   */
  private ensureCpuIdle(w: DockerWorkflow): void {
    if (w.level !== 'container' || !w.limits?.cpuIdle) return
    const paths = w.cgroup?.paths
    const dir = paths === undefined ? undefined : paths.version === 2 ? paths.dir : paths.cpu
    if (dir === undefined) throw new PlanError(`${w.name}: cpuIdle: the container's cpu cgroup was not found`, 4)
    try {
      writeCpuIdle(dir, true)
    } catch (error) {
      throw new PlanError(`${w.name}: ${(error as Error).message}`, 4)
    }
  }

  /** Finds a container's main process, cgroups, network namespace and addresses. */
  private async locate(docker: Docker, w: DockerWorkflow): Promise<void> {
    const info = await docker.getContainer(w.id ?? w.containerName).inspect()
    w.id = info.Id
    w.pid = info.State?.Pid || undefined
    if (w.pid === undefined) throw new PlanError(`${w.name}: container ${w.containerName} is not running (${info.State?.Status}): ${await logsTail(docker, info.Id)}`, 4)
    w.cgroup = containerCgroup(w.pid, this.layout!)
    if (!w.cgroup) throw new PlanError(`${w.name}: cannot find the cgroup of container ${w.containerName} (pid ${w.pid}) in /proc/${w.pid}/cgroup`, 4)
    if (!w.managed) {
      const hc = info.HostConfig ?? {}
      const cpus = hc.NanoCpus ? hc.NanoCpus / 1e9 : hc.CpuQuota && hc.CpuQuota > 0 ? hc.CpuQuota / (hc.CpuPeriod || 100_000) : undefined
      w.limits = {memory: hc.Memory || undefined, cpus, cpuset: hc.CpusetCpus || undefined, pids: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined}
    }
    const mode = info.HostConfig?.NetworkMode ?? ''
    if (mode !== 'host') {
      w.netnsPath = `/proc/${w.pid}/ns/net`
      const networks = Object.entries(info.NetworkSettings?.Networks ?? {})
      const mine = networks.find(([name]) => name === this.networkName) ?? networks[0]
      w.gateway = mine?.[1].Gateway || undefined
      w.address = mine?.[1].IPAddress || undefined
    }
  }

  /** Exits and OOM kills, from the engine's event stream (a container that dies is no longer there to ask). */
  private watchEvents(docker: Docker, since: number): void {
    const ids = this.workflows.map((w) => w.id!).filter(Boolean)
    void docker.getEvents({since, filters: JSON.stringify({type: ['container'], event: ['die', 'oom'], container: ids})}).then((stream) => {
      this.events = stream
      // torn down before the engine answered: an open stream would keep the toolkit alive
      if (this.tornDown) (stream as NodeJS.ReadableStream & {destroy?: () => void}).destroy?.()
      let pending = ''
      stream.on('data', (chunk: Buffer) => {
        pending += chunk.toString()
        let newline: number
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline)
          pending = pending.slice(newline + 1)
          try {
            const event = JSON.parse(line) as {Action?: string, id?: string, timeNano?: number, Actor?: {ID?: string, Attributes?: Record<string, string>}}
            const id = event.Actor?.ID ?? event.id
            // the engine's time of the event: the news can arrive late on a busy host, the exit happened then
            const at = typeof event.timeNano === 'number' && event.timeNano > 0 ? event.timeNano / 1e6 : undefined
            this.workflows.find((w) => w.id === id)?.onEvent(event.Action ?? '', event.Actor?.Attributes?.exitCode, at)
          } catch { /* a partial line */ }
        }
      })
      // The stream ends only when we end it, or when the engine stops: then nothing the run measures or removes
      // through the engine can be trusted until it is back.
      const ended = () => {
        if (!this.tornDown) this.engineLost ??= 'the Docker engine went away during the run (its event stream ended)'
      }
      stream.on('error', ended)
      stream.on('end', ended)
      stream.on('close', ended)
    }, () => undefined)
  }

  lost(): string | undefined {
    return this.engineLost
  }

  /** Waits until the workflow answers (its ready URL, else its probe or metrics URL), or fails with its own words. */
  private async waitReady(docker: Docker, w: DockerWorkflow): Promise<void> {
    if (!w.managed) return
    const neighbor = w.spec as NeighborSpec
    const url = w.spec.ready?.http ?? neighbor.probe?.http.url ?? neighbor.metrics
    const timeout = w.spec.ready?.timeout ?? 15_000
    const deadline = Date.now() + timeout
    while (Date.now() < deadline) {
      const state = (await docker.getContainer(w.id!).inspect()).State
      if (!state?.Running) throw new PlanError(`${w.name}: container ${w.containerName} ended before it was ready (${state?.Status}, exit code ${state?.ExitCode}${state?.OOMKilled ? ', OOM-killed' : ''}): ${await logsTail(docker, w.id!)}`, 4)
      if (url === undefined) return
      try {
        const response = await fetch(url, {signal: AbortSignal.timeout(1000)})
        await response.arrayBuffer()
        if (response.status < 500) return
      } catch { /* not listening yet (the port proxy resets until it is) */ }
      await sleep(150)
    }
    throw new PlanError(`${w.name} did not answer at ${url} within ${timeout / 1000}s (is the port published with ports:, and does the server listen on 0.0.0.0 inside?): ${await logsTail(docker, w.id!)}`, 4)
  }

  /** The pids limit the target's forks meet: its container's, the shared parent's, or, attached, as found. */
  taskLimit(): number | undefined {
    const target = this.workflows[0]
    return target.managed ? this.limitsOf(this.experiment.target)?.pids : target.limits?.pids
  }

  /**
   * Toward the target too: the receiver listens on the container's own address inside it, and the source sends from
   * the host's end of the bridge, so the flood crosses the container's veth inbound (shaped there, when asked).
   */
  readonly floodsTowardTarget = true

  flood(): FloodEndpoint {
    const target = this.workflows[0]
    // the sink listens on the host's end of the experiment's own bridge: the flood crosses the target's veth
    return this.floodEndpoint(target.netnsPath && target.gateway
      ? {sinkHost: target.gateway, targetHost: target.address, ingressShaped: target.managed, netnsPath: target.netnsPath, iface: 'eth0'}
      : undefined)
  }

  targetIo(device: string): (() => IoCounters | undefined) | undefined {
    const target = this.workflows[0]
    const cgroup = target?.cgroup
    if (!cgroup) return undefined
    // v1 counts only with a rule, which is not ours to add to a container the run did not make (it would outlive
    // the run): an attached container's dose is then the stressor's own count
    if (!target.managed && cgroup.paths.version === 1) return undefined
    countIoIn(cgroup.paths, device)
    return () => readCgroupSample(cgroup.paths).io?.[device]
  }

  launchStressor(placement: StressorPlacement): StressorHandle {
    const target = this.workflows[0]
    const inTarget = placement.where === 'target'
    const rootDirs = this.layout ? Cgroup.rootDirs(this.layout) : []
    // the network's ends: a flood from the target, or a receiver in it, join its namespace; the sink (or a source
    // toward the target) stays on the host's end of the bridge. Both ends are charged to the target's container:
    // the far end is part of the fault too
    const networkEnd = placement.kind === 'flood' || placement.kind === 'sink'
    return this.spawnTracked(placement, target.cgroup?.dirs ?? rootDirs, inTarget && networkEnd ? target.netnsPath : undefined,
      !inTarget && placement.kind === 'flood' && target.netnsPath ? target.address : undefined)
  }

  async teardown(): Promise<string[]> {
    this.tornDown = true
    for (const w of this.workflows) w.stopping = true
    const events = this.events as (NodeJS.ReadableStream & {destroy?: () => void}) | undefined
    events?.destroy?.()
    try {
      this.releaseInstrument()
    } catch { /* the box goes with the run's cgroup below */ }
    // an engine that went away (a restart) gets a while to come back before its containers are given up on
    if (this.engineLost && this.created.some((r) => r.kind === 'container' || r.kind === 'network')) {
      for (let waited = 0; waited < ENGINE_RETURN_MS && (await engineProblem(1000)); waited += 500) await sleep(500)
    }
    return this.removeCreated(async (resource) => {
      switch (resource.kind) {
        // through the engine this run already holds; the rest of what it made is undone as rollback undoes it
        case 'container': return removeContainer(this.docker!, resource.name)
        case 'network': return removeNetwork(this.docker!, resource.name)
        default: return undo(resource)
      }
    })
  }
}

/** A disk throttle as the engine takes it: the device node's path (the engine reads major:minor from it), per direction. */
function engineIoThrottle(io: IoThrottle): Record<string, {Path: string, Rate: number}[]> {
  if (io.name === undefined) throw new PlanError(`isolation.io: the engine needs the disk's device node, and disk ${io.device} has no name here`, 4)
  const path = `/dev/${io.name}`
  const rule = (rate: number | undefined) => (rate === undefined ? undefined : [{Path: path, Rate: Math.round(rate)}])
  const set = {
    BlkioDeviceReadBps: rule(io.readBps),
    BlkioDeviceWriteBps: rule(io.writeBps),
    BlkioDeviceReadIOps: rule(io.readIops),
    BlkioDeviceWriteIOps: rule(io.writeIops),
  }
  return Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)) as Record<string, {Path: string, Rate: number}[]>
}

function portPair(entry: number | string): {host: number, container: number} {
  if (typeof entry === 'number') return {host: entry, container: entry}
  const [host, container] = entry.split(':').map(Number)
  return {host, container}
}

/** The last lines a container wrote, for an error message. */
async function logsTail(docker: Docker, id: string): Promise<string> {
  try {
    const raw = await docker.getContainer(id).logs({stdout: true, stderr: true, tail: 5}) as unknown as Buffer
    // the multiplexed stream: 8-byte frame headers before each chunk
    const parts: string[] = []
    for (let at = 0; at + 8 <= raw.length;) {
      const size = raw.readUInt32BE(at + 4)
      parts.push(raw.subarray(at + 8, at + 8 + size).toString())
      at += 8 + size
    }
    return parts.join('').trim().split('\n').slice(-3).join(' | ') || '(no output)'
  } catch {
    return '(no logs)'
  }
}

