// What the two platforms that run on this machine (process, docker) hold alike: the resources they created, kept
// in the run's ledger before each exists and removed newest first; the run directory and the experiment's tmpfs
// volumes; the measuring instrument's own cgroup box; a workflow's limits at its level; the fill directory.
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'

import type {IsolationSpec, NeighborSpec, TargetSpec} from '../experiment/schema.js'
import {formatBytes} from '../experiment/units.js'
import {blockDeviceOf, existingAncestor} from '../host/blockdev.js'
import {Cgroup, type CgroupLayout, type CgroupLimits, cpuIdleUnsupported, type IoThrottle, ioWeightUnsupported} from '../host/cgroupfs.js'
import {expandCpuset, summedLimits} from '../host/cpus.js'
import {enterNetns, interfaceBytes} from '../host/netns.js'
import {mountTmpfs} from '../host/tmpfs.js'
import {ledgerDir, processStartTime, type LedgerResource, type RunLedger} from '../rollback/ledger.js'
import {spawnStressor, type StressorHandle} from '../stressors/spawn.js'
import type {Capabilities, FloodEndpoint} from './capabilities.js'
import {boxInstrument, describeInstrumentPlace, type InstrumentPlace, instrumentPlace, type PinnedWorkloads, unboxInstrument} from './instrument.js'
import {PlanError, type StressorPlacement, type WorkflowHandle} from './platform.js'
import {PlatformWorkflows} from './workflows.js'

export abstract class LocalPlatform<W extends WorkflowHandle> extends PlatformWorkflows<W> {
  protected layout?: CgroupLayout
  protected ledger?: RunLedger
  /** what this run created, oldest first; teardown removes it newest first */
  protected readonly created: LedgerResource[] = []
  protected readonly volumeDirs = new Map<string, string>()
  protected instrumentBox?: Cgroup
  /** a disk fill writes into this machine's filesystems; a flood leaves the target's box (its link, or loopback) */
  readonly capabilities: Partial<Capabilities> = {localFill: this, flood: this}

  /** where a flood from the target goes: its own link to a sink the experiment made, or the host's loopback */
  abstract flood(): FloodEndpoint

  /** the isolation level a workflow gets (the experiment's, or chaos matrix's override), in the platform's words */
  protected abstract levelOf(spec: TargetSpec | NeighborSpec): string

  /** whether a workflow is a member of the shared box */
  protected inSharedBox(spec: TargetSpec | NeighborSpec): boolean {
    return this.levelOf(spec) === 'shared'
  }

  protected get runDir(): string {
    return join(ledgerDir(), this.runId)
  }

  /** The shared box's limits: as the experiment states them, or the sum of its members' limits (like a pod's). */
  protected sharedLimits(): CgroupLimits {
    if (this.experiment.shared) {
      const {io, ...rest} = this.experiment.shared
      return {...rest, io: this.ioThrottleOf(io)}
    }
    return summedLimits(this.specs.filter((s) => this.inSharedBox(s)).map((s) => s.isolation))
  }

  /**
   * A disk throttle on the whole disk its path is on (by default the disk of the run's own directory, which the
   * workflows' data directories are in). PlanError for a path with no disk under it (tmpfs, overlay).
   */
  protected ioThrottleOf(io: IsolationSpec['io']): IoThrottle | undefined {
    if (!io) return undefined
    const {path, ...rates} = io
    const dir = path ?? existingAncestor(this.runDir)
    try {
      const disk = blockDeviceOf(dir)
      return {device: disk.id, name: disk.name, ...rates}
    } catch (error) {
      throw new PlanError(`isolation.io: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /** Where an io-saturation's file goes: the run's own directory, on this machine's disk (a container's stressor joins its cgroups). */
  ioDirectory(): {dir: string, existing: string} {
    return {dir: this.runDir, existing: existingAncestor(this.runDir)}
  }

  /** The target's own disk throttle, when it is on the disk the dose goes to. */
  ioThrottle(device: string): IoThrottle | undefined {
    const io = this.limitsOf(this.experiment.target)?.io
    return io?.device === device ? io : undefined
  }

  /**
   * Refuses, before anything is created, a limit this machine's kernel could not apply: an ioWeight with no
   * weighing I/O scheduler, a cpuIdle with no cpu.idle.
   */
  protected refuseUnappliableLimits(layout: CgroupLayout): void {
    const checks = [
      {asks: (l: CgroupLimits) => l.ioWeight !== undefined, unsupported: ioWeightUnsupported},
      {asks: (l: CgroupLimits) => l.cpuIdle === true, unsupported: cpuIdleUnsupported},
    ]
    for (const {asks, unsupported} of checks) {
      const asking = this.specs.find((s) => {
        const limits = this.limitsOf(s)
        return limits !== undefined && asks(limits)
      })
      const why = asking && unsupported(layout)
      if (why) throw new PlanError(`${asking.name}: ${why}`, 4)
    }
  }

  /** The limits a workflow's box gets: its own at its own level, the shared box's at level shared, none at none. */
  protected limitsOf(spec: TargetSpec | NeighborSpec): CgroupLimits | undefined {
    const level = this.levelOf(spec)
    if (level === 'none') return undefined
    if (level === 'shared') return this.sharedLimits()
    const {memory, cpus, cpuset, pids, ioWeight, cpuWeight, cpuIdle, io} = spec.isolation
    return {memory, cpus, cpuset, pids, ioWeight, cpuWeight, cpuIdle, io: this.ioThrottleOf(io)}
  }

  protected track(resource: LedgerResource): void {
    this.ledger!.add(resource)
    this.created.push(resource)
  }

  protected untrack(resource: LedgerResource): void {
    this.ledger?.remove(resource)
    const index = this.created.indexOf(resource)
    if (index >= 0) this.created.splice(index, 1)
  }

  /** Where the experiment volume of this name is mounted, once setup has made it. */
  volumeDir(name: string): string {
    return join(this.runDir, 'volumes', name)
  }

  /** The run's directory and a sized tmpfs for each of the experiment's volumes, each in the ledger first. */
  protected async makeRunDirAndVolumes(): Promise<void> {
    mkdirSync(this.runDir, {recursive: true})
    this.track({kind: 'dir', path: this.runDir})
    for (const [name, volume] of Object.entries(this.experiment.volumes ?? {})) {
      const dir = this.volumeDir(name)
      this.track({kind: 'mount', path: dir})
      await mountTmpfs(dir, volume.size, `chaos-${this.runId}-${name}`)
      this.volumeDirs.set(name, dir)
    }
  }

  /** The CPUs the target's boundary pins it to (and whether its box is idle), and those its neighbours are pinned to (instrument.ts places the probe by them). */
  pinnedCpus(): PinnedWorkloads {
    const cpusOf = (spec: TargetSpec | NeighborSpec) => {
      const cpuset = this.limitsOf(spec)?.cpuset
      return cpuset ? expandCpuset(cpuset) : []
    }
    const targetIdle = this.limitsOf(this.experiment.target)?.cpuIdle === true
    return {target: cpusOf(this.experiment.target), ...targetIdle ? {targetIdle} : {}, neighbours: this.experiment.neighbors.flatMap(cpusOf)}
  }

  private instrumentPlace(): InstrumentPlace | undefined {
    return instrumentPlace(this.pinnedCpus())
  }

  /** The plan's line on where the instrument runs. */
  protected instrumentPlanLine(): string {
    return describeInstrumentPlace(this.instrumentPlace())
  }

  /** The toolkit is the measuring instrument: a box of its own (instrument.ts), under the run's cgroup. */
  protected protectInstrument(layout: CgroupLayout): void {
    this.instrumentBox = boxInstrument(layout, this.runId, this.instrumentPlace())
  }

  /** The instrument and its children leave its box before the run's cgroup is removed (instrument.ts). */
  protected releaseInstrument(): void {
    const box = this.instrumentBox
    if (!box || !this.layout) return
    this.instrumentBox = undefined
    unboxInstrument(this.layout, box)
  }

  /**
   * A stressor charged to these cgroup directories, inside the network namespace at netnsPath when given (where a
   * flood may go to the namespace's private addresses), or, outside one, allowed to flood one private address: a
   * container's of the run's own, from the host's end of its bridge. Its process goes in the ledger once it is
   * ready, and out when it ends.
   */
  protected spawnTracked(placement: StressorPlacement, cgroups: string[], netnsPath?: string, floodAddress?: string): StressorHandle {
    const env = netnsPath ? {CHAOS_FLOOD_ALLOW_NETNS: '1'} : floodAddress ? {CHAOS_FLOOD_ALLOW_ADDRESS: floodAddress} : undefined
    const handle = spawnStressor(
      {kind: placement.kind, runId: this.runId, deadline: placement.deadline, parent: process.pid, cgroups, params: placement.params},
      {command: netnsPath ? enterNetns(netnsPath) : undefined, env},
    )
    void handle.ready.then(({pid}) => {
      // a record for cleanup in case the dead-man's switch is ever not enough
      const resource: LedgerResource = {kind: 'process', pid, startTime: processStartTime(pid) ?? 0, title: `chaos-stressor ${placement.kind}`}
      this.track(resource)
      void handle.exited.then(() => this.untrack(resource))
    }, () => undefined)
    return handle
  }

  /** Where a flood goes: the host's loopback, or across the target's own link (its namespace's interface) to the sink. */
  protected floodEndpoint(link: {sinkHost: string, targetHost?: string, ingressShaped?: boolean, netnsPath: string, iface: string} | undefined): FloodEndpoint {
    if (!link) return {sinkHost: '127.0.0.1', targetHost: '127.0.0.1', inNamespace: false}
    return {
      sinkHost: link.sinkHost,
      targetHost: link.targetHost,
      inNamespace: true,
      linkBytes: () => interfaceBytes(link.netnsPath, link.iface),
      egressLimit: this.experiment.target.isolation.network?.rate,
      ingressLimit: link.ingressShaped ? this.experiment.target.isolation.network?.rate : undefined,
    }
  }

  /** Removes what the run created, newest first; returns what could not be removed. */
  protected async removeCreated(remove: (resource: LedgerResource) => Promise<boolean>): Promise<string[]> {
    const left: string[] = []
    for (const resource of [...this.created].reverse()) {
      let gone = false
      try {
        gone = await remove(resource)
      } catch {
        gone = false
      }
      if (gone) this.untrack(resource)
      else left.push(describeLeft(resource))
    }
    return left
  }

  fillDirectory(volume: string | undefined, path: string | undefined): {dir: string, createdByExperiment: boolean} {
    if (volume !== undefined) {
      const dir = this.volumeDirs.get(volume)
      if (!dir) throw new PlanError(`no volume named ${volume}`)
      return {dir, createdByExperiment: true}
    }
    return {dir: path!, createdByExperiment: false}
  }
}

/** A resource teardown could not remove, for the journal. */
function describeLeft(r: LedgerResource): string {
  switch (r.kind) {
    case 'container': return `container ${r.name}`
    case 'network': return `network ${r.name}`
    case 'netns': return `network namespace ${r.name}`
    case 'process': return `process ${r.pid}`
    default: return `${r.kind} ${r.path}`
  }
}

/** A box's limits for the plan: ", memory 256Mi, cpus 0.5", or ", no limits". */
export function describeLimits(limits: CgroupLimits): string {
  const parts = [
    limits.memory !== undefined ? `memory ${formatBytes(limits.memory)}` : '',
    limits.cpus !== undefined ? `cpus ${limits.cpus}` : '',
    limits.cpuset !== undefined ? `cpuset ${limits.cpuset}` : '',
    limits.pids !== undefined ? `pids ${limits.pids}` : '',
    limits.cpuWeight !== undefined ? `cpu weight ${limits.cpuWeight}` : '',
    limits.cpuIdle ? 'cpu idle (runs only on CPU time nothing else wants)' : '',
    limits.io !== undefined ? `disk ${limits.io.device} ${describeIoThrottle(limits.io)}` : '',
  ].filter(Boolean)
  return parts.length ? `, ${parts.join(', ')}` : ', no limits'
}

/** "write 20Mi/s, read 100 ops/s": what a throttle limits, in the file's words. */
export function describeIoThrottle(io: IoThrottle): string {
  return [
    io.writeBps !== undefined ? `write ${formatBytes(io.writeBps)}/s` : '',
    io.readBps !== undefined ? `read ${formatBytes(io.readBps)}/s` : '',
    io.writeIops !== undefined ? `write ${io.writeIops} ops/s` : '',
    io.readIops !== undefined ? `read ${io.readIops} ops/s` : '',
  ].filter(Boolean).join(', ')
}
