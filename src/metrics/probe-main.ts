// Entry of the probe process: `node dist/metrics/probe-main.js --interval MS`, spawned by remote-probe.ts with an
// IPC channel. It hosts a run's HTTP probes in an event loop of its own, so the run loop's stalls (spawning and
// stopping stressors, cgroup work) never delay a send or the reading of a response. Records go back in batches
// every BATCH_MS; every interval, how late the instrument itself was (send lateness, event-loop delay). It ends
// when the toolkit disconnects, which is also what the kernel does for it when the toolkit dies.
import {monitorEventLoopDelay} from 'node:perf_hooks'
import {HttpProbe, type ProbeRecord} from './probe.js'
import {packRecord, type FromProbeProcess, type InstrumentInterval, type PackedRecord, type ToProbeProcess} from './probe-protocol.js'

const BATCH_MS = 100
/** the loop-delay sampler's timer period: fine enough to see a 25 ms stall, cheap at 50 wake-ups a second */
const LOOP_RESOLUTION_MS = 20

type Lag = Omit<InstrumentInterval, 'lagged'>

function parseInterval(argv: string[]): number {
  const at = argv.indexOf('--interval')
  const value = at >= 0 ? Number(argv[at + 1]) : Number.NaN
  if (!(value > 0)) {
    process.stderr.write('usage: probe-main.js --interval MS (with an IPC channel)\n')
    process.exit(2)
  }
  return value
}

const intervalMs = parseInterval(process.argv)
if (!process.send) {
  process.stderr.write('probe-main.js needs an IPC channel (spawn it with stdio "ipc")\n')
  process.exit(2)
}

const say = (message: FromProbeProcess) => {
  if (process.connected) process.send!(message)
}

interface Hosted {
  probe: HttpProbe
  pending: PackedRecord[]
}
const probes = new Map<number, Hosted>()

/** lag per interval, keyed by its start; reported when it closes, again if a late send lands in it afterwards */
const lagOf = new Map<number, Lag>()
const intervalStart = (epochMs: number) => Math.floor(epochMs / intervalMs) * intervalMs
function lagAt(epochMs: number): Lag {
  const from = intervalStart(epochMs)
  let lag = lagOf.get(from)
  if (!lag) {
    lag = {from, to: from + intervalMs, maxSendLagMs: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0}
    lagOf.set(from, lag)
  }
  return lag
}
const late: Lag[] = []

function counts(probe: HttpProbe) {
  const {sent, inFlight, meanSendLagMs, maxSendLagMs} = probe.stats()
  return {sent, inFlight, meanSendLagMs, maxSendLagMs}
}

function start(id: number, spec: Extract<ToProbeProcess, {type: 'start'}>['spec']): void {
  const pending: PackedRecord[] = []
  const probe = new HttpProbe({
    ...spec,
    onRecord: (record: ProbeRecord) => pending.push(packRecord(record)),
    onSend: (scheduledEpoch, lagMs) => {
      const lag = lagAt(scheduledEpoch)
      if (lagMs > lag.maxSendLagMs) {
        lag.maxSendLagMs = lagMs
        // a send this late into an interval already reported: report it again
        if (reported.has(lag.from) && !late.includes(lag)) late.push(lag)
      }
    },
  })
  probes.set(id, {probe, pending})
  probe.start()
}

async function stop(id: number): Promise<void> {
  const hosted = probes.get(id)
  if (!hosted) return
  await hosted.probe.stop()
  probes.delete(id)
  say({type: 'stopped', id, records: hosted.pending.splice(0), counts: counts(hosted.probe)})
}

process.on('message', (message: ToProbeProcess) => {
  try {
    if (message.type === 'start') start(message.id, message.spec)
    else if (message.type === 'stop') void stop(message.id)
  } catch (error) {
    say({type: 'error', id: message.id, message: (error as Error).message})
  }
})
// the toolkit is done with us, or died: nothing here may outlive it
process.on('disconnect', () => process.exit(0))

setInterval(() => {
  for (const [id, hosted] of probes) {
    if (hosted.pending.length > 0) say({type: 'batch', id, records: hosted.pending.splice(0), counts: counts(hosted.probe)})
  }
  if (late.length > 0) say({type: 'lag', intervals: late.splice(0)})
}, BATCH_MS)

const loopDelay = monitorEventLoopDelay({resolution: LOOP_RESOLUTION_MS})
loopDelay.enable()
const reported = new Set<number>()
let lastClose = Date.now()
/**
 * Closes the interval that just ended: its loop delay joins the send lag already noted, and it is reported. A
 * stall that held this timer past the boundary is charged to every interval it reached into.
 */
function closeInterval(): void {
  const now = Date.now()
  const p99 = loopDelay.count > 0 ? Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : 0
  const max = loopDelay.count > 0 ? Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS) : 0
  loopDelay.reset()
  const closed: Lag[] = []
  for (let from = intervalStart(lastClose); from <= intervalStart(now - LOOP_RESOLUTION_MS - 1); from += intervalMs) {
    const lag = lagAt(from)
    lag.loopDelayP99Ms = Math.max(lag.loopDelayP99Ms, p99)
    lag.loopDelayMaxMs = Math.max(lag.loopDelayMaxMs, max)
    reported.add(from)
    closed.push(lag)
  }
  lastClose = now
  if (closed.length > 0) say({type: 'lag', intervals: closed})
  // forget what no late send can reach any more (a send is at most a timeout late, far less than this)
  for (const from of lagOf.keys()) {
    if (from < now - 120 * intervalMs) {
      lagOf.delete(from)
      reported.delete(from)
    }
  }
  setTimeout(closeInterval, intervalStart(now) + intervalMs - Date.now() + 1)
}
setTimeout(closeInterval, intervalStart(Date.now()) + intervalMs - Date.now() + 1)
