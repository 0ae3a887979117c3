// One workflow on the process platform: a managed process started inside its box (or none), or an attached one.
import {setTimeout as sleep} from 'node:timers/promises'
import {type ChildProcess, spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {IsolationSpec, NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import type {Cgroup, CgroupLimits} from '../../host/cgroupfs.js'
import {allowanceOf} from '../../host/cpus.js'
import {netnsPrefix} from '../../host/netns.js'
import {readCgroupSample, readProcessSample, sharedBoxFigures} from '../../metrics/resources.js'
import type {ResourceSample} from '../../metrics/types.js'
import {type Allowance, PlanError, type WorkflowHandle} from '../platform.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'run.js')

// Joins every cgroup directory given before `--`, then becomes the workflow: the process is in its box from its
// first instruction, so every byte it allocates is charged there. Arguments are positional, never interpolated.
const JOIN_AND_EXEC = 'while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"'

export interface ProcessWorkflowOptions {
  spec: TargetSpec | NeighborSpec
  role: 'target' | 'neighbor'
  level: IsolationSpec['level']
  box?: Cgroup
  limits?: CgroupLimits
  netns?: string
  volumes: Map<string, string>
  /** the run's own directory, removed at teardown: a home for the workflow's scratch files */
  runDir: string
  /** cgroup dirs a workflow without a box joins (the roots), so it never inherits the toolkit's own box */
  unboxedDirs: string[]
}

export class ProcessWorkflow implements WorkflowHandle {
  readonly name: string
  readonly role: 'target' | 'neighbor'
  readonly spec: TargetSpec | NeighborSpec
  readonly box?: Cgroup
  private child?: ChildProcess
  private stopping = false
  /** when each unexpected exit was heard of (the child's exit event, at once: no engine between) */
  private readonly exitedAt: number[] = []
  private lastExitText?: string
  private stderrTail = ''

  constructor(private readonly options: ProcessWorkflowOptions) {
    this.name = options.spec.name
    this.role = options.role
    this.spec = options.spec
    this.box = options.box
  }

  get boundary(): string {
    if (this.spec.run === undefined) return this.box ? `attached, cgroup /${this.box.relativePath}` : 'attached'
    if (this.options.level === 'none') return 'none: no box'
    return `${this.options.level}: cgroup /${this.box?.relativePath}${this.options.netns ? `, netns ${this.options.netns}` : ''}`
  }

  get pid(): number | undefined {
    return this.child?.pid ?? this.spec.pid
  }

  allowance(): Allowance {
    return allowanceOf(this.options.limits)
  }

  /** Starts a managed workflow; returns its pid (undefined for attached ones). */
  start(): number | undefined {
    const {run} = this.spec
    if (run === undefined) return undefined
    const argv = run.map((arg) => this.substitute(arg))
    const command = argv[0] === 'chaos' ? [process.execPath, BIN, ...argv.slice(1)] : argv
    const prefix = this.options.netns ? netnsPrefix(this.options.netns) : []
    // setpriv's parent-death signal: a managed workflow dies with the toolkit, even when the toolkit is SIGKILLed
    const launcher = [...prefix, 'setpriv', '--pdeathsig', 'KILL', '--', '/bin/sh', '-c', JOIN_AND_EXEC, 'chaos-launch', ...(this.box?.dirs() ?? this.options.unboxedDirs), '--', ...command]
    const env = {...process.env, ...Object.fromEntries(Object.entries(this.spec.env ?? {}).map(([k, v]) => [k, this.substitute(v)]))}
    this.child = spawn(launcher[0], launcher.slice(1), {cwd: this.spec.cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    this.child.stdout!.on('data', () => { /* drained so the workflow never blocks on a full pipe */ })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000)
    })
    this.child.on('exit', (code, signal) => {
      if (this.stopping) return
      this.exitedAt.push(Date.now())
      this.lastExitText = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ' (OOM killer or kill -9)' : ''}` : `exited with code ${code}`
    })
    return this.child.pid
  }

  private substitute(text: string): string {
    return text.replaceAll('${run.dir}', this.options.runDir).replace(/\$\{volumes\.([a-z0-9-]+)\}/g, (whole, name: string) => {
      const dir = this.options.volumes.get(name)
      if (!dir) throw new PlanError(`${this.name}: ${whole} names a volume the experiment does not declare`)
      return dir
    })
  }

  /** Waits until the workflow answers (its ready URL, else its probe or metrics URL), or fails with its own words. */
  async waitReady(): Promise<void> {
    if (this.spec.run === undefined) return
    const neighbor = this.spec as NeighborSpec
    const url = this.spec.ready?.http ?? neighbor.probe?.http.url ?? neighbor.metrics
    const timeout = this.spec.ready?.timeout ?? 15_000
    const deadline = Date.now() + timeout
    while (Date.now() < deadline) {
      if (this.exitedAt.length > 0) throw new PlanError(`${this.name} ended before it was ready (${this.lastExitText}): ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}`, 4)
      if (url === undefined) {
        await sleep(300)
        if (this.exitedAt.length === 0) return
        continue
      }
      try {
        const response = await fetch(url, {signal: AbortSignal.timeout(1000)})
        await response.arrayBuffer()
        if (response.status < 500) return
      } catch { /* not listening yet */ }
      await sleep(100)
    }
    throw new PlanError(`${this.name} did not answer at ${url} within ${timeout / 1000}s`, 4)
  }

  sample(): ResourceSample {
    const pid = this.pid
    if (this.box && (this.options.level === 'cgroup' || this.spec.run === undefined)) return readCgroupSample(this.box.paths())
    const own = pid !== undefined ? readProcessSample(pid) : {t: Date.now()}
    if (this.box) {
      // in a shared box, CPU throttling, OOM kills and the pids budget are the box's: every member feels them
      return sharedBoxFigures(own, readCgroupSample(this.box.paths()))
    }
    return own
  }

  unexpectedExits(): number {
    return this.exitedAt.length
  }

  exitTimes(): readonly number[] {
    return this.exitedAt
  }

  lastExit(): string | undefined {
    return this.lastExitText
  }

  async stop(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    this.stopping = true
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
}

