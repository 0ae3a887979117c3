// How commands turn the core's refusals into a message and an exit code, never a stack trace.
import {ExperimentError} from '../experiment/issues.js'
import {PlanError} from '../platforms/platform.js'
import {ExitCode} from '../run/exit-codes.js'

export function exitCodeFor(error: unknown): {code: number, message: string} {
  if (error instanceof ExperimentError) return {code: ExitCode.Invalid, message: error.format()}
  if (error instanceof PlanError) return {code: error.exitCode, message: `refused: ${error.message}`}
  return {code: ExitCode.Inconclusive, message: `error: ${(error as Error).message ?? String(error)}`}
}
