// A calibration on disk (one JSON file per experiment) and what `chaos run --dry-run` says with it: the expected
// time to a decision under the run's own design, from the noise the calibration measured on this machine.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import type {Experiment, FaultSpec} from '../experiment/schema.js'
import {formatDuration} from '../experiment/units.js'
import {stateDir} from '../rollback/ledger.js'
import {planDesign, SETTLES_PER_PAIR} from '../run/design.js'
import {type AaSummary, type Expectation, expectDecision, type ShiftSummary, type SpikeRun} from './report.js'

export interface Calibration {
  schemaVersion: 1
  experiment: {name: string, file?: string}
  createdAt: string
  machine: {hostname: string, cpus: number, loadAverage: number[]}
  design: {
    blockMs: number, settleMs: number, budgetMs: number, alpha: number, spending: string, looks: {pairs: number, z: number}[]
    /** settles in one pair (SETTLES_PER_PAIR when it was made); absent in files of the engine that had one */
    settlesPerPair?: number
  }
  nullDose: FaultSpec
  aa: AaSummary & {runIds: string[]}
  /** pairs and seconds the hypotheses need to be shown contained at no change, under this design */
  needs: Expectation
  spike: {neighbor: string, quota: number, breaches: number, runs: SpikeRun[]} | null
  /** runs at the null dose with one neighbour's fault-on latencies read × (1 + shift): absent in older files */
  shift?: ShiftSummary[]
}

export function calibrationPath(experimentName: string): string {
  return join(stateDir(), 'calibration', `${experimentName}.json`)
}

export function writeCalibration(calibration: Calibration, file = calibrationPath(calibration.experiment.name)): string {
  mkdirSync(dirname(file), {recursive: true})
  writeFileSync(file, `${JSON.stringify(calibration, null, 2)}\n`)
  return file
}

export function readCalibration(experimentName: string): Calibration | undefined {
  const file = calibrationPath(experimentName)
  if (!existsSync(file)) return undefined
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Calibration
    return parsed.schemaVersion === 1 && Array.isArray(parsed.aa?.noise) ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * The expected time to a decision for this experiment as it will run now, from a calibration's noise: the looks
 * are the run's own (its budget and looks may differ from the calibration's), a pair's time is the calibrated
 * one with its blocks and settle replaced by the run's.
 */
export function expectedDecision(calibration: Calibration, experiment: Experiment): string[] {
  const design = planDesign(experiment, 'calibration')
  if (design.kind !== 'interleaved') return ['expected time to a decision: the calibration is of interleaved blocks; this run uses one baseline and one fault window']
  const per = calibration.aa.secondsPerPair
  if (per === null || calibration.aa.noise.length === 0) return [`calibration ${calibration.createdAt}: no pair's noise was measured, so no expected time`]
  const overhead = per - (2 * calibration.design.blockMs + (calibration.design.settlesPerPair ?? 1) * calibration.design.settleMs) / 1000
  const seconds = Math.max(0.1, overhead) + (2 * design.blockMs + SETTLES_PER_PAIR * design.settleMs) / 1000
  const need = expectDecision(calibration.aa.noise, design.looks, seconds)
  const when = `calibrated ${calibration.createdAt.slice(0, 16).replace('T', ' ')} on ${calibration.machine.hostname}, ${calibration.aa.runs} A/A runs, ${calibration.aa.falseBreach.count} false breach(es)`
  const lines = [`expected time to a decision (${when}): ${describeNeed(need, design.budgetMs)}`]
  if (design.blockMs !== calibration.design.blockMs) lines.push(`note: calibrated with blocks of ${formatDuration(calibration.design.blockMs)}, this run uses ${formatDuration(design.blockMs)}; the noise per pair differs, so calibrate again`)
  return lines
}

export function describeNeed(need: Expectation, budgetMs: number): string {
  if (!need.median) return `no number of pairs up to 10,000 shows every hypothesis contained at no change here${need.limiting ? ` (${need.limiting.neighbor} ${need.limiting.signal}: too noisy, or beyond its bound without the fault)` : ''}`
  const one = (n: NonNullable<Expectation['median']>) => `${n.pairs} pairs, ${Math.round(n.seconds)} s of measuring${n.withinPlan ? '' : ` (beyond the budget of ${formatDuration(budgetMs)})`}`
  const limiting = need.limiting ? `; limited by ${need.limiting.neighbor} ${need.limiting.signal}` : ''
  return `contained at no change after ${one(need.median)} in the median run${need.ninety ? `, ${one(need.ninety)} in 9 runs of 10` : ''}${limiting}`
}
