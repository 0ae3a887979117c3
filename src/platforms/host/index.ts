// The host platform: workflows are processes on Linux hosts reached over SSH. On each host the toolkit's agent runs
// the process platform there (boxes, workflows, stressors charged to the target's box, cgroup accounting); the
// toolkit probes the neighbours' service from where it runs. Target and neighbours on one host meet the process
// platform's levels, applied there; on different hosts the boundary is the hosts themselves (separate machines,
// or VMs).
import type {Experiment, NeighborSpec, SshHostSpec, TargetSpec} from '../../experiment/schema.js'
import type {IoDisk} from '../../host/blockdev.js'
import {Cgroup, cgroupsWritable, type CgroupLayout, detectCgroupLayout, type IoThrottle, MAX_CPU_WEIGHT} from '../../host/cgroupfs.js'
import type {IoCounters} from '../../metrics/types.js'
import {kernelBootId} from '../../host/kernel.js'
import type {HostRunResource, LedgerResource, RunLedger} from '../../rollback/ledger.js'
import {undo} from '../../rollback/undo.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import {formatBitRate, formatBytes} from '../../experiment/units.js'
import type {Capabilities, FloodEndpoint, RemoteFillTarget} from '../capabilities.js'
import {boxInstrument, describeInstrumentPlace, type InstrumentPlace, instrumentPlace, type PinnedWorkloads, unboxInstrument} from '../instrument.js'
import {type Allowance, localLevel, type Platform, type PlatformFactoryContext, PlanError, type StressorPlacement} from '../platform.js'
import {PlatformWorkflows} from '../workflows.js'
import {AgentConnection} from './agent-client.js'
import type {AgentMessage, PlannedIo} from './protocol.js'
import {agentStressor} from './remote-stressor.js'
import {SEPARATE_HOSTS} from './levels.js'
import {describeHost, type SshTarget} from './ssh.js'
import {HostWorkflow} from './workflow.js'

/** how often each agent pushes its readings of the workflows' accounting */
const READINGS_MS = 200
/** an agent that has pushed no readings for this long cannot vouch for its host's accounting any more */
const SILENT_MS = 5000
/** a workflow's setup on a host may wait for its readiness (ready.timeout, up to 5 minutes) */
const SETUP_TIMEOUT_MS = 330_000
const PLAN_TIMEOUT_MS = 60_000
const TEARDOWN_TIMEOUT_MS = 60_000

/** The workflows on one host, and the agent that runs them there. */
interface HostGroup {
  host: SshTarget
  specs: (TargetSpec | NeighborSpec)[]
  hasTarget: boolean
  /** the run's id on that host: distinct from this machine's and every other host's, so two "hosts" that share a kernel (the tests') never share a cgroup or a ledger */
  runId: string
  agent?: AgentConnection
  /** when its agent's last readings arrived (this machine's clock) */
  lastReadingsAt?: number
  /** this machine's ledger entry naming the run there, removed once its agent confirms the teardown */
  ledgerEntry?: HostRunResource
  /** the host runs this machine's kernel (a loopback sshd, a namespace of this machine's): its workflows share this machine's CPUs with the toolkit's probe */
  sharesKernel?: boolean
  /** the CPUs its workflows are pinned to there, as its agent planned them */
  pinned?: PinnedWorkloads
}

/** The host a workflow runs on: the one it names, else the experiment's only host. */
export function hostOf(spec: TargetSpec | NeighborSpec, experiment: Experiment): string {
  return spec.host ?? Object.keys(experiment.hosts ?? {})[0]
}

/** The host the target moves to at level separate-hosts: the experiment's first host that no workflow names. */
function spareHost(experiment: Experiment): string {
  const used = new Set([experiment.target, ...experiment.neighbors].map((w) => hostOf(w, experiment)))
  const spare = Object.keys(experiment.hosts ?? {}).find((name) => !used.has(name))
  if (spare === undefined) {
    throw new PlanError(`level ${SEPARATE_HOSTS} moves the target alone to a host no workflow names, and every host in hosts: (${Object.keys(experiment.hosts ?? {}).join(', ')}) has one; add a spare host`)
  }
  return spare
}

/** The experiment at level separate-hosts: the target alone on the spare host, with no box there (the host is its boundary); the neighbours keep theirs. */
function alone(experiment: Experiment): Experiment {
  const target = experiment.target
  return {...experiment, target: {...target, host: spareHost(experiment), isolation: {...target.isolation, level: 'none'}}}
}

export class HostPlatform extends PlatformWorkflows<HostWorkflow> implements Platform {
  readonly name = 'host'
  /** a fill, a flood and disk I/O happen on the target's host, which this machine cannot see: planned from the agent's figures */
  readonly capabilities: Partial<Capabilities> = {tasks: this, flood: this, remoteFill: this, blockIo: this}
  private readonly groups: HostGroup[] = []
  private readonly levelOverride?: string
  private plannedAllowance?: Allowance
  private plannedTaskLimit?: number
  private volumeDirs: Record<string, string> = {}
  private floodEndpoint?: FloodEndpoint
  private ledger?: RunLedger
  /** the toolkit's own box here, when a host shares this machine's kernel (planned), and once made */
  private instrument?: {layout: CgroupLayout, place?: InstrumentPlace, box?: Cgroup}
  private runCgroup?: Extract<LedgerResource, {kind: 'cgroup'}>
  /** an io-saturation's disk on the target's host, as its agent found it there; and whether the target's box counts its I/O */
  private plannedIo?: PlannedIo
  private ioCounted = false

  constructor(ctx: PlatformFactoryContext) {
    super(ctx.levelOverride === SEPARATE_HOSTS ? {...ctx, experiment: alone(ctx.experiment)} : ctx)
    if (ctx.levelOverride !== SEPARATE_HOSTS) {
      const level = localLevel(ctx.levelOverride, 'process', SEPARATE_HOSTS)
      this.levelOverride = level === 'container' ? 'cgroup' : level
    }
    const hosts = this.experiment.hosts ?? {}
    for (const spec of this.specs) {
      const name = hostOf(spec, this.experiment)
      let group = this.groups.find((g) => g.host.name === name)
      if (!group) {
        const hostSpec: SshHostSpec | undefined = hosts[name]
        if (!hostSpec) throw new PlanError(`${spec.name}: no host is named ${name}`)
        group = {host: {name, spec: hostSpec}, specs: [], hasTarget: false, runId: hostRunId(this.runId, this.groups.length)}
        this.groups.push(group)
      }
      group.specs.push(spec)
      if (spec === this.experiment.target) group.hasTarget = true
    }
  }

  /** The experiment as the process platform on one host sees it: its workflows only, the target's host keeping the target first. */
  private experimentOn(group: HostGroup): Experiment {
    const [first, ...rest] = group.specs
    return {
      ...this.experiment,
      platform: 'process',
      hosts: undefined,
      target: first as TargetSpec,
      neighbors: rest as NeighborSpec[],
      // the target's volumes live on its host; a host of neighbours only gets none
      volumes: group.hasTarget ? this.experiment.volumes : undefined,
      // on a host of neighbours only, the first neighbour stands first, but no fault is ever charged to it: the
      // checks that keep a fault off the machine itself are the target's host's business
      safety: group.hasTarget ? this.experiment.safety : {...this.experiment.safety, allowSystem: true},
    }
  }

  private start(group: HostGroup, agent: AgentConnection): void {
    agent.send({op: 'start', experiment: this.experimentOn(group), runId: group.runId, sampleMs: READINGS_MS, targetHere: group.hasTarget, ...(this.levelOverride ? {levelOverride: this.levelOverride} : {})})
  }

  private async planOn(group: HostGroup, agent: AgentConnection): Promise<Extract<AgentMessage, {type: 'planned'}>> {
    this.start(group, agent)
    agent.send({op: 'plan'})
    const answer = await agent.waitFor((m): m is Extract<AgentMessage, {type: 'planned' | 'refused'}> => m.type === 'planned' || m.type === 'refused', PLAN_TIMEOUT_MS, 'its plan')
    if (answer.type === 'refused') throw new PlanError(`${describeHost(group.host)}: ${answer.message}`, answer.exitCode)
    return answer
  }

  /** Logs in to every host, checks the toolkit and its privileges there and has the agent plan its part; creates nothing. */
  async plan(): Promise<string[]> {
    const lines: string[] = []
    for (const group of this.groups) {
      const agent = await AgentConnection.open(group.host)
      try {
        const planned = await this.planOn(group, agent)
        if (group.hasTarget) {
          this.plannedAllowance = planned.allowance
          this.plannedTaskLimit = planned.taskLimit
          this.volumeDirs = planned.volumeDirs
          this.plannedIo = planned.io
        }
        group.sharesKernel = planned.kernel !== undefined && planned.kernel === kernelBootId()
        group.pinned = planned.pinned
        lines.push(`${describeHost(group.host)}: ${planned.cpus} CPUs, clock ${formatOffset(agent.offsetMs)} from this machine's; run ${group.runId} there${group.sharesKernel ? '; it runs this machine\'s kernel' : ''}`)
        lines.push(...planned.lines.map((line) => `  ${line}`))
      } finally {
        agent.close()
        await agent.closed()
      }
    }
    const targetHost = this.groups.find((g) => g.hasTarget)!.host.name
    const elsewhere = this.groups.filter((g) => !g.hasTarget)
    for (const group of elsewhere) {
      lines.push(`${group.specs.map((s) => s.name).join(', ')} on host ${group.host.name}, the target on host ${targetHost}: separate hosts, the boundary is the hosts themselves`)
    }
    const instrumentLine = this.planInstrument()
    if (instrumentLine) lines.push(instrumentLine)
    return lines
  }

  /**
   * The toolkit's probe runs here. Where a host runs this machine's kernel, the workflows there share this
   * machine's CPUs with the probe, and a probe woken on the target's core waits behind the fault: that wait would be
   * charged to the neighbours, as on the process platform, which boxes its probe for this reason (instrument.ts).
   * Measured on the main job's host pair on loopback: the API's p95 read +22% per pair with the CLI unboxed, +5%
   * boxed on the other core (docs/host.md). Against hosts of their own the probe's machine is not theirs, and it is
   * left alone.
   */
  private planInstrument(): string | undefined {
    const sharing = this.groups.filter((g) => g.sharesKernel)
    if (sharing.length === 0) return undefined
    const hosts = sharing.map((g) => g.host.name).join(', ')
    const cannot = (why: string) => `note: host ${hosts} runs this machine's kernel, and ${why}: the toolkit cannot keep its own probe off the fault's CPUs, and the probe's waits behind the fault may be charged to the neighbours`
    let layout: CgroupLayout
    try {
      layout = detectCgroupLayout()
    } catch (error) {
      return cannot(`this machine's cgroups cannot be used (${(error as Error).message})`)
    }
    if (!cgroupsWritable(layout)) return cannot('cgroups are not writable by this user here')
    // a workflow that is the target on its own host is a neighbour of this run's target when that is elsewhere
    const pinned = (g: HostGroup): PinnedWorkloads => g.hasTarget ? g.pinned ?? {target: [], neighbours: []} : {target: [], neighbours: [...g.pinned?.target ?? [], ...g.pinned?.neighbours ?? []]}
    const place = instrumentPlace({
      target: sharing.flatMap((g) => pinned(g).target),
      ...sharing.some((g) => pinned(g).targetIdle) ? {targetIdle: true} : {},
      neighbours: sharing.flatMap((g) => pinned(g).neighbours),
    })
    this.instrument = {layout, place}
    return `this machine (host ${hosts} runs its kernel): ${describeInstrumentPlace(place)}, chaos-${this.runId}/toolkit`
  }

  /** The toolkit's own box here, in the ledger before it exists (a run killed meanwhile leaves it for chaos cleanup). */
  private protectInstrument(ledger: RunLedger): void {
    const instrument = this.instrument
    if (!instrument) return
    const parent = new Cgroup(instrument.layout, `chaos-${this.runId}`)
    this.runCgroup = {kind: 'cgroup', version: instrument.layout.version, root: instrument.layout.root, path: parent.relativePath}
    ledger.add(this.runCgroup)
    parent.create()
    // A weight counts only against its siblings (cgroupfs.ts, runBoxWeight). On the process platform the toolkit's
    // box sits in the run's own cgroup beside the target's, 1000 against the target's 100, and a probe woken on a
    // hog's core runs at once. Here the host's run is a sibling of this one at the root, weighing its boxes' sum
    // (10000 where the API is given the largest weight): left at the default, this cgroup weighed a hundredth of
    // the hog's on the hog's core, and the probe woken there waited behind it (host cpu-hog on loopback: the probe's
    // run-queue wait 116 against 47 ms per second in fault-on blocks, docs/host.md). The largest weight puts the
    // instrument at least level with any run that shares its kernel.
    parent.applyLimits({cpuWeight: MAX_CPU_WEIGHT})
    instrument.box = boxInstrument(instrument.layout, this.runId, instrument.place)
  }

  /** The toolkit and its probe leave their box, and the run's cgroup here goes; what could not be removed is said. */
  private async releaseInstrument(): Promise<string[]> {
    const instrument = this.instrument
    const resource = this.runCgroup
    if (!instrument || !resource) return []
    if (instrument.box) unboxInstrument(instrument.layout, instrument.box)
    instrument.box = undefined
    if (await undo(resource)) {
      this.ledger?.remove(resource)
      this.runCgroup = undefined
      return []
    }
    return [`cgroup ${resource.path} here`]
  }

  /** the target's allowance from its host's CPUs and its box's limits there: known once plan() has asked its agent */
  plannedTargetAllowance(): Allowance | undefined {
    return this.plannedAllowance
  }

  async setup(ledger: RunLedger, log: (line: string) => void): Promise<void> {
    this.ledger = ledger
    this.protectInstrument(ledger)
    const made = new Map<string, {boundary: string, allowance: Allowance, agent: AgentConnection}>()
    for (const group of this.groups) {
      // before anything starts there: a run killed here still names the hosts to check (chaos cleanup does, over SSH)
      group.ledgerEntry = {kind: 'host-run', host: group.host.name, runId: group.runId, ssh: group.host.spec}
      ledger.add(group.ledgerEntry)
      const agent = await AgentConnection.open(group.host)
      group.agent = agent
      const forward = (m: AgentMessage) => {
        if (m.type === 'log') log(`${group.host.name}: ${m.line}`)
        else if (m.type === 'readings') group.lastReadingsAt = Date.now()
      }
      agent.on('message', forward)
      await this.planOn(group, agent)
      agent.send({op: 'setup'})
      const answer = await agent.waitFor((m): m is Extract<AgentMessage, {type: 'set-up' | 'refused'}> => m.type === 'set-up' || m.type === 'refused', SETUP_TIMEOUT_MS, 'its workflows to be set up')
      if (answer.type === 'refused') throw new PlanError(`${describeHost(group.host)}: ${answer.message}`, answer.exitCode)
      if (answer.flood) this.floodEndpoint = answer.flood
      if (group.hasTarget) this.ioCounted = answer.ioCounted === true
      for (const w of answer.workflows) made.set(w.name, {boundary: `${w.boundary} on host ${group.host.name}`, allowance: w.allowance, agent})
    }
    this.workflows = this.specs.map((spec, index) => {
      const m = made.get(spec.name)
      if (!m) throw new Error(`the agent did not set up ${spec.name}`)
      return new HostWorkflow(spec, index === 0 ? 'target' : 'neighbor', m.boundary, m.allowance, m.agent)
    })
  }

  taskLimit(): number | undefined {
    return this.plannedTaskLimit
  }

  private get targetGroup(): HostGroup {
    return this.groups.find((g) => g.hasTarget)!
  }

  private get targetHost(): string {
    return this.targetGroup.host.name
  }

  /** A fill on the target's host: an experiment volume the agent mounts there, or an allowed path there (the stressor keeps the floor). */
  remoteFill(fill: {volume?: string, path?: string}): RemoteFillTarget {
    if (fill.volume !== undefined) {
      const size = this.experiment.volumes?.[fill.volume]?.size
      const dir = this.volumeDirs[fill.volume]
      if (size === undefined || dir === undefined) throw new PlanError(`no volume named ${fill.volume}`)
      return {where: `volume ${fill.volume} (tmpfs ${formatBytes(size)}) on host ${this.targetHost}`, percentOf: {bytes: size, what: `volume ${fill.volume}`}, volume: {dir, bytes: size}}
    }
    return {where: `${fill.path} on host ${this.targetHost}`}
  }

  /** An io-saturation's working file and disk on the target's host, or the refusal its agent gave, naming the host. */
  remoteIoDisk(): IoDisk {
    const io = this.plannedIo
    if (!io) throw new Error('the target\'s host planned no disk I/O')
    if ('refused' in io) throw new PlanError(`${describeHost(this.targetGroup.host)}: ${io.refused}`, io.exitCode)
    return io.disk
  }

  /** The target's own throttle on that disk there, when the fault writes to it. */
  ioThrottle(device: string): IoThrottle | undefined {
    const io = this.plannedIo
    return io && 'disk' in io && io.disk.device.id === device ? io.throttle : undefined
  }

  /** The target box's counters on the disk, as its agent last pushed them; undefined where it has no box of its own to count in. */
  targetIo(device: string): (() => IoCounters | undefined) | undefined {
    if (!this.ioCounted) return undefined
    const target = this.workflows[0]
    return () => target.sample().io?.[device]
  }

  /** The agent pushes its readings every READINGS_MS: the next one after now holds every write the stopped stressor made. */
  async ioCountersSettled(): Promise<void> {
    const agent = this.targetGroup.agent
    if (!agent) return
    const since = Date.now()
    await agent.waitFor((m): m is Extract<AgentMessage, {type: 'readings'}> => m.type === 'readings' && m.t - agent.offsetMs > since, 4 * READINGS_MS + 1000, 'its readings after the stressor stopped').catch(() => undefined)
  }

  /**
   * Toward the target too: the agent's own platform places the source in the sink's place and the receiver in the
   * target, both on the target's host, as the process platform does there.
   */
  readonly floodsTowardTarget = true

  /** Where a flood from the target goes: the sink the agent starts on the target's host (its loopback, or across the target's own link). */
  flood(): FloodEndpoint {
    if (!this.floodEndpoint) throw new Error('flood before setup')
    return this.floodEndpoint
  }

  floodRoute(): string {
    const network = this.experiment.target.isolation.network
    return network ? `through the target's own link on host ${this.targetHost} (tbf ${formatBitRate(network.rate)} each way)` : `on host ${this.targetHost}'s loopback`
  }

  launchStressor(placement: StressorPlacement): StressorHandle {
    const group = this.groups.find((g) => g.hasTarget)!
    if (!group.agent) throw new Error('launchStressor before setup')
    return agentStressor(group.agent, placement, {kind: placement.kind, runId: group.runId, deadline: placement.deadline, parent: 0, cgroups: [], params: placement.params})
  }

  /** A host whose agent's channel ended, or whose agent has gone silent (a hung host, a stalled connection). */
  lost(): string | undefined {
    for (const group of this.groups) {
      if (group.agent?.closedBecause !== undefined) return group.agent.closedBecause
      const silent = group.lastReadingsAt === undefined ? 0 : Date.now() - group.lastReadingsAt
      if (silent > SILENT_MS) return `${describeHost(group.host)}: no readings from its agent for ${(silent / 1000).toFixed(1)}s`
    }
    return undefined
  }

  /** Each agent removes what it made on its host; what it could not, or a host that cannot be asked any more, is said. */
  async teardown(): Promise<string[]> {
    const left: string[] = []
    await Promise.all(this.groups.map(async (group) => {
      const agent = group.agent
      if (!agent) {
        // never connected: nothing was started there, and there is nothing for chaos cleanup to ask it
        if (group.ledgerEntry) this.ledger?.remove(group.ledgerEntry)
        return
      }
      try {
        if (agent.closedBecause !== undefined) {
          left.push(`${describeHost(group.host)}: not confirmed (${agent.closedBecause}); its agent removes what it made when its channel ends; \`chaos cleanup\` here asks the host for anything left`)
          return
        }
        agent.send({op: 'teardown'})
        const done = await agent.waitFor((m): m is Extract<AgentMessage, {type: 'torn-down'}> => m.type === 'torn-down', TEARDOWN_TIMEOUT_MS, 'its teardown')
        left.push(...done.leftovers.map((l) => `${l} on host ${group.host.name}`))
        // confirmed by the agent: nothing of the run is left there to name
        if (done.leftovers.length === 0 && group.ledgerEntry) this.ledger?.remove(group.ledgerEntry)
      } catch (error) {
        left.push(`${describeHost(group.host)}: not confirmed (${(error as Error).message})`)
      } finally {
        agent.close()
        await agent.closed()
      }
    }))
    try {
      left.push(...await this.releaseInstrument())
    } catch (error) {
      left.push(`the toolkit's own cgroup here: ${(error as Error).message}`)
    }
    return left
  }
}

/** The run's id on the i-th host: 8 hex digits like every run id, never this machine's own. */
export function hostRunId(runId: string, index: number): string {
  return ((parseInt(runId, 16) + 1 + index) >>> 0).toString(16).padStart(8, '0')
}

function formatOffset(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${Math.abs(Math.round(ms))} ms`
}
