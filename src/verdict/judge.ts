// The experiment's verdict from its signals' verdicts (each judged in judge-blocks.ts) and the proof of its dose.
import {formatPercent} from './format.js'
import type {Efficacy, SignalVerdict, Verdict} from './types.js'

// ---------------------------------------------------------------------------------------------------------
// The experiment

/**
 * The experiment's verdict: inconclusive when the fault did not land (the neighbours were not really tested),
 * else breach if any signal breached, else inconclusive if any signal was, else contained.
 */
export function judgeOverall(signals: SignalVerdict[], efficacy: Efficacy): {verdict: Verdict, reason: string} {
  const breaches = signals.filter((s) => s.verdict === 'breach')
  const inconclusive = signals.filter((s) => s.verdict === 'inconclusive')
  if (!efficacy.landed) {
    const measured = `achieved ${efficacy.achieved} of the ${efficacy.asked} ${efficacy.unit} asked (${formatPercent(efficacy.ratio)})`
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
