// Row 3: disk fill, on the filesystem of the temp dir (the machine's root disk). The toolkit's disk stressor in
// write mode (unbounded) against dd if=/dev/zero bs=1M oflag=direct, both timed the same way: the file's size
// polled about every millisecond (a timer, not a spin, so the poller does not take a core from the writer), speed = bytes written between the first and the last poll / that time (so
// process start-up is not counted for either). Bytes: the file's size when the stressor reports it is done.
// Instant mode: the stressor in fallocate mode, from spawn to ready (its start-up included), against
// `fallocate -l` from spawn to exit.
import {rmSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fillFileName} from '../../../dist/stressors/names.js'
import {atLeastShareOf, MiB, now, sleep, waitFor, within} from '../lib.js'

function sizeOf(file) {
  try {
    return statSync(file).size
  } catch {
    return -1
  }
}

/** Polls a file's size until it reaches bytes; the write speed between the first and the last observation. */
async function timeFill(file, bytes, timeoutMs = 60_000) {
  let first
  const started = now()
  for (;;) {
    const size = sizeOf(file)
    const t = now()
    if (size > 0 && first === undefined) first = {t, size}
    if (size >= bytes) return {bytesPerSecond: (size - first.size) / ((t - first.t) / 1000), seconds: (t - first.t) / 1000}
    if (t - started > timeoutMs) throw new Error(`${file} reached only ${size} of ${bytes} bytes in ${timeoutMs} ms`)
    // ~1 ms: fine enough for fills of hundreds of ms, and the poller does not take a core from the writer
    await sleep(1)
  }
}

export async function run({tracker, pick, peers, log}) {
  const repeats = pick({smoke: 1, quick: 1, full: 3})
  const instantRepeats = pick({smoke: 1, quick: 3, full: 7})
  const bytes = pick({smoke: 32, quick: 256, full: 1024}) * MiB
  const dir = tracker.tempDir()
  const exact = []
  const speed = {ours: [], dd: []}
  const instant = {ours: [], fallocate: [], startup: []}
  const notes = []

  const ours = async () => {
    const handle = tracker.stressor('disk', {dir, bytes, mode: 'write'})
    const file = fillFileName(dir, handle.args.runId)
    await handle.ready
    const fill = await timeFill(file, bytes)
    await waitFor('the stressor to report the fill', () => (handle.latest()?.bytes ?? 0) >= bytes || handle.latest()?.full, 10_000, 20)
    const size = sizeOf(file)
    exact.push(size / bytes)
    speed.ours.push(fill.bytesPerSecond / 1e9)
    await handle.stop()
    const gone = sizeOf(file) < 0
    log(`chaos wrote ${size} bytes of ${bytes} at ${(fill.bytesPerSecond / 1e9).toFixed(2)} GB/s; file ${gone ? 'removed' : 'STILL THERE'} after stop`)
    if (!gone) rmSync(file, {force: true})
  }
  const dd = async () => {
    const file = join(dir, 'dd.out')
    const child = tracker.child('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${bytes / MiB}`, 'oflag=direct'])
    const fill = await timeFill(file, bytes)
    const done = await child.done
    const own = /copied, ([\d.]+) s/.exec(done.stderr)
    speed.dd.push(fill.bytesPerSecond / 1e9)
    log(`dd wrote at ${(fill.bytesPerSecond / 1e9).toFixed(2)} GB/s (its own report: ${own ? (bytes / Number(own[1]) / 1e9).toFixed(2) : '?'} GB/s)`)
    rmSync(file, {force: true})
  }

  for (let r = 0; r < repeats; r++) {
    // alternate the order, so neither always writes right after the other's file was discarded
    if (r % 2 === 0) {
      await ours()
      if (peers.dd.present) await dd()
    } else {
      if (peers.dd.present) await dd()
      await ours()
    }
    await sleep(200)
  }

  for (let r = 0; r < instantRepeats; r++) {
    {
      const t0 = now()
      const handle = tracker.stressor('disk', {dir, bytes, mode: 'fallocate'})
      await handle.ready
      const ms = now() - t0
      const size = sizeOf(fillFileName(dir, handle.args.runId))
      if (size !== bytes) throw new Error(`fallocate mode left ${size} bytes, asked ${bytes}`)
      await handle.stop()
      instant.ours.push(ms)
    }
    {
      // the same stressor with nothing to allocate: its start-up alone
      const t0 = now()
      const handle = tracker.stressor('disk', {dir, bytes: 0, mode: 'fallocate'})
      await handle.ready
      instant.startup.push(now() - t0)
      await handle.stop()
    }
    if (peers.fallocate.present) {
      const file = join(dir, 'fallocate.out')
      const t0 = now()
      const done = await tracker.child('fallocate', ['-l', String(bytes), file]).done
      const ms = now() - t0
      if (done.code !== 0) throw new Error(`fallocate failed: ${done.stderr}`)
      instant.fallocate.push(ms)
      rmSync(file, {force: true})
    }
  }
  const startup = instant.startup.sort((a, b) => a - b)[instant.startup.length >> 1]

  const lines = [
    {
      what: `disk fill: bytes written / asked (${bytes / MiB} MiB, write mode)`,
      unit: 'ratio',
      ours: exact,
      peer: '-',
      goal: 'within 1%',
      check: within(0.01),
    },
    {
      what: `disk fill: unbounded write speed (${bytes / MiB} MiB, O_DIRECT 1 MiB writes)`,
      unit: 'GB/s',
      ours: speed.ours,
      peer: peers.dd.present ? speed.dd : 'peer absent',
      ratio: 'ours/peer',
      goal: '>= 80% of dd',
      check: atLeastShareOf(0.8, 'dd'),
    },
    {
      what: `disk fill: instant mode (fallocate ${bytes / MiB} MiB), spawn → ready`,
      unit: 'ms',
      ours: instant.ours,
      peer: peers.fallocate.present ? instant.fallocate : 'peer absent',
      ratio: 'ours/peer',
      goal: '-',
    },
  ]
  notes.push(`${repeats} run(s) of each fill, ${instantRepeats} of each instant fill; the toolkit's instant time includes its stressor's start-up (node, median ${startup.toFixed(0)} ms with nothing to allocate); fallocate's is one short C process`)
  return {lines, notes}
}
