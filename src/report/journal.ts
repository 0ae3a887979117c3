// The run journal (`--output`): the contract other tools rely on. Field names are stable; add, never rename.
import type {Experiment} from '../experiment/schema.js'
import type {Efficacy, SignalVerdict} from '../verdict/types.js'

export type RunVerdict = 'contained' | 'breach' | 'inconclusive' | 'aborted'

export interface PhaseSpan {
  start: string
  end: string
}

export interface TimelinePoint {
  /** epoch ms at the end of the interval */
  t: number
  /** probe figures for the interval */
  requests?: number
  errors?: number
  p50?: number
  p99?: number
  /** resource readings at the end of the interval */
  cpuSeconds?: number
  memoryBytes?: number
}

export interface LookRecord {
  look: number
  /** usable pairs (interleaved) at this look */
  pairs: number
  /** the look's one-sided critical value; null for a look at observed facts only */
  z: number | null
  why: string
  decision: 'breach' | 'contained' | 'undecided'
  /** breach claims withdrawn by Holm's correction */
  corrected: number
  /**
   * noise: the spread of one pair's contribution (sd) and the distance from no change to the threshold (margin),
   * on the scale the signal is judged on (log ratio, share, log of a bound), where it is estimated. blocks: the last
   * look's block statistics each signal was judged on (seconds, a share, a count; paired: on[i] and off[i] one pair),
   * so that a verdict can be checked, or judged otherwise, from the journal alone
   */
  signals: {neighbor: string, signal: string, verdict: string, change: number | null, noise?: {sd: number, margin: number}, blocks?: {on: number[], off: number[]}}[]
}

export interface Journal {
  schemaVersion: 1
  runId: string
  tool: {name: 'chaos', version: string}
  experiment: {name: string, description?: string, file?: string, levelOverride?: string}
  platform: string
  startedAt: string
  endedAt: string
  verdict: RunVerdict
  reason: string
  expect: Experiment['expect']
  exitCode: number
  plan: string[]
  phases: {baseline?: PhaseSpan, inject?: PhaseSpan, recover?: PhaseSpan}
  /** origin: epoch ms when the fault was first asked for; the events are timed from it */
  injection: {fault: Experiment['fault'], efficacy: Efficacy | null, events: string[], origin?: number}
  /** how the verdict was reached: the blocks measured, every look at the data, and why the run stopped */
  design?: {
    kind: 'interleaved' | 'windows'
    blockMs: number
    /** each fault-on block was the fault's own episode (a fault that ends itself), blockMs its expected length */
    episodic?: boolean
    settleMs: number
    budgetMs: number
    alpha: number
    spending: string
    maxPairs: number
    plannedLooks: number[]
    /** partial: short of the dose asked but enough for a breach at it to stand (verdict/judge.ts) */
    blocks: {arm: 'on' | 'off', pair: number, start: string, end: string, startupMs?: number, landed?: boolean, partial?: boolean}[]
    looks: LookRecord[]
    stoppedBecause: string
    /** the probe's own lateness per neighbour, and the intervals of the blocks in which it lagged beyond its bound
     * (reported, not dropped: a probe starved by the fault lags exactly when the neighbour suffers) */
    instrument: {neighbor: string, meanSendLagMs: number, maxSendLagMs: number, laggedIntervals: number, requestsInLaggedIntervals: number,
      /** @deprecated the same count as requestsInLaggedIntervals, under its first name (they are judged, not dropped); journal fields are never renamed */
      droppedRequests: number
      /** the probe's mean send lag over the requests of fault-on and of fault-off blocks (interleaved runs); each
       * latency carries its request's, so their difference is the instrument's share of a change between the arms */
      sendLagMsByArm?: {on: number, off: number}}[]
  }
  target: {name: string, boundary: string, unexpectedExits: number, lastExit?: string}
  neighbors: {
    name: string
    boundary: string
    unexpectedExits: number
    lastExit?: string
    signals: SignalVerdict[]
    probe?: {sent: number, ok: number, errors: number, timeouts: number, meanSendLagMs: number}
    timeline: TimelinePoint[]
  }[]
  abort?: {reason: string}
  rollback: {complete: boolean, leftovers: string[], durationMs: number}
}
