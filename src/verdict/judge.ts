// The experiment's verdict from its signals' verdicts (each judged in judge-blocks.ts) and the proof of its dose.
import {formatPercent} from './format.js'
import type {Efficacy, SignalVerdict, Verdict} from './types.js'

// ---------------------------------------------------------------------------------------------------------
// The experiment

/**
 * The least share of the dose asked at which a breach still stands. Harm grows with the dose (a hog that takes
 * more CPU, a flood that moves more bits), so a boundary that let half the dose through to a neighbour does not
 * contain the whole of it; containment is the other way round and needs the whole dose, since it says nothing of
 * more than was tested. On a busy machine an unbounded control cannot always have what it asks (a hog asking 1.5
 * cores of a 2-core machine beside other work got 80%, docs/host.md): its breach is real, and shown at that dose.
 */
export const BREACH_DOSE_FLOOR = 0.5

/** Whether a signal's verdict is the fault's doing at the dose that landed: any verdict at the whole dose, a breach at a partial one. */
export function attributable(efficacy: Efficacy | null | undefined, verdict: Verdict): boolean {
  return efficacy?.landed === true || (efficacy?.partial === true && verdict === 'breach')
}

/** One fault block's dose, or one window's: short of the dose asked, but enough for a breach at it to stand. */
export function breachDoseOnly(efficacy: Efficacy): boolean {
  return !efficacy.landed && efficacy.ratio >= BREACH_DOSE_FLOOR
}

/**
 * The experiment's verdict: inconclusive when the fault did not land (the neighbours were not really tested),
 * unless a signal breached at a dose short of the one asked but at least the floor above (efficacy.partial); else
 * breach if any signal breached, else inconclusive if any signal was, else contained.
 */
export function judgeOverall(signals: SignalVerdict[], efficacy: Efficacy): {verdict: Verdict, reason: string} {
  const breaches = signals.filter((s) => s.verdict === 'breach')
  const inconclusive = signals.filter((s) => s.verdict === 'inconclusive')
  if (!efficacy.landed) {
    const measured = `achieved ${efficacy.achieved} of the ${efficacy.asked} ${efficacy.unit} asked (${formatPercent(efficacy.ratio)})`
    if (efficacy.partial && breaches.length > 0) {
      const dose = `${formatPercent(efficacy.ratio)} of the ${efficacy.unit} asked${efficacy.note ? ` (${efficacy.note})` : ''}`
      return {verdict: 'breach', reason: `${summarise(breaches, 'breach')}; at a short dose, ${dose}: a boundary that did not contain that much does not contain the dose asked`}
    }
    const anyway = breaches.length > 0 ? `; ${countOf(breaches.length, 'signal')} breached even so (${breaches.map(label).join(', ')})` : ''
    return {verdict: 'inconclusive', reason: `the fault did not land${efficacy.note ? `: ${efficacy.note}` : ''} (${measured})${anyway}`}
  }
  if (signals.length === 0) return {verdict: 'inconclusive', reason: 'no signal was judged'}
  if (breaches.length > 0) return {verdict: 'breach', reason: summarise(breaches, 'breach')}
  if (inconclusive.length > 0) return {verdict: 'inconclusive', reason: summarise(inconclusive, 'inconclusive signal')}
  const neighbours = new Set(signals.map((s) => s.neighbor)).size
  return {verdict: 'contained', reason: `all ${countOf(signals.length, 'signal')} of ${countOf(neighbours, 'neighbour')} stayed within their thresholds`}
}

function label(signal: SignalVerdict): string {
  return `${signal.neighbor} ${signal.signal}`
}

function summarise(signals: SignalVerdict[], noun: string): string {
  const [first, ...rest] = signals
  const more = rest.length > 0 ? ` (and ${countOf(rest.length, `more ${noun}`)}: ${rest.map(label).join(', ')})` : ''
  return `${label(first)}: ${first.reason}${more}`
}

function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : /(s|ch|sh|x)$/.test(noun) ? 'es' : 's'}`
}
