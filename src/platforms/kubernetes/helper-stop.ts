// `chaos k8s helper-stop --run RUN`: stops the stressor helpers of one run early. The toolkit execs it into the
// ephemeral container that runs the helper (an ephemeral container cannot be removed through the API); with
// targetContainerName it shares the target container's PID namespace, so it sees the target's processes too. It
// signals only processes whose command line is the helper of that run (`... k8s helper ... --run RUN ...`, as the
// platform builds it), never anything else and never PID 1 unless PID 1 is such a helper: SIGTERM, on which the
// helper stops its stressor and exits. It waits for them to be gone and reports what it did as one JSON line.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

export interface HelperProcess {
  pid: number
  /** the helper's --kind */
  kind?: string
}

export interface HelperStopResult {
  type: 'helper-stop'
  run: string
  /** helpers signalled (SIGTERM) */
  stopped: HelperProcess[]
  /** of those, the ones still there after the grace period */
  remaining: number[]
  error?: string
}

/** The run id of a `chaos k8s helper` command line (its argv), or undefined when it is not one. */
export function helperRunOf(argv: string[]): {run: string, kind?: string} | undefined {
  const at = argv.findIndex((a, i) => a === 'k8s' && argv[i + 1] === 'helper')
  // the program (node, or the chaos launcher) comes first: a bare "k8s helper" is not the toolkit
  if (at < 1) return undefined
  let run: string | undefined
  let kind: string | undefined
  for (let i = at + 2; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') break
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = inline ?? argv[i + 1]
    if (name === '--run' || name === '--kind') {
      if (value === undefined) return undefined
      if (name === '--run') run = value
      else kind = value
      if (inline === undefined) i++
    }
  }
  return run === undefined ? undefined : {run, kind}
}

function readArgv(proc: string, pid: number): string[] | undefined {
  try {
    const raw = readFileSync(join(proc, String(pid), 'cmdline'))
    if (raw.length === 0) return undefined // a kernel thread, or a zombie
    return raw.toString('utf8').replace(/\0$/, '').split('\0')
  } catch {
    return undefined // gone
  }
}

/** Whether a process is still there (a zombie is not: it has exited and only waits to be reaped). */
function alive(proc: string, pid: number): boolean {
  try {
    const stat = readFileSync(join(proc, String(pid), 'stat'), 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** The helpers of this run among the processes this one can see (its PID namespace). */
export function findHelpers(runId: string, opts: {kind?: string, proc?: string} = {}): HelperProcess[] {
  const proc = opts.proc ?? '/proc'
  const found: HelperProcess[] = []
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    const argv = readArgv(proc, pid)
    const helper = argv && helperRunOf(argv)
    if (!helper || helper.run !== runId) continue
    if (opts.kind !== undefined && helper.kind !== opts.kind) continue
    found.push({pid, kind: helper.kind})
  }
  return found.sort((a, b) => a.pid - b.pid)
}

/** SIGTERMs the helpers of one run and waits up to graceMs for them to exit. */
export async function stopHelpers(runId: string, opts: {kind?: string, graceMs?: number, proc?: string} = {}): Promise<HelperStopResult> {
  const proc = opts.proc ?? '/proc'
  const result: HelperStopResult = {type: 'helper-stop', run: runId, stopped: [], remaining: []}
  if (!runId) return {...result, error: 'no run id'}
  const helpers = findHelpers(runId, opts)
  for (const h of helpers) {
    // the pid may have been reused between the scan and now: look again right before the signal
    const argv = readArgv(proc, h.pid)
    if (!argv || helperRunOf(argv)?.run !== runId) continue
    try {
      process.kill(h.pid, 'SIGTERM')
      result.stopped.push(h)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ESRCH') continue // it ended by itself meanwhile
      return {...result, error: `cannot signal helper ${h.pid}: ${(error as Error).message}`}
    }
  }
  const until = Date.now() + (opts.graceMs ?? 10_000)
  let remaining = result.stopped.map((h) => h.pid)
  while (remaining.length > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    remaining = remaining.filter((pid) => alive(proc, pid))
  }
  result.remaining = remaining
  if (remaining.length > 0) result.error = `helper${remaining.length > 1 ? 's' : ''} ${remaining.join(', ')} still running ${((opts.graceMs ?? 10_000) / 1000)}s after SIGTERM`
  return result
}
