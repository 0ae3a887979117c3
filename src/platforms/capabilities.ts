// What some faults need of a platform beyond the Platform interface: a filesystem to fill, a network to flood.
// A platform offers the capabilities it has (Platform.capabilities); a fault asks for the one it needs with
// capabilityOf() (platforms/platform.ts), which refuses the run, before anything is created, on a platform that
// lacks it. A new fault with a new need adds its capability here, not a member to every platform.
import type {IoDisk} from '../host/blockdev.js'
import type {IoThrottle} from '../host/cgroupfs.js'
import type {IoCounters} from '../metrics/types.js'

/** disk-fill on this machine's filesystems (process, docker). */
export interface LocalFill {
  /** the directory a disk fill writes into for this experiment volume or path */
  fillDirectory(volume: string | undefined, path: string | undefined): {dir: string, createdByExperiment: boolean}
}

/** A fill in a filesystem this machine cannot see (inside a pod, on a host): checked by the stressor where it runs. */
export interface RemoteFillTarget {
  /** where the fill lands, for the plan */
  where: string
  /** what a size given as a percentage is a percentage of, if anything */
  percentOf?: {bytes: number, what: string}
  /**
   * An experiment volume the platform made there (a host's tmpfs): the directory the fill writes into, filled to the
   * last byte if asked (no floor: the filesystem is the experiment's). Absent: the fill is of the experiment's path,
   * as the target sees it, and the stressor keeps safety.diskFloor free.
   */
  volume?: {dir: string, bytes: number}
}

/** disk-fill in the target's own filesystem, which this machine cannot see (kubernetes, host). */
export interface RemoteFill {
  /** Where a fill of this volume or path lands in the target; throws PlanError for one the platform cannot make there. */
  remoteFill(fill: {volume?: string, path?: string}): RemoteFillTarget
}

export interface FloodEndpoint {
  /** where a target-side flood should send, and where the sink listens */
  sinkHost: string
  /** whether the target floods inside a namespace of its own (the contained case) or on the host's loopback */
  inNamespace: boolean
  /** interface byte counters of the target's link, when it has one */
  linkBytes?: () => Promise<{tx: number, rx: number}>
  /** egress limit on the target's link (bits/s) */
  egressLimit?: number
  /** where a receiver in the target's place listens, reached from the sink's side (receive direction) */
  targetHost?: string
  /** ingress limit on the target's link (bits/s): the far end's egress shaping */
  ingressLimit?: number
}

/** network-flood from the target, to a sink the platform places. */
export interface Flood {
  /** Refuses (PlanError), once the target is chosen and before anything is created, a flood this target cannot carry. */
  checkFlood?(): void
  /** how a flood travels, for the plan, where it is not the host's loopback or the target's own link */
  floodRoute?(): string
  /** where the flood goes, once the target is set up */
  flood(): FloodEndpoint
  /** whether a flood toward the target can be placed: a source in the sink's place, a receiver in the target's */
  readonly floodsTowardTarget?: boolean
}

/** process-exhaustion: processes forked into the target's own box, counted by the box's pids accounting (process, docker). */
export interface Tasks {
  /** the pids limit of the box the target's tasks are charged to (its own, or the shared one), if it has one */
  taskLimit(): number | undefined
}

/** io-saturation: direct writes on a disk under the target, counted by the target's own box (process, docker, host). */
export interface BlockIo {
  /**
   * The directory the fault writes in when the experiment names no path: the run's own (which setup creates), and
   * the nearest directory that exists before then, on the same filesystem, for the plan's checks.
   */
  ioDirectory?(): {dir: string, existing: string}
  /**
   * Where the target runs on another machine (a host): the working file's directory and the disk under it, as found
   * there (fault.path checked against safety.allowPaths there, or the run's own directory). Throws PlanError.
   */
  remoteIoDisk?(): IoDisk
  /** Resolves once the target's counters have been read again after the stressor stopped (counters pushed from elsewhere lag) */
  ioCountersSettled?(): Promise<void>
  /** the throttle the target's box has on this disk ("major:minor"), if any */
  ioThrottle(device: string): IoThrottle | undefined
  /**
   * Once the target is set up: makes its box count its I/O on this disk and returns a reader of those counters;
   * undefined where the target has no box of its own to count in.
   */
  targetIo(device: string): (() => IoCounters | undefined) | undefined
}

/** Every capability, by the name a fault asks for it with. */
export interface Capabilities {
  localFill: LocalFill
  remoteFill: RemoteFill
  flood: Flood
  tasks: Tasks
  blockIo: BlockIo
}

/** What each capability is, for the refusal of a platform that lacks it: "<fault> needs <this>". */
export const CAPABILITY_NEEDS: {[K in keyof Capabilities]: string} = {
  localFill: 'a filesystem on this machine to fill',
  remoteFill: 'a filesystem in the target to fill',
  flood: 'a network from the target to flood',
  tasks: 'processes forked into the target\'s own box and counted by its pids accounting',
  blockIo: 'direct writes to a disk under the target, counted by the target\'s own box',
}
