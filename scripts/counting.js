// What the counting scripts share (repeat-experiments.js counts verdicts of `chaos run`, calibrate-experiments.js
// counts A/A runs of `chaos calibrate`): which files, the busy machine beside them, and host files pointed at a
// loopback sshd. Each count is only comparable with another if they were made the same way, so the way is here once.
import {execFileSync, spawn} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

/** Every Experiment (not a game-day suite) directly in this directory: the process platform's by default. */
export function experimentFiles(dir = 'experiments') {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml') && /^kind: Experiment$/m.test(readFileSync(join(dir, f), 'utf8'))).sort().map((f) => join(dir, f))
}

/**
 * `stress-ng --cpu 1 --cpu-load 50` at normal priority for as long as this process lives: the busy machine the
 * verdict issue asks about. Exits 2 when stress-ng is missing, before anything is run. Returns its stop.
 * onSignal: what SIGINT and SIGTERM do (by default exit, which stops the load).
 */
export function startBackgroundLoad(onSignal = exitOnSignal) {
  try {
    execFileSync('stress-ng', ['--version'], {stdio: 'ignore'})
  } catch {
    console.error('--load needs stress-ng (apt-get install stress-ng)')
    process.exit(2)
  }
  const background = spawn('stress-ng', ['--cpu', '1', '--cpu-load', '50', '--timeout', '0'], {stdio: 'ignore'})
  const stop = () => background.kill('SIGTERM')
  process.on('exit', stop)
  onSignals(onSignal)
  return stop
}

const exitOnSignal = () => process.exit(130)
let signalHandler
/** one handler for SIGINT and SIGTERM, however many helpers ask for one */
export function onSignals(handler) {
  if (signalHandler) return
  signalHandler = handler
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => signalHandler(signal))
}

/**
 * The runs of a count, one at a time, each in a process group of its own, so that an interrupt reaches it once and
 * from here: this script's SIGINT or SIGTERM (Ctrl-C, or a kill of its pid) is passed on to the run under way as
 * one SIGINT, on which chaos removes its fault, rolls back and writes its journal, and the count starts nothing
 * after it. (Runs made with execFileSync block the event loop, so a handler, --load's among them, waited for the run
 * to end and the next one started; without a handler the script died at once and left its run going.) Call it
 * before startBackgroundLoad or runPaths: the first handler asked for is the one that acts.
 */
export function interruptibleRuns() {
  let current
  let interrupted = false
  onSignals(() => {
    interrupted = true
    current?.kill('SIGINT')
  })
  return {
    interrupted: () => interrupted,
    /** `node args...` to its end: its exit status (null when killed), the signal that killed it, its output */
    run(args, {timeoutMs = 300_000, onStdout, onStderr} = {}) {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe'], detached: true})
        current = child
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (chunk) => {
          stdout += chunk
          onStdout?.(chunk)
        })
        child.stderr.on('data', (chunk) => {
          stderr += chunk
          onStderr?.(chunk)
        })
        // a run that hangs is interrupted as a user would, so it still rolls back
        const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs)
        child.on('close', (status, signal) => {
          clearTimeout(timer)
          current = undefined
          resolve({status, signal, stdout, stderr})
        })
      })
    },
  }
}

/**
 * Where each file is run from: itself, or with ssh a copy of a host experiment pointed at a throwaway sshd on
 * loopback (scripts/loopback-sshd.js), as the tests do. Returns the map and the sshd's stop (a no-op without ssh).
 * onSignal as for startBackgroundLoad.
 */
export async function runPaths(files, ssh, onSignal = exitOnSignal) {
  const paths = new Map(files.map((f) => [f, f]))
  if (!ssh) return {paths, stop: () => {}}
  const {pointAt, startLoopbackSshd} = await import('./loopback-sshd.js')
  const sshd = await startLoopbackSshd()
  process.on('exit', () => sshd.stop())
  onSignals(onSignal)
  for (const f of files) paths.set(f, pointAt(f, sshd))
  console.log(`--ssh: sshd on 127.0.0.1:${sshd.port}; host experiments run from copies in ${sshd.dir}`)
  return {paths, stop: () => sshd.stop()}
}

/** The usual flags of a counting script, taken out of args: [N] --load --ssh --out X. */
export function countingArgs(args, defaultTimes) {
  const flag = (name) => {
    const i = args.indexOf(name)
    if (i >= 0) args.splice(i, 1)
    return i >= 0
  }
  const option = (name) => {
    const i = args.indexOf(name)
    if (i < 0) return undefined
    const [, value] = args.splice(i, 2)
    return value
  }
  const load = flag('--load')
  const ssh = flag('--ssh')
  const out = option('--out')
  const times = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : defaultTimes
  return {load, ssh, out, times, files: args.length ? args : experimentFiles()}
}
