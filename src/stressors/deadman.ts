// The dead-man's switch: a stressor must never outlive the experiment that started it, whatever happens to
// the toolkit (crash, SIGKILL, OOM kill, a lost terminal). Three independent signs, any one of which ends it:
// the deadline passed, the toolkit process is gone (or we were re-parented, which is how a SIGKILLed parent
// shows up before anyone reaps it), or the stdin pipe from the toolkit closed.

export type DeadmanReason = 'deadline' | 'parent-gone' | 'stdin-closed'

export interface DeadmanProbe {
  /** epoch ms */
  now: number
  parentAlive: boolean
  ppid: number
}

export interface DeadmanLimits {
  /** epoch ms */
  deadline: number
  /** our parent when we started; any change means it died and we were adopted */
  initialPpid: number
}

/** Why the stressor must stop now, or undefined to carry on. */
export function deadmanVerdict(probe: DeadmanProbe, limits: DeadmanLimits): DeadmanReason | undefined {
  if (!probe.parentAlive || probe.ppid !== limits.initialPpid) return 'parent-gone'
  if (probe.now >= limits.deadline) return 'deadline'
  return undefined
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface DeadmanOptions {
  deadline: number
  /** the toolkit's pid (--parent) */
  parent: number
  onTrip(reason: DeadmanReason): void
  intervalMs?: number
  /** the pipe from the toolkit; undefined to not watch it */
  stdin?: NodeJS.ReadableStream
}

export interface Deadman {
  disarm(): void
}

export function armDeadman(options: DeadmanOptions): Deadman {
  const limits: DeadmanLimits = {deadline: options.deadline, initialPpid: process.ppid}
  let tripped = false
  const trip = (reason: DeadmanReason) => {
    if (tripped) return
    tripped = true
    clearInterval(timer)
    options.onTrip(reason)
  }
  const check = () => {
    const reason = deadmanVerdict({now: Date.now(), parentAlive: processAlive(options.parent), ppid: process.ppid}, limits)
    if (reason) trip(reason)
  }
  // unref'd: the switch must never be the thing that keeps a stressor alive
  const timer = setInterval(check, options.intervalMs ?? 100)
  timer.unref()
  const stdin = options.stdin
  const stdinClosed = () => trip('stdin-closed')
  if (stdin) {
    stdin.on('end', stdinClosed)
    stdin.on('close', stdinClosed)
    stdin.on('error', stdinClosed)
    // read and discard, or 'end' never comes
    stdin.resume()
  }
  check()
  return {
    disarm() {
      tripped = true
      clearInterval(timer)
      stdin?.off('end', stdinClosed)
      stdin?.off('close', stdinClosed)
      stdin?.off('error', stdinClosed)
    },
  }
}
