// The toolkit's side of the probe process (probe-main.ts). A RemoteProbe has the surface of an HttpProbe (start,
// stop, records, stats), but its requests are sent and timed in a child process with an event loop of its own:
// the run loop can stall for a second while it starts or stops a fault and no request is sent late or read late
// because of it. Records stream back every ~100 ms, so they are there during the run, and all of them by the time
// stop() resolves. One child hosts every probe of the same interval that runs at the same time; it starts with the
// first probe (after the platform's setup, so it is in the toolkit's own cgroup) and ends with the last.
import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import type {Histogram, Registry} from 'prom-client'
import {outcomeOf, probeHistogram, probeIdentity, RecordStore, type HttpProbeOptions, type ProbeRecord, type ProbeStats} from './probe.js'
import {isLagged, unpackRecord, type FromProbeProcess, type InstrumentInterval, type PackedRecord, type RemoteProbeCounts, type ToProbeProcess} from './probe-protocol.js'

export type {InstrumentInterval} from './probe-protocol.js'

/** An HttpProbe's options (the registry is fed in this process as records arrive), and the instrument's interval. */
export interface RemoteProbeOptions extends Omit<HttpProbeOptions, 'onRecord' | 'onSend'> {
  /** the length of the instrument's lag intervals (the experiment's phases.interval). Default 1000 ms */
  intervalMs?: number
}

/**
 * dist/metrics/probe-main.js. The probe process always runs compiled: from dist this is the sibling file; from the
 * TypeScript source (vitest) it is ../../dist/metrics/probe-main.js, which `npm test` builds first.
 */
export function probeEntry(): string {
  const here = fileURLToPath(import.meta.url)
  return here.endsWith('.ts')
    ? fileURLToPath(new URL('../../dist/metrics/probe-main.js', import.meta.url))
    : fileURLToPath(new URL('./probe-main.js', import.meta.url))
}

/** One probe process and the probes it hosts. */
class ProbeHost {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** why the probe process failed, if it did */
  failure: string | undefined
  private readonly lag = new Map<number, InstrumentInterval>()
  private readonly probes = new Map<number, RemoteProbe>()
  private nextId = 0
  private stderrTail = ''
  /** the probe process has ended */
  gone = false

  constructor(readonly intervalMs: number, private readonly onEmpty: () => void) {
    this.child = spawn(process.execPath, [probeEntry(), '--interval', String(intervalMs)], {stdio: ['ignore', 'ignore', 'pipe', 'ipc']})
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-4096)
    })
    this.child.on('message', (message: FromProbeProcess) => this.receive(message))
    this.exited = new Promise((resolve) => {
      const done = (why: string) => {
        if (this.gone) return
        this.gone = true
        this.failure ??= this.probes.size > 0 ? `the probe process ended early (${why})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}` : undefined
        // no more records will come: whoever waits for theirs has all there will be
        for (const probe of this.probes.values()) probe.settle()
        this.probes.clear()
        resolve()
      }
      this.child.once('exit', (code, signal) => done(signal ?? `exit ${code}`))
      this.child.once('error', (error) => done(error.message))
    })
  }

  host(probe: RemoteProbe): number {
    const id = this.nextId++
    this.probes.set(id, probe)
    return id
  }

  send(message: ToProbeProcess): void {
    if (!this.gone && this.child.connected) this.child.send(message)
  }

  /** The probe is done: when it was the last, the probe process ends (and is waited for: it must leave its cgroup). */
  async release(id: number): Promise<void> {
    this.probes.delete(id)
    if (this.probes.size > 0) return
    this.onEmpty()
    if (this.child.connected) this.child.disconnect()
    await this.exited
  }

  intervals(fromMs: number, toMs: number): InstrumentInterval[] {
    return [...this.lag.values()].filter((i) => i.to > fromMs && i.from < toMs).sort((a, b) => a.from - b.from)
  }

  laggedAt(ms: number): boolean {
    return this.lag.get(Math.floor(ms / this.intervalMs) * this.intervalMs)?.lagged ?? false
  }

  private receive(message: FromProbeProcess): void {
    switch (message.type) {
      case 'batch':
      case 'stopped':
        this.probes.get(message.id)?.receive(message.records, message.counts, message.type === 'stopped')
        break
      case 'lag':
        for (const reading of message.intervals) {
          const known = this.lag.get(reading.from)
          const merged = known
            ? {...known, maxSendLagMs: Math.max(known.maxSendLagMs, reading.maxSendLagMs), loopDelayP99Ms: Math.max(known.loopDelayP99Ms, reading.loopDelayP99Ms), loopDelayMaxMs: Math.max(known.loopDelayMaxMs, reading.loopDelayMaxMs)}
            : {...reading}
          this.lag.set(reading.from, {...merged, lagged: isLagged(merged)})
        }
        break
      case 'error':
        this.failure = message.message
        if (message.id !== undefined) this.probes.get(message.id)?.settle()
        break
    }
  }
}

/** The hosts running now, by interval: the probes a run starts together share one. */
const running = new Map<number, ProbeHost>()

function hostFor(intervalMs: number): ProbeHost {
  let host = running.get(intervalMs)
  if (!host || host.gone) {
    const made = new ProbeHost(intervalMs, () => {
      if (running.get(intervalMs) === made) running.delete(intervalMs)
    })
    running.set(intervalMs, made)
    host = made
  }
  return host
}

export class RemoteProbe {
  readonly url: URL
  readonly rate: number
  readonly timeoutMs: number
  readonly method: 'GET' | 'POST' | 'HEAD'
  readonly neighbor: string
  readonly intervalMs: number
  private readonly maxTickMs: number | undefined
  private readonly kept: RecordStore
  private readonly histogram: Histogram<'neighbor' | 'outcome'> | undefined
  private counts: RemoteProbeCounts = {sent: 0, inFlight: 0, meanSendLagMs: 0, maxSendLagMs: 0}
  private outcomes = {completed: 0, ok: 0, errors: 0, timeouts: 0}
  private state: 'idle' | 'running' | 'stopped' = 'idle'
  private host: ProbeHost | undefined
  private id = -1
  private stopping: Promise<void> | undefined
  private settled: (() => void) | undefined

  constructor(options: RemoteProbeOptions) {
    // the same checks as the probe itself, here, where a bad option can still be reported to the caller
    ;({url: this.url, rate: this.rate, timeoutMs: this.timeoutMs, method: this.method, neighbor: this.neighbor} = probeIdentity(options))
    this.intervalMs = options.intervalMs ?? 1000
    this.maxTickMs = options.maxTickMs
    this.kept = new RecordStore(options.maxRecords)
    this.histogram = options.registry && probeHistogram(options.registry, this.neighbor)
  }

  start(): void {
    if (this.state !== 'idle') throw new Error('a probe starts once')
    this.state = 'running'
    this.host = hostFor(this.intervalMs)
    this.id = this.host.host(this)
    this.host.send({type: 'start', id: this.id, spec: {url: this.url.href, rate: this.rate, timeoutMs: this.timeoutMs, method: this.method, maxTickMs: this.maxTickMs}})
  }

  /** Stops sending; resolves when every record is here (the requests in flight end by their timeout at the latest). */
  stop(): Promise<void> {
    if (this.state === 'idle') this.state = 'stopped'
    if (this.state === 'running') {
      this.state = 'stopped'
      const host = this.host!
      const all = new Promise<void>((resolve) => (this.settled = resolve))
      host.send({type: 'stop', id: this.id})
      if (!host.child.connected) this.settle()
      this.stopping = all.then(() => host.release(this.id))
    }
    return this.stopping ?? Promise.resolve()
  }

  records(fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): ProbeRecord[] {
    return this.kept.between(fromMs, toMs)
  }

  /** The records counted in the histogram (and so in a scrape of it) in [fromMs, toMs), whenever they were sent. */
  recordsObserved(fromMs: number, toMs: number): ProbeRecord[] {
    return this.kept.observedBetween(fromMs, toMs)
  }

  stats(): ProbeStats {
    return {...this.counts, ...this.outcomes, dropped: this.kept.dropped}
  }

  /** How late the instrument was, per interval, over the intervals that overlap [fromMs, toMs). */
  lag(fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): InstrumentInterval[] {
    return this.host?.intervals(fromMs, toMs) ?? []
  }

  /** The instant falls in an interval in which the instrument lagged: its requests' latencies are not the neighbour's alone. */
  laggedAt(ms: number): boolean {
    return this.host?.laggedAt(ms) ?? false
  }

  /** The probe process's pid, once started. */
  processId(): number | undefined {
    return this.host?.child.pid
  }

  /** Why the probe process failed, if it did: its records stop there. */
  failure(): string | undefined {
    return this.host?.failure
  }

  /** @internal records from the probe process */
  receive(packed: PackedRecord[], counts: RemoteProbeCounts, last: boolean): void {
    const observedAt = Date.now()
    for (const p of packed) {
      const record = unpackRecord(p)
      record.observedAt = observedAt
      this.kept.push(record)
      this.outcomes.completed++
      if (record.ok) this.outcomes.ok++
      else this.outcomes.errors++
      if (record.error === 'timeout') this.outcomes.timeouts++
      this.histogram?.observe({neighbor: this.neighbor, outcome: outcomeOf(record)}, record.latencySeconds)
    }
    this.counts = counts
    if (last) this.settle()
  }

  /** @internal no more records will come */
  settle(): void {
    const resolve = this.settled
    this.settled = undefined
    resolve?.()
  }
}
