// The toolkit's side of a stressor: spawn it, read its JSON lines, stop it. The stressor's stdin is a pipe
// that the toolkit never writes to and never closes: when the toolkit dies, however it dies, the kernel closes
// it, and the stressor's dead-man's switch ends it.
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync, unlinkSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {joinCgroup} from './join.js'
import {lineSplitter, type StressorExitReason, type StressorProgress, StressorMessages, type StressorReady} from './messages.js'
import {STRESSOR_TITLE} from './kinds.js'
import {fileOfStressor} from './names.js'
import {stressorArgv, type StressorArgs, type StressorKind, type StressorMessage} from './protocol.js'

export type {StressorExitReason, StressorProgress, StressorReady} from './messages.js'

export interface StressorExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** why the stressor said it ended; missing when it was killed or could not write */
  reason?: StressorExitReason
  /** SIGKILL that stop() did not send: the OOM killer, most likely (the expected end of a memory stressor over its limit) */
  killedBy?: 'oom-or-sigkill'
  /** stop() had to escalate to SIGKILL */
  forced?: boolean
  /** the stressor's error message, or why it could not be started */
  error?: string
}

export interface StressorHandle {
  readonly args: StressorArgs
  /** pid of the spawned process (with a command prefix such as `ip netns exec`, the prefix's, until it execs) */
  readonly pid: number | undefined
  /** resolves on the ready message; rejects if the stressor ends first */
  readonly ready: Promise<StressorReady>
  /** the last progress message, if any */
  latest(): StressorProgress | undefined
  /** every message as it arrives; returns the unsubscribe function */
  onMessage(listener: (message: StressorMessage) => void): () => void
  /** SIGTERM, then SIGKILL after 1 s; resolves when it has exited */
  stop(): Promise<StressorExit>
  readonly exited: Promise<StressorExit>
  /** the end of its stderr, for diagnostics */
  stderr(): string
}

export interface SpawnStressorOptions {
  /** a prefix to run the stressor under, e.g. ['ip', 'netns', 'exec', NS] */
  command?: string[]
  /** added to the toolkit's environment */
  env?: NodeJS.ProcessEnv
  /** the compiled entry; defaults to stressorEntry() */
  entry?: string
}

const STOP_GRACE_MS = 1000
const STDERR_KEEP = 8192

/**
 * dist/stressors/main.js. Stressors always run compiled: from dist this is the sibling main.js; from the
 * TypeScript source (vitest) it is ../../dist/stressors/main.js, which `npm test` builds first.
 */
export function stressorEntry(): string {
  const here = fileURLToPath(import.meta.url)
  return here.endsWith('.ts')
    ? fileURLToPath(new URL('../../dist/stressors/main.js', import.meta.url))
    : fileURLToPath(new URL('./main.js', import.meta.url))
}

export function spawnStressor(args: StressorArgs, opts: SpawnStressorOptions = {}): StressorHandle {
  const argv = [...(opts.command ?? []), process.execPath, opts.entry ?? stressorEntry(), ...stressorArgv(args)]
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {...process.env, ...opts.env},
  })
  // into the target's box at once, before Node has booted: the stressor joins it again itself (and fails loudly if
  // it cannot); until then its start-up would run in the toolkit's box, whose high CPU weight preempts the
  // neighbours. A prefix command (nsenter, a container's exec) is moved with it and its child follows.
  if (child.pid !== undefined) {
    for (const dir of args.cgroups) {
      try {
        joinCgroup(dir, child.pid)
      } catch {
        // not reachable from here (another host's or a container's path): the stressor's own join decides
      }
    }
  }
  const said = new StressorMessages()
  let stderrTail = ''
  let stopping = false
  let forced = false

  const lines = lineSplitter((line) => {
    let message: StressorMessage
    try {
      message = JSON.parse(line) as StressorMessage
    } catch {
      return // not ours: a prefix command's chatter
    }
    said.handle(message)
  })
  const stdoutDone = new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (text: string) => lines.push(text))
    child.stdout.on('close', resolve)
    child.stdout.on('error', () => resolve())
  })
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderrTail = (stderrTail + text).slice(-STDERR_KEEP)
  })
  // our end of the dead-man's pipe: never written, and errors (the stressor gone) are no news
  child.stdin.on('error', () => undefined)

  const exited = new Promise<StressorExit>((resolve) => {
    let spawnError: Error | undefined
    child.once('error', (error) => {
      spawnError = error
      // never spawned: no 'exit' will follow
      if (child.pid === undefined) finish(null, null)
    })
    child.once('exit', (code, signal) => {
      // the last lines may still be in the pipe; a grandchild holding it open must not hold us up
      const grace = new Promise((r) => setTimeout(r, 1000).unref())
      void Promise.race([stdoutDone, grace]).then(() => finish(code, signal))
    })
    let finished = false
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return
      finished = true
      child.stdin.destroy()
      const exit: StressorExit = {code, signal}
      if (said.exitReason) exit.reason = said.exitReason
      if (signal === 'SIGKILL' && !stopping) exit.killedBy = 'oom-or-sigkill'
      if (forced) exit.forced = true
      const error = said.lastError ?? spawnError?.message
      if (error !== undefined) exit.error = error
      // a disk or I/O stressor killed outright cannot delete its file; only if it made it (ready) is it ours to delete
      const file = fileOfStressor(args.kind, args.params, args.runId)
      if (signal === 'SIGKILL' && said.wasReady && file !== undefined) {
        try {
          unlinkSync(file)
        } catch { /* not there */ }
      }
      said.neverReady(new Error(`stressor ${args.kind} ended before it was ready (${describeExit(exit)})${stderrTail ? `: ${stderrTail.trim()}` : ''}`))
      resolve(exit)
    }
  })

  let ended = false
  void exited.then(() => { ended = true })

  return {
    args,
    pid: child.pid,
    ready: said.ready,
    exited,
    latest: () => said.latest,
    onMessage: (listener) => said.onMessage(listener),
    stderr: () => stderrTail,
    async stop() {
      if (ended || child.pid === undefined) return exited
      stopping = true
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const escalate = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) {
          forced = true
          child.kill('SIGKILL')
        }
      }, STOP_GRACE_MS)
      try {
        return await exited
      } finally {
        clearTimeout(escalate)
      }
    },
  }
}

export function describeExit(exit: StressorExit): string {
  const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`
  return [how, exit.reason && `reason ${exit.reason}`, exit.killedBy, exit.error].filter(Boolean).join(', ')
}

export interface StressorProcess {
  pid: number
  kind: StressorKind
  runId: string
}

/** Stressor processes on this machine (by the title they give themselves), e.g. to clean up after a crash. */
export function listStressorProcesses(): StressorProcess[] {
  const found: StressorProcess[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0+/g, ' ')
    } catch {
      continue // gone meanwhile
    }
    const match = STRESSOR_TITLE.exec(cmdline)
    if (match) found.push({pid: Number(entry), kind: match[1] as StressorKind, runId: match[2]})
  }
  return found
}
