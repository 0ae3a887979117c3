// Ctrl-C and SIGTERM for the commands that inject: the first asks the core to stop (it removes the fault and
// rolls back, as after any run); a second forces the exit after a best-effort cleanup of what is in progress.
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
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
