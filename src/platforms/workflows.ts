// What every platform holds the same way: the experiment, the run id, and the workflows it made or attached to,
// the target first and its neighbours after, in the experiment's order.
import type {Experiment, NeighborSpec, TargetSpec} from '../experiment/schema.js'
import type {PlatformFactoryContext, WorkflowHandle} from './platform.js'

export abstract class PlatformWorkflows<W extends WorkflowHandle> {
  protected readonly experiment: Experiment
  protected readonly runId: string
  /** empty until the platform has prepared them; index 0 is the target */
  protected workflows: W[] = []

  constructor(ctx: PlatformFactoryContext) {
    this.experiment = ctx.experiment
    this.runId = ctx.runId
  }

  get target(): WorkflowHandle {
    return this.workflows[0]
  }

  get neighbors(): WorkflowHandle[] {
    return this.workflows.slice(1)
  }

  /** the experiment's target and neighbour specs, in the workflows' order */
  protected get specs(): (TargetSpec | NeighborSpec)[] {
    return [this.experiment.target, ...this.experiment.neighbors]
  }
}
