// The process platform: workflows are local processes, their isolation is a cgroup box (or none), the target's
// network is a namespace of its own, and experiment volumes are sized tmpfs mounts.

import {existsSync} from 'node:fs'

import {type IsolationSpec, isolationSettingsOf, type NeighborSpec, type TargetSpec} from '../../experiment/schema.js'
import {formatBitRate, formatBytes} from '../../experiment/units.js'
import {Cgroup, CgroupUnavailableError, cgroupOfProcess, cgroupsWritable, DEFAULT_CPU_WEIGHT, detectCgroupLayout, runBoxWeight} from '../../host/cgroupfs.js'
import {allowanceOf, expandCpuset, onlineCpus} from '../../host/cpus.js'
import {createNetns, limitEgress, linkAddresses, linkNamespaces, type NetnsLink, netnsPath} from '../../host/netns.js'
import {readCgroupSample} from '../../metrics/resources.js'
import type {IoCounters} from '../../metrics/types.js'
import {processStartTime, type RunLedger} from '../../rollback/ledger.js'
import {undo} from '../../rollback/undo.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import {attachedCgroupPath, systemTarget} from './system-target.js'
import {answeringUrl} from '../answering.js'
import type {Capabilities, FloodEndpoint} from '../capabilities.js'
import {describeLimits, LocalPlatform} from '../local.js'
import {type Allowance, type Platform, type PlatformFactoryContext, localLevel, PlanError, type StressorPlacement} from '../platform.js'
import {ProcessWorkflow} from './workflow.js'

/**
 * Why `unit:` is refused here, true on either kind of machine: systemd's own test for a machine booted with it
 * (sd_booted) is whether /run/systemd/system exists. Where it runs, the unit's cgroup is the way in today.
 * (bootedWithSystemd is a parameter so that the branch this machine does not take is tested too.)
 */
export function unitRefusal(name: string, unit: string, bootedWithSystemd = existsSync('/run/systemd/system')): PlanError {
  if (!bootedWithSystemd) {
    return new PlanError(`${name}: attaching to a systemd unit needs systemd, and this machine was not booted with it. Attach by pid or cgroup instead`, 4)
  }
  return new PlanError(`${name}: attaching to a systemd unit is not supported yet. Attach by its cgroup instead (\`systemctl show -p ControlGroup --value ${unit}\` prints it, under the cgroup mount) or by its main pid (\`systemctl show -p MainPID --value ${unit}\`)`)
}

export class ProcessPlatform extends LocalPlatform<ProcessWorkflow> implements Platform {
  readonly name = 'process'
  private readonly levelOverride?: IsolationSpec['level']
  private link?: NetnsLink
  private canMakeBoxes = false
  /** besides a local platform's fill and flood: forks into the target's box, whose pids accounting it reads */
  override readonly capabilities: Partial<Capabilities> = {localFill: this, flood: this, tasks: this, blockIo: this}

  constructor(ctx: PlatformFactoryContext) {
    super(ctx)
    // `--level container` speaks the Docker platform's words: a box of its own is a cgroup here
    const level = localLevel(ctx.levelOverride, 'process')
    this.levelOverride = level === 'container' ? 'cgroup' : level
  }

  protected levelOf(spec: TargetSpec | NeighborSpec): IsolationSpec['level'] {
    return this.levelOverride ?? spec.isolation.level
  }

  plannedTargetAllowance(): Allowance {
    return allowanceOf(this.limitsOf(this.experiment.target))
  }

  async plan(): Promise<string[]> {
    const lines: string[] = []
    const needsBoxes = this.specs.some((s) => s.run !== undefined && this.levelOf(s) !== 'none')
    try {
      this.layout = detectCgroupLayout()
    } catch (error) {
      if (needsBoxes) throw new PlanError(`no cgroup boundary can be made here: ${(error as Error).message}`, 4)
    }
    if (this.layout) {
      this.canMakeBoxes = cgroupsWritable(this.layout)
      if (!this.canMakeBoxes) {
        const probeDir = this.layout.version === 2 ? this.layout.root : (this.layout.mounts.memory ?? this.layout.mounts.cpu)!
        if (needsBoxes) throw new PlanError(
          `no cgroup boundary can be made: ${probeDir} is not writable by this user. Run as root, or inside a delegated ` +
          'cgroup (systemd-run --user --scope -p Delegate=yes chaos run ...), or use isolation level none.', 4)
        lines.push('note: cgroups are not writable here, so the toolkit cannot protect its own probe from the fault')
      }
      lines.push(`cgroup v${this.layout.version} at ${this.layout.root}; ${this.instrumentPlanLine()}`)
      this.refuseUnappliableLimits(this.layout)
    }
    const hostCpus = onlineCpus()
    for (const spec of this.specs) {
      const role = spec === this.experiment.target ? 'target' : 'neighbour'
      const level = this.levelOf(spec)
      if (spec.run === undefined) {
        // by name first: a system cgroup is refused as that, whether or not this machine has it
        const system = role === 'target' && !this.experiment.safety.allowSystem ? systemTarget(spec, this.layout) : undefined
        if (system) {
          throw new PlanError(`target ${spec.name} is ${system}. That is the machine itself, not a workflow with a boundary to test; set safety.allowSystem: true in the experiment if you mean it`)
        }
        this.checkAttached(spec)
        lines.push(`${role} ${spec.name}: attached (${spec.pid !== undefined ? `pid ${spec.pid}` : spec.cgroup ?? spec.unit}), isolation as found`)
        continue
      }
      const taken = await answeringUrl(spec)
      if (taken) {
        throw new PlanError(`${spec.name}: something already answers at ${taken} before the experiment started it (another run, or another service on that port); measuring it would judge the wrong process`, 4)
      }
      if (spec.isolation.cpuset) {
        const unknown = expandCpuset(spec.isolation.cpuset).filter((c) => !hostCpus.includes(c))
        if (unknown.length > 0) throw new PlanError(`${spec.name}: cpuset "${spec.isolation.cpuset}" names CPU ${unknown.join(',')}, but this host has CPUs ${hostCpus.join(',')}`)
      }
      if (spec.isolation.network && spec !== this.experiment.target) {
        throw new PlanError(`${spec.name}: a network namespace of its own is offered for the target only on the process platform`)
      }
      if (this.layout?.version === 1 && spec.isolation.level !== 'none' && spec.isolation.memory === undefined && spec.isolation.cpus === undefined && !spec.isolation.cpuset && level === 'cgroup') {
        lines.push(`note: ${spec.name} gets a cgroup without limits: accounting only`)
      }
      const limits = this.limitsOf(spec)
      const box = level === 'none' ? 'no box' : level === 'shared' ? `shared box chaos-${this.runId}/shared` : `own box chaos-${this.runId}/${spec.name}`
      lines.push(`${role} ${spec.name}: ${spec.run.join(' ')}  [${level}: ${box}${limits ? describeLimits(limits) : ''}]${spec.isolation.network ? ` netns, link ${formatBitRate(spec.isolation.network.rate)} each way` : ''}`)
    }
    if (this.experiment.target.isolation.network || Object.keys(this.experiment.volumes ?? {}).length > 0) {
      if (process.getuid?.() !== 0) throw new PlanError('network namespaces and volumes need root on the process platform', 4)
    }
    for (const [name, volume] of Object.entries(this.experiment.volumes ?? {})) lines.push(`volume ${name}: tmpfs ${formatBytes(volume.size)}`)
    return lines
  }

  private checkAttached(spec: TargetSpec | NeighborSpec): void {
    const asked = isolationSettingsOf(spec.isolation)
    if (asked.length > 0) {
      throw new PlanError(`${spec.name}: limits (${asked.join(', ')}) apply only to workflows the experiment starts (run:); an attached workflow keeps the isolation it has`)
    }
    if (spec.pid !== undefined && processStartTime(spec.pid) === undefined) throw new PlanError(`${spec.name}: no process with pid ${spec.pid}`)
    if (spec.cgroup !== undefined && this.layout && !new Cgroup(this.layout, attachedCgroupPath(spec.cgroup, this.layout)).exists()) {
      throw new PlanError(`${spec.name}: cgroup ${spec.cgroup} does not exist`)
    }
    if (spec.unit !== undefined) throw unitRefusal(spec.name, spec.unit)
  }

  async setup(ledger: RunLedger, log: (line: string) => void): Promise<void> {
    this.ledger = ledger
    await this.makeRunDirAndVolumes()
    const network = this.experiment.target.isolation.network
    if (network && this.experiment.target.run) {
      const addresses = linkAddresses(parseInt(this.runId.slice(0, 4), 16))
      this.link = {
        targetNs: `chaos-${this.runId}-t`, targetIf: `ch${this.runId}t`, targetAddress: addresses.target,
        sinkNs: `chaos-${this.runId}-s`, sinkIf: `ch${this.runId}s`, sinkAddress: addresses.sink,
      }
      for (const ns of [this.link.targetNs, this.link.sinkNs]) {
        this.track({kind: 'netns', name: ns})
        await createNetns(ns)
      }
      await linkNamespaces(this.link)
      // a link's speed holds both ways: the target's egress on its end, its ingress as the sink end's egress
      await limitEgress(netnsPath(this.link.targetNs), this.link.targetIf, network.rate)
      await limitEgress(netnsPath(this.link.sinkNs), this.link.sinkIf, network.rate)
      log(`network: ${this.link.targetNs} <--veth (tbf ${formatBitRate(network.rate)} each way)--> ${this.link.sinkNs}`)
    }
    const boxes = new Map<string, Cgroup>()
    const boxWeights: number[] = []
    let parent: Cgroup | undefined
    if (this.layout && this.canMakeBoxes) {
      parent = new Cgroup(this.layout, `chaos-${this.runId}`)
      this.track({kind: 'cgroup', version: this.layout.version, root: this.layout.root, path: parent.relativePath})
      parent.create()
      this.protectInstrument(this.layout)
    }
    this.workflows = this.specs.map((spec, index) => {
      const level = this.levelOf(spec)
      let box: Cgroup | undefined
      if (spec.run === undefined) box = this.attachedBox(spec)
      else if (level !== 'none' && this.layout) {
        const key = level === 'shared' ? 'shared' : spec.name
        box = boxes.get(key)
        if (!box) {
          box = new Cgroup(this.layout, `chaos-${this.runId}/${key}`)
          box.create()
          try {
            box.applyLimits(this.limitsOf(spec)!)
          } catch (error) {
            if (error instanceof CgroupUnavailableError) throw new PlanError(error.message, 4)
            throw error
          }
          boxes.set(key, box)
          // an idle box weighs about 3/1024 of a default one in the kernel: 1 is the least the run's box can count
          const limits = this.limitsOf(spec)!
          boxWeights.push(limits.cpuIdle ? 1 : limits.cpuWeight ?? DEFAULT_CPU_WEIGHT)
        }
      }
      return new ProcessWorkflow({
        spec, role: index === 0 ? 'target' : 'neighbor', level, box, limits: this.limitsOf(spec),
        netns: index === 0 ? this.link?.targetNs : undefined,
        volumes: this.volumeDirs,
        runDir: this.runDir,
        unboxedDirs: this.unboxedDirs(),
      })
    })
    if (parent && boxWeights.length > 0) parent.applyLimits({cpuWeight: runBoxWeight(boxWeights)})
    for (const workflow of this.workflows) {
      const pid = workflow.start()
      if (pid !== undefined) this.track({kind: 'process', pid, startTime: processStartTime(pid) ?? 0, title: workflow.name})
    }
    await Promise.all(this.workflows.map((w) => w.waitReady()))
    for (const w of this.workflows) log(`${w.role} ${w.name} ready (${w.boundary})`)
  }

  /** Where a process with no box goes: the root, never the instrument's own box it would inherit. */
  private unboxedDirs(): string[] {
    return this.instrumentBox && this.layout ? Cgroup.rootDirs(this.layout) : []
  }

  private attachedBox(spec: TargetSpec | NeighborSpec): Cgroup | undefined {
    if (!this.layout) return undefined
    if (spec.pid !== undefined) {
      const box = cgroupOfProcess(spec.pid, this.layout)
      return box && box.relativePath !== '' ? box : undefined
    }
    if (spec.cgroup !== undefined) return new Cgroup(this.layout, attachedCgroupPath(spec.cgroup, this.layout))
    return undefined
  }

  taskLimit(): number | undefined {
    return this.limitsOf(this.experiment.target)?.pids
  }

  targetIo(device: string): (() => IoCounters | undefined) | undefined {
    const target = this.workflows[0]
    const box = target?.box
    if (!box) return undefined
    // v1 counts only with a rule on the box, and a rule is not ours to add to a cgroup the run did not make (it would
    // outlive the run): an attached target's dose is then the stressor's own count
    if (target.spec.run === undefined && box.layout.version === 1) return undefined
    box.countIo(device)
    return () => readCgroupSample(box.paths()).io?.[device]
  }

  /** a receive flood: the source in the sink's namespace, the receiver in the target's namespace and box */
  readonly floodsTowardTarget = true

  flood(): FloodEndpoint {
    const link = this.link
    return this.floodEndpoint(link ? {sinkHost: link.sinkAddress, targetHost: link.targetAddress, ingressShaped: true, netnsPath: netnsPath(link.targetNs), iface: link.targetIf} : undefined)
  }

  launchStressor(placement: StressorPlacement): StressorHandle {
    const target = this.workflows[0]
    const inTarget = placement.where === 'target'
    const ns = inTarget ? this.link?.targetNs : this.link?.sinkNs
    // the sink too is charged to the target's box: it is part of the fault, and at the root its receiving cost
    // landed on the neighbour's cores (the shaped flood read p95 +15-17% that way, about +5% with the sink boxed)
    return this.spawnTracked(placement, target.box ? target.box.dirs() : this.unboxedDirs(), ns ? netnsPath(ns) : undefined)
  }

  async teardown(): Promise<string[]> {
    await Promise.all(this.workflows.map((w) => w.stop()))
    this.releaseInstrument()
    // every resource of this platform is one rollback knows how to undo
    return this.removeCreated(undo)
  }
}
