// What the toolkit and its agent on a host say to each other over one SSH channel: newline-delimited JSON, requests
// on the agent's stdin, answers and pushed readings on its stdout. The channel is also the agent's dead-man's
// switch: when its stdin ends (the toolkit died, the connection dropped), the agent removes everything it made.
import type {Experiment} from '../../experiment/schema.js'
import type {IoDisk} from '../../host/blockdev.js'
import type {IoThrottle} from '../../host/cgroupfs.js'
import type {Allowance} from '../../host/cpus.js'
import type {PinnedWorkloads} from '../instrument.js'
import type {ResourceSample} from '../../metrics/types.js'
import type {StressorKind, StressorMessage, StressorParams} from '../../stressors/protocol.js'
import type {StressorExit} from '../../stressors/spawn.js'

/** The agent's program, relative to the toolkit's package directory on the host. */
export const AGENT_ENTRY = 'dist/platforms/host/agent-main.js'
/** Bumped when a message changes shape: a toolkit and an agent of different protocol versions refuse each other. */
export const AGENT_PROTOCOL = 1

export type AgentRequest =
  /** the workflows on this host, as a process experiment (the first is its target), and the run id used there */
  /** targetHere: the first workflow is the run's target (else a neighbour stands first, on a host of neighbours only) */
  | {op: 'start', experiment: Experiment, runId: string, sampleMs: number, targetHere: boolean, levelOverride?: string}
  | {op: 'ping', id: number}
  | {op: 'plan'}
  | {op: 'setup'}
  | {op: 'launch', id: number, placement: {kind: StressorKind, params: StressorParams, deadline: number, where: 'target' | 'sink'}}
  | {op: 'stop', id: number}
  | {op: 'teardown'}

/** An io-saturation's disk on the target's host, found there (fault.path under safety.allowPaths there, or the run's own directory), or the refusal. */
export type PlannedIo = {disk: IoDisk, throttle?: IoThrottle} | {refused: string, exitCode: 2 | 4}

export interface WorkflowReading {
  sample: ResourceSample
  exits: number
  exitTimes: number[]
  lastExit?: string
}

export type AgentMessage =
  /** said by the shell that would start the agent, when the host lacks Node.js or the toolkit */
  | {type: 'missing', what: 'node' | 'agent'}
  | {type: 'hello', protocol: number, version: string, pid: number, uid: number, node: string}
  | {type: 'pong', id: number, now: number}
  /** kernel: the host's boot id (one kernel with the toolkit's machine, or not); pinned: the CPUs its workflows are pinned to there */
  /** io: for an io-saturation on the target's host, the disk the working file goes to there and the target's throttle on it, or why not */
  | {type: 'planned', lines: string[], allowance?: Allowance, cpus: number, taskLimit?: number, volumeDirs: Record<string, string>, kernel?: string, pinned?: PinnedWorkloads, io?: PlannedIo}
  | {type: 'refused', message: string, exitCode: 2 | 4}
  | {type: 'log', line: string}
  /** flood: where a flood from the target goes there, and where a receiver in the target listens (the target's host only) */
  /** ioCounted: the target's box counts its I/O on the planned disk, and its readings carry the counters */
  | {type: 'set-up', workflows: {name: string, boundary: string, allowance: Allowance}[], flood?: {sinkHost: string, inNamespace: boolean, egressLimit?: number, targetHost?: string, ingressLimit?: number}, ioCounted?: boolean}
  | {type: 'readings', t: number, workflows: Record<string, WorkflowReading>}
  | {type: 'stressor', id: number, message: StressorMessage}
  | {type: 'stressor-pid', id: number, pid: number}
  | {type: 'stressor-exit', id: number, exit: StressorExit}
  | {type: 'torn-down', leftovers: string[]}
  | {type: 'failed', message: string}
