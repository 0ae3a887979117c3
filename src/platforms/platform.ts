// One interface per platform. The runner knows only this: a platform plans (checking everything before
// creating anything), sets up the workflows in their isolation, launches stressors charged to the target's own
// boundary, samples each workflow's resources, and tears everything down.
import type {Experiment, IsolationSpec, NeighborSpec, TargetSpec} from '../experiment/schema.js'
import type {Allowance} from '../host/cpus.js'
import type {ResourceSample} from '../metrics/types.js'
import type {RunLedger} from '../rollback/ledger.js'
import type {StressorKind, StressorParams} from '../stressors/protocol.js'
import type {StressorHandle} from '../stressors/spawn.js'
import {CAPABILITY_NEEDS, type Capabilities} from './capabilities.js'

// what a workflow may use, worked out from its box's limits on the host (host/cpus.ts); part of every platform's answer
export type {Allowance}

/** A refusal before anything starts. exitCode 2: the experiment asks for something invalid here; 4: this machine cannot make the boundary. */
export class PlanError extends Error {
  constructor(message: string, readonly exitCode: 2 | 4 = 2) {
    super(message)
  }
}

/** The capability a fault needs (capabilities.ts), or a refusal naming what the platform lacks. */
export function capabilityOf<K extends keyof Capabilities>(platform: Platform, name: K, fault: string): Capabilities[K] {
  const capability = platform.capabilities[name]
  if (!capability) throw new PlanError(`${fault} needs ${CAPABILITY_NEEDS[name]}, which platform ${platform.name} does not offer`)
  return capability
}

export interface WorkflowHandle {
  readonly name: string
  readonly role: 'target' | 'neighbor'
  readonly spec: TargetSpec | NeighborSpec
  /** the isolation as applied (level, the box's limits, whether the box is shared) */
  readonly boundary: string
  allowance(): Allowance
  /** resource accounting of the workflow's box (its cgroup, or its processes when it has none) */
  sample(): ResourceSample
  /** times a managed workflow's main process ended while it was meant to run (OOM kill, crash) */
  unexpectedExits(): number
  /**
   * When each of those exits happened (epoch ms), where the platform knows: restarts are then counted by that time,
   * in the window the exit happened in, not the one in which the news arrived (an engine's event stream lags on a
   * busy host). Absent (Kubernetes: a restart count in the pod's status): an exit counts in the window of the first
   * reading after it.
   */
  exitTimes?(): readonly number[]
  /** how the last unexpected exit happened, e.g. "killed by SIGKILL" */
  lastExit(): string | undefined
}

export interface StressorPlacement {
  kind: StressorKind
  params: StressorParams
  /** epoch ms after which the stressor dies by itself */
  deadline: number
  /** 'target': charged to the target's boundary; 'sink': the receiving end the experiment created (the process and host platforms charge it to the target's box as well) */
  where: 'target' | 'sink'
  /**
   * The same dose against another allowance (a second container of the target, dosed by its own limits), from the
   * fault's one dose computation; weight is its size against this placement's. Absent: every container gets params.
   */
  doseFor?(allowance: Allowance): {params: StressorParams, weight: number}
}

export interface Platform {
  readonly name: string
  /** Checks everything that can be checked before anything is created; returns the plan's lines. */
  plan(): Promise<string[]>
  setup(ledger: RunLedger, log: (line: string) => void): Promise<void>
  readonly target: WorkflowHandle
  readonly neighbors: WorkflowHandle[]
  /** the target and its limits are known once plan() returns (nothing to create first): the fault is planned then */
  readonly targetKnownAtPlan?: boolean
  /**
   * the target's allowance as planned, before setup (chaos matrix fixes a CPU dose with it); absent: unknown;
   * undefined: known once plan() has run (a host's CPUs, read there)
   */
  plannedTargetAllowance?(): Allowance | undefined
  /** what fault-specific needs it meets (a filesystem to fill, a network to flood); a fault asks with capabilityOf() */
  readonly capabilities: Partial<Capabilities>
  launchStressor(placement: StressorPlacement): StressorHandle
  /**
   * Why the platform can no longer vouch for the run (its container engine went away, say), or undefined. Checked
   * every interval of the injection: the fault is removed at once and the run is inconclusive.
   */
  lost?(): string | undefined
  /** Removes everything the platform created; returns what could not be removed. */
  teardown(): Promise<string[]>
}

export interface PlatformFactoryContext {
  experiment: Experiment
  runId: string
  /** isolation level override from `chaos matrix`, applied to every workflow */
  levelOverride?: IsolationSpec['level'] | (string & {})
}

/**
 * A level override for a platform of processes or containers: one of its own words (or the other local platform's),
 * else a refusal that names them, with any level of the platform's own beyond those (host: separate-hosts).
 */
export function localLevel(override: string | undefined, platform: 'process' | 'docker', ...also: string[]): IsolationSpec['level'] | undefined {
  if (override === undefined) return undefined
  const known = ['none', 'shared', 'cgroup', 'container']
  if (!known.includes(override)) {
    const own = ['none', 'shared', platform === 'docker' ? 'container' : 'cgroup', ...also]
    throw new PlanError(`level ${override}: ${also.length ? 'this platform' : `platform ${platform}`} knows the levels ${own.slice(0, -1).join(', ')} and ${own.at(-1)} (named levels are kubernetes.levels, for platform kubernetes)`)
  }
  return override as IsolationSpec['level']
}
