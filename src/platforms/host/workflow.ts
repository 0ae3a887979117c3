// A workflow on a host, as the runner sees it: its box's accounting as the agent there last read it (pushed every
// sampling interval, its time put on this machine's clock), its unexpected exits and when they happened.
import type {NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import type {Allowance} from '../../host/cpus.js'
import type {ResourceSample} from '../../metrics/types.js'
import type {WorkflowHandle} from '../platform.js'
import type {AgentConnection} from './agent-client.js'
import type {AgentMessage, WorkflowReading} from './protocol.js'

export class HostWorkflow implements WorkflowHandle {
  private reading?: WorkflowReading

  constructor(
    readonly spec: TargetSpec | NeighborSpec,
    readonly role: 'target' | 'neighbor',
    readonly boundary: string,
    private readonly allowed: Allowance,
    private readonly agent: AgentConnection,
  ) {
    agent.on('message', (m: AgentMessage) => {
      if (m.type === 'readings' && m.workflows[spec.name]) this.reading = m.workflows[spec.name]
    })
  }

  get name(): string {
    return this.spec.name
  }

  allowance(): Allowance {
    return this.allowed
  }

  sample(): ResourceSample {
    const sample = this.reading?.sample
    if (!sample) return {t: Date.now()}
    return {...sample, t: sample.t - this.agent.offsetMs}
  }

  unexpectedExits(): number {
    return this.reading?.exits ?? 0
  }

  exitTimes(): readonly number[] {
    return (this.reading?.exitTimes ?? []).map((t) => t - this.agent.offsetMs)
  }

  lastExit(): string | undefined {
    return this.reading?.lastExit
  }
}
