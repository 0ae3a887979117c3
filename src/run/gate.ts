// The CI gate: `--fail-on breach|inconclusive|mismatch` turns outcomes into an exit code. chaos run, matrix and
// gameday decide their exit code here, and the reports show the same gate, so they always agree.
import type {Journal, RunVerdict} from '../report/journal.js'
import {ExitCode} from './exit-codes.js'


export const FAIL_ON = ['mismatch', 'breach', 'inconclusive'] as const
export type FailOn = (typeof FAIL_ON)[number]

/** What the gate looks at: a run's (or a matrix level's) verdict, what was expected of it, and its cleanup. */
export interface Outcome {
  verdict: RunVerdict
  /** undefined: nothing is expected (a matrix level the experiment was not written for) */
  expect?: 'contained' | 'breach'
  rollbackComplete: boolean
}

/**
 * The exit code of one outcome under a gate. Whatever the gate: rollback incomplete 5, aborted 3.
 * - mismatch (default, the run's own behaviour): 0 when the verdict is the expected one, 4 inconclusive, else 1;
 * - breach: 1 on any breach, whatever was expected; inconclusive and contained pass (0);
 * - inconclusive: 1 on a breach, 4 when inconclusive; only a proven containment passes.
 */
export function gateExitCode(outcome: Outcome, failOn: FailOn): number {
  if (!outcome.rollbackComplete) return ExitCode.RollbackIncomplete
  if (outcome.verdict === 'aborted') return ExitCode.Aborted
  switch (failOn) {
    case 'mismatch':
      if (outcome.expect === undefined) return ExitCode.Matched
      if (outcome.verdict === 'inconclusive') return ExitCode.Inconclusive
      return outcome.verdict === outcome.expect ? ExitCode.Matched : ExitCode.Mismatched
    case 'breach':
      return outcome.verdict === 'breach' ? ExitCode.Mismatched : ExitCode.Matched
    case 'inconclusive':
      return outcome.verdict === 'breach' ? ExitCode.Mismatched : outcome.verdict === 'inconclusive' ? ExitCode.Inconclusive : ExitCode.Matched
  }
}

export function journalOutcome(journal: Journal): Outcome {
  return {verdict: journal.verdict, expect: journal.expect, rollbackComplete: journal.rollback.complete}
}

export function journalExitCode(journal: Journal, failOn: FailOn): number {
  return gateExitCode(journalOutcome(journal), failOn)
}

/** Does the gate fail on a single signal's verdict? (JUnit marks such a testcase as a failure.) */
export function signalFails(verdict: 'contained' | 'breach' | 'inconclusive', expect: 'contained' | 'breach' | undefined, failOn: FailOn): boolean {
  if (verdict === 'contained') return false
  if (verdict === 'inconclusive') return failOn === 'inconclusive'
  return failOn !== 'mismatch' || expect === 'contained'
}

/** When several outcomes are gated together, the most serious decides. */
const SERIOUSNESS: number[] = [ExitCode.Matched, ExitCode.Inconclusive, ExitCode.Mismatched, ExitCode.Invalid, ExitCode.Aborted, ExitCode.RollbackIncomplete]

export function worseExitCode(a: number, b: number): number {
  return SERIOUSNESS.indexOf(b) > SERIOUSNESS.indexOf(a) ? b : a
}
