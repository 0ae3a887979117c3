// One interface per fault. A fault driver turns the experiment's fault spec into stressors charged to the target,
// checks its guardrails before anything starts, and proves afterwards whether its dose landed.
import type {Experiment, FaultSpec} from '../experiment/schema.js'
import type {ResourceSample} from '../metrics/types.js'
import {PlanError, type Platform, type StressorPlacement} from '../platforms/platform.js'
import type {StressorHandle} from '../stressors/spawn.js'
import type {Efficacy} from '../verdict/types.js'

export interface FaultContext {
  experiment: Experiment
  platform: Platform
  runId: string
  /** epoch ms after which every stressor dies by itself: the end of the inject phase plus a short grace */
  deadline: number
  log: (line: string) => void
  /**
   * Starts a stressor where the platform puts it, and records its life (ready, ended, how) in the journal's
   * injection events, timed from the start of the inject phase: how a dose fell short is then on record.
   */
  launchStressor: (placement: StressorPlacement) => StressorHandle
}

/** What the runner measured of the target around the inject phase. */
export interface InjectWindow {
  startedAt: number
  endedAt: number
  /** the target's box (or process) before and at the end of injection, and its highest memory during it */
  before: ResourceSample
  after: ResourceSample
  peakMemoryBytes?: number
  /** the target's box is its own (level cgroup), so its accounting is the target's alone */
  ownBox: boolean
}

export interface ActiveFault {
  /** a short live reading of the dose, for the progress line */
  progress(): string
  stop(): Promise<void>
  efficacy(window: InjectWindow): Efficacy
  /** for a fault that ends itself (a leak killed by its limit): settles when it has; its block is that episode */
  ended?: Promise<unknown>
}

export interface FaultDriver<T extends FaultSpec = FaultSpec> {
  readonly type: T['type']
  /**
   * The guardrails the experiment file and this machine decide (destinations, paths, caps on a dose given in
   * bytes), checked on every platform before anything is set up: needs platform.plan() only, never the target.
   * Returns the fault's line as far as it is known then. Throws PlanError.
   */
  guard(spec: T, experiment: Experiment, platform: Platform): string
  /** One line for the plan, once the target is known. Throws PlanError for what the guardrails or the target's limits refuse. */
  plan(spec: T, experiment: Experiment, platform: Platform): string
  start(spec: T, ctx: FaultContext): Promise<ActiveFault>
  /**
   * The same fault at a dose too small to matter, through the same stressors' start and stop (chaos calibrate's
   * A/A runs): small, but still large enough for the fault's own efficacy rule to see it land.
   */
  nullDose(spec: T): T
  /**
   * Present for a fault that ends itself (a leak killed by its limit), whose fault-on block is its episode rather
   * than a fixed length: how long that episode should last, from the file alone, for planning the budget; null
   * where the file does not say (the block's length is then the guess).
   */
  episodeMs?(spec: T, experiment: Experiment): number | null
}

export function efficacyOf(asked: number, achieved: number, unit: string, note: string, threshold = 0.9, forceLanded?: boolean): Efficacy {
  const ratio = asked > 0 ? achieved / asked : 0
  return {landed: forceLanded ?? ratio >= threshold, asked, achieved, unit, ratio, note}
}

/** What the fault's plan says before setup: its guardrails, on every platform; its whole plan where the target is known by then. */
export function planFaultBeforeSetup(driver: FaultDriver, experiment: Experiment, platform: Platform): {line: string, complete: boolean} {
  const guarded = driver.guard(experiment.fault, experiment, platform)
  if (platform.targetKnownAtPlan) return {line: driver.plan(experiment.fault, experiment, platform), complete: true}
  return {line: `${guarded} (guardrails checked; the dose against the target's boundary is planned once setup has made it)`, complete: false}
}

/**
 * The rest of the fault's plan, right after setup: what needs the running target (its boundary, a dose relative to
 * its limits). A refusal here says why it could not come earlier; the runner then tears down what setup made.
 */
export function planFaultAfterSetup(driver: FaultDriver, experiment: Experiment, platform: Platform): string {
  try {
    return driver.plan(experiment.fault, experiment, platform)
  } catch (error) {
    if (!(error instanceof PlanError)) throw error
    throw new PlanError(`${error.message} (this needs the target's boundary, ${platform.target.boundary}, which exists only once setup has made it, so it could not be refused before; everything setup made is removed)`, error.exitCode)
  }
}
