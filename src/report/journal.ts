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
  injection: {fault: Experiment['fault'], efficacy: Efficacy | null, events: string[]}
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
