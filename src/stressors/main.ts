// Entry of a stressor process: `node dist/stressors/main.js KIND --run ID --deadline EPOCHMS --parent PID
// [--cgroup DIR]... --params JSON` (see stressorArgv). Order matters: name ourselves for `ps` and cleanup, join
// the target's cgroups before allocating or burning anything, arm the dead-man's switch, then work and report.
// Exit codes: 0 for every orderly end (deadline, signal, parent gone, done), 2 bad arguments, 3 failure.
import {parseStressorArgv, UsageError} from './args.js'
import {armDeadman} from './deadman.js'
import {joinCgroup} from './join.js'
import {STRESSOR_KINDS, stressorTitle} from './kinds.js'
import type {StressorArgs, StressorKind, StressorParamsByKind} from './protocol.js'
import {emit, errorMessage, type ExitReason, type RunningStressor, type StressorContext} from './runtime.js'

const PROGRESS_MS = 200
const EXIT_USAGE = 2
const EXIT_FAILURE = 3

const cleanups: (() => void)[] = []
let running: RunningStressor | undefined
let exiting = false

/** Ends the process: cleanups (synchronous, so nothing is left behind), last figures, the exit message. */
function shutdown(reason: ExitReason, code = 0, message?: string): void {
  if (exiting) return
  exiting = true
  if (message !== undefined) emit({type: 'error', message})
  if (running) emit(progressMessage(running))
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup()
    } catch { /* best effort: the others must still run */ }
  }
  emit({type: 'exit', reason, t: Date.now()})
  process.exit(code)
}

function progressMessage(stressor: RunningStressor) {
  const usage = process.cpuUsage()
  return {
    type: 'progress' as const,
    t: Date.now(),
    cpuSeconds: (usage.user + usage.system) / 1e6,
    rssBytes: process.memoryUsage.rss(),
    ...stressor.figures(),
  }
}

function parseArgsOrExit(): StressorArgs {
  try {
    return parseStressorArgv(process.argv.slice(2))
  } catch (error) {
    shutdown('error', error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE, errorMessage(error))
    throw error
  }
}


/** The kind's work, from the table; its module is imported only now, after joining the cgroups, so that its memory is charged there too. */
function startKind<K extends StressorKind>(kind: K, params: StressorParamsByKind[K], ctx: StressorContext): Promise<RunningStressor> {
  const entry = STRESSOR_KINDS[kind] as {start(params: StressorParamsByKind[K], ctx: StressorContext): Promise<RunningStressor>}
  return entry.start(params, ctx)
}

async function main(): Promise<void> {
  const args = parseArgsOrExit()
  process.title = stressorTitle(args.kind, args.runId)
  for (const dir of args.cgroups) {
    try {
      joinCgroup(dir, process.pid)
    } catch (error) {
      return shutdown('error', EXIT_FAILURE, `cannot join cgroup ${dir}: ${errorMessage(error)}`)
    }
  }
  process.on('uncaughtException', (error) => shutdown('error', EXIT_FAILURE, errorMessage(error)))
  process.on('unhandledRejection', (error) => shutdown('error', EXIT_FAILURE, errorMessage(error)))
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown('signal'))
  armDeadman({deadline: args.deadline, parent: args.parent, stdin: process.stdin, onTrip: (reason) => shutdown(reason)})

  const ctx: StressorContext = {
    runId: args.runId,
    deadline: args.deadline,
    onExit: (cleanup) => { cleanups.push(cleanup) },
    finish: (reason, message) => shutdown(reason, reason === 'error' ? EXIT_FAILURE : 0, message),
  }
  let stressor: RunningStressor
  try {
    stressor = await startKind(args.kind, args.params, ctx)
  } catch (error) {
    return shutdown('error', EXIT_FAILURE, errorMessage(error))
  }
  if (exiting) return
  running = stressor
  const report = () => {
    // nobody reads our stdout any more: the toolkit is gone
    if (!emit(progressMessage(stressor))) shutdown('parent-gone')
  }
  if (!emit({type: 'ready', pid: process.pid, ...(stressor.port === undefined ? {} : {port: stressor.port})})) return shutdown('parent-gone')
  report()
  // ref'd on purpose: this timer is what keeps a stressor that has finished its work holding it until told to stop
  setInterval(report, PROGRESS_MS)
}

void main()
