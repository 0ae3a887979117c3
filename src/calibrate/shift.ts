// The exact shift of chaos calibrate: a run at the fault's null dose (an A/A run) whose looks read one neighbour's
// latencies in every fault-on block multiplied by a known factor. Every quantile and the mean of those blocks then
// change by exactly that factor against what the same run measured, so the change the verdict is asked to find is
// known to the digit, on the machine's and the workload's own noise, through the whole runner (its stressors'
// starts and stops, its looks, its stopping rule). A CPU quota (the spike-in) is a slowdown that is really there,
// but its size on p95 is only known after the fact; this is how a change exactly at the threshold, or at twice it,
// is asked for. Nothing on the machine is slowed: only the reading is.
import type {Experiment, SignalName} from '../experiment/schema.js'
import {formatPercent} from '../verdict/format.js'
import type {Extracted} from '../metrics/source.js'
import {hypothesesFor} from '../metrics/source.js'
import {PlanError} from '../platforms/platform.js'
import type {RunOptions} from '../run/runner.js'

export interface ShiftSpec {
  neighbor: string
  /** each a relative change, +0.25 for ×1.25 */
  shifts: number[]
}

/**
 * What a shifted run's fault-on blocks start. `null`: the fault at its null dose, the whole runner as the A/A runs
 * have it. `none`: nothing at all, the blocks alternating and judged as ever. On a busy machine starting and stopping
 * the null dose costs the neighbour something of its own, and that cost moves from run to run (the main job's p95:
 * +4.4% in one count of 36, +1.7% in the next, one run about +15%: +38% read at ×1.198), so no shift asked there
 * lands on a threshold; with nothing started, the shift is the whole change, and the rule's errors *at* a threshold
 * can be counted.
 */
export const SHIFT_DOSES = ['null', 'none'] as const
export type ShiftDose = typeof SHIFT_DOSES[number]

/** The signals a shift multiplies: a latency's every quantile and mean scale with it exactly. */
export const isLatency = (signal: string): boolean => signal.startsWith('latency_')

/** ×1.25 for +25%, as the plan and the printout both say it */
export const shiftFactor = (shift: number): string => `×${Number((1 + shift).toPrecision(4))}`

/** Which neighbour's latencies are shifted, refused before anything starts when there are none to shift. */
export function planShift(experiment: Experiment, shifts: number[], neighbor?: string): ShiftSpec {
  for (const shift of shifts) {
    if (!(shift > 0) || shift > 10) throw new PlanError(`calibrate: --shift ${formatPercent(shift)} is not a rise between 0% and 1000%`)
  }
  const latencyOf = (name: string) => hypothesesFor(name, experiment.hypothesis).filter((h) => isLatency(h.signal))
  const candidates = experiment.neighbors.filter((n) => (neighbor === undefined ? latencyOf(n.name).length > 0 : n.name === neighbor))
  const chosen = candidates[0]
  if (!chosen) {
    throw new PlanError(neighbor === undefined
      ? `calibrate: no neighbour of ${experiment.metadata.name} has a latency hypothesis, so there is nothing for --shift to shift`
      : `calibrate: --neighbor ${neighbor} is not a neighbour of ${experiment.metadata.name} (${experiment.neighbors.map((n) => n.name).join(', ')})`)
  }
  if (latencyOf(chosen.name).length === 0) throw new PlanError(`calibrate: neighbour ${chosen.name} has no latency hypothesis, so there is nothing for --shift to shift`)
  return {neighbor: chosen.name, shifts}
}

export function describeShift(neighbor: string, shift: number, dose: ShiftDose = 'null'): string {
  return `shift: every latency of neighbour ${neighbor} in the fault-on blocks read ${shiftFactor(shift)} (${formatPercent(shift, true)}, exact, on the run's own noise); ${dose === 'null' ? 'the fault at its null dose' : 'nothing started in them, so the shift is the whole change'}`
}

/** What the runner's looks read instead of the measured samples, in fault-on blocks. */
export function shiftReading(neighbor: string, shift: number, dose: ShiftDose = 'null'): NonNullable<RunOptions['reading']> {
  const factor = 1 + shift
  return {
    plan: describeShift(neighbor, shift, dose),
    adjust: (name: string, signal: SignalName, extracted: Extracted): Extracted => {
      if (name !== neighbor || !isLatency(signal) || 'unavailable' in extracted) return extracted
      const {samples} = extracted
      if (samples.kind === 'observations') return {...extracted, samples: {...samples, values: samples.values.map((v) => v * factor)}}
      if (samples.kind === 'series') return {...extracted, samples: {...samples, values: samples.values.map((v) => v * factor)}}
      return extracted
    },
  }
}

/** `--shift-dose none`: what each fault-on block starts instead of the fault, which is nothing; it lands at once. */
export const nothingInjected: NonNullable<RunOptions['injector']> = {
  plan: 'fault-on blocks start nothing (--shift-dose none): the design, its looks and its rule as ever, no stressor',
  start: async () => ({
    progress: () => 'nothing injected',
    stop: async () => undefined,
    efficacy: () => ({landed: true, asked: 0, achieved: 0, unit: 'none', ratio: 1, note: 'nothing injected (a calibration\'s shift alone)'}),
  }),
}
