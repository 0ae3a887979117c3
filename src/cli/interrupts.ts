// Ctrl-C and SIGTERM for the commands that inject: the first asks the core to stop (it removes the fault and
// rolls back, as after any run); a second forces the exit after a best-effort cleanup of what is in progress.
// Output that can no longer be written (the reader of a pipe went away: `| head`, a CI step killed, a parent that
// timed out) is an interrupt too: unhandled, the first failed write would crash the process mid-injection and
// leave the fault running and the run's containers and cgroups to `chaos cleanup`.
import {ExitCode} from '../run/exit-codes.js'

export interface Interrupts {
  /** aborted on the first SIGINT or SIGTERM */
  signal: AbortSignal
  /** removes the handlers */
  dispose(): void
}

/** `doing` completes "SIGINT: ...", e.g. "removing the fault and rolling back". */
export function handleInterrupts(doing: string, forceCleanup: () => Promise<unknown>): Interrupts {
  const controller = new AbortController()
  let interrupts = 0
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++
    if (interrupts === 1) {
      process.stderr.write(`\n${signal}: ${doing} (again to force)\n`)
      controller.abort()
      return
    }
    process.stderr.write(`\n${signal} again: forcing exit after a best-effort cleanup\n`)
    void forceCleanup().finally(() => process.exit(ExitCode.Aborted))
  }
  let disposed = false
  const onOutputLost = (error: NodeJS.ErrnoException) => {
    if (disposed || controller.signal.aborted) return
    interrupts++
    try {
      process.stderr.write(`\noutput closed (${error.code ?? error.message}): ${doing}\n`)
    } catch { /* stderr is gone too */ }
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // never removed: a write after the run (its summary) to a closed pipe must not crash the exit either
  process.stdout.on('error', onOutputLost)
  process.stderr.on('error', onOutputLost)
  return {
    signal: controller.signal,
    dispose() {
      disposed = true
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
