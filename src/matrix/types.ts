// The isolation matrix's result: the same experiment at several isolation levels, each repeated, run in a
// shuffled interleaved order, then aggregated per level. `chaos matrix --json` prints it; reports render it.
import type {IsolationSpec, SignalName} from '../experiment/schema.js'
import type {Journal, RunVerdict} from '../report/journal.js'
import type {FailOn} from '../run/gate.js'
import type {Interval, SignalVerdict, Verdict} from '../verdict/types.js'

/** An isolation level: one of the local platforms' (none, shared, cgroup, container) or a name of kubernetes.levels. */
export type Level = IsolationSpec['level'] | (string & {})
/** The default comparison (process platform); `container` replaces `cgroup` on the docker platform. */
export const LEVELS: readonly Level[] = ['none', 'shared', 'cgroup']
export const KNOWN_LEVELS: readonly Level[] = ['none', 'shared', 'cgroup', 'container']

/** One cell of the plan: a level and which repeat of it (1-based). */
export interface MatrixSlot {
  level: Level
  repetition: number
}

export interface MatrixRun extends MatrixSlot {
  /** 1-based position in the run order */
  index: number
  journal?: Journal
  /** the run could not start (a boundary this machine cannot make, ...) */
  error?: {message: string, exitCode: number}
}

export type VerdictCounts = Record<Verdict, number>

export interface PooledEstimate {
  estimate: number
  interval: Interval | null
  /** how the repeats were combined */
  method: 'random-effects log-ratio' | 'random-effects' | 'pooled proportion' | 'total'
  /** repeats that went into it */
  repeats: number
}

/** One neighbour signal at one level, over its repeats. */
export interface SignalAggregate {
  neighbor: string
  signal: SignalName
  unit: SignalVerdict['unit']
  threshold: string
  /** relative thresholds are judged on the change from the baseline, absolute ones on the fault-window value */
  measure: 'change' | 'value'
  /** the measure of each repeat, in run order of the level's repeats (null: not measured) */
  values: (number | null)[]
  median: number | null
  /** the smallest and largest measure over the repeats: how much the repeats disagree */
  range: {low: number, high: number} | null
  pooled: PooledEstimate | null
  /** per-repeat verdicts; a repeat whose dose did not land counts as inconclusive */
  counts: VerdictCounts
  verdict: Verdict
}

export interface LevelAggregate {
  level: Level
  planned: number
  /** runs that finished (not aborted, not refused) */
  completed: number
  counts: VerdictCounts & {aborted: number, error: number}
  doseLanded: number
  verdict: RunVerdict
  reason: string
  /** what the gate compares with under --fail-on mismatch; undefined: this level only informs */
  expect?: 'contained' | 'breach'
  rollbackComplete: boolean
  exitCode: number
  signals: SignalAggregate[]
}

export interface MatrixResult {
  kind: 'chaos-matrix'
  schemaVersion: 1
  experiment: {name: string, description?: string, file?: string}
  seed: string
  levels: Level[]
  repeat: number
  order: MatrixSlot[]
  startedAt: string
  endedAt: string
  runs: MatrixRun[]
  summary: LevelAggregate[]
  failOn: FailOn
  /** the gate over every level */
  exitCode: number
  interrupted: boolean
}
