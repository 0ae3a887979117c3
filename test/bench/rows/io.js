// Row 10: disk I/O saturation (issue 16's io-saturation), on the disk of the temp dir (the machine's root disk; a
// temp dir on tmpfs is refused: no disk). Both writers in a box of their own that counts its I/O on the disk (the
// toolkit's never-binding rule on cgroup v1), both measured the same way: the box's written bytes polled about every
// 5 ms from its first counted write until it counted `bytes`, speed = bytes counted between those polls / that time
// (start-up not counted for either), which is the reading the fault's dose is proven from.
// - Ours: the io stressor, unbounded, 1 MiB direct writes over a working file, one in flight (dd's own queue depth,
//   the like-for-like line) and eight (the fault's default).
// - Peer: dd if=/dev/zero bs=1M oflag=direct, `bytes` into a new file.
// - Rated: ours asked for 50 MiB/s at depth 8: counted by the box per second / asked.
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {blockDeviceOf} from '../../../dist/host/blockdev.js'
import {readCgroupSample} from '../../../dist/metrics/resources.js'
import {atLeastShareOf, MiB, now, sleep, within} from '../lib.js'

/** Polls the box's written bytes on the disk until they reach `bytes`; the speed between the first counted write and then. */
async function timeWrites(box, device, bytes, timeoutMs = 120_000) {
  const written = () => readCgroupSample(box.paths()).io?.[device]?.writeBytes ?? 0
  const started = now()
  let first
  for (;;) {
    const n = written()
    const t = now()
    if (n > 0 && first === undefined) first = {t, n}
    if (n >= bytes && first !== undefined) return {bytesPerSecond: (n - first.n) / ((t - first.t) / 1000), seconds: (t - first.t) / 1000}
    if (t - started > timeoutMs) throw new Error(`the box counted only ${n} of ${bytes} bytes in ${timeoutMs} ms`)
    await sleep(5)
  }
}

export async function run({tracker, pick, peers, log}) {
  const repeats = pick({smoke: 1, quick: 2, full: 3})
  const bytes = pick({smoke: 64, quick: 512, full: 2048}) * MiB
  const fileBytes = pick({smoke: 16, quick: 256, full: 256}) * MiB
  const rate = 50 * MiB
  const rateSeconds = pick({smoke: 1, quick: 3, full: 5})
  const dir = tracker.tempDir()
  const device = blockDeviceOf(dir).id
  const speed = {depth1: [], depth8: [], dd: []}
  const rateRatio = []

  const countingBox = () => {
    const box = tracker.box({})
    box.countIo(device)
    return box
  }
  const ours = async (depth) => {
    const box = countingBox()
    const handle = tracker.stressor('io', {dir, bytes: fileBytes, blockSize: MiB, depth}, {cgroups: box.dirs(), deadlineMs: 120_000})
    await handle.ready
    const timed = await timeWrites(box, device, bytes)
    await handle.stop()
    await tracker.removeBox(box)
    log(`chaos io, depth ${depth}: ${(timed.bytesPerSecond / 1e9).toFixed(2)} GB/s over ${timed.seconds.toFixed(2)} s (counted by its box on ${device})`)
    return timed.bytesPerSecond / 1e9
  }
  const dd = async () => {
    const box = countingBox()
    const file = join(dir, 'dd.out')
    const child = tracker.child('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${bytes / MiB}`, 'oflag=direct'], {box})
    const timed = await timeWrites(box, device, bytes)
    await child.done
    rmSync(file, {force: true})
    await tracker.removeBox(box)
    log(`dd oflag=direct: ${(timed.bytesPerSecond / 1e9).toFixed(2)} GB/s over ${timed.seconds.toFixed(2)} s (counted by its box)`)
    return timed.bytesPerSecond / 1e9
  }
  const rated = async () => {
    const box = countingBox()
    const read = () => readCgroupSample(box.paths()).io?.[device]?.writeBytes ?? 0
    const handle = tracker.stressor('io', {dir, bytes: fileBytes, blockSize: MiB, depth: 8, rate}, {cgroups: box.dirs(), deadlineMs: 60_000})
    await handle.ready
    // past the token bucket's first burst (a tenth of a second of the rate)
    await sleep(500)
    const from = {t: now(), n: read()}
    await sleep(rateSeconds * 1000)
    const to = {t: now(), n: read()}
    await handle.stop()
    await tracker.removeBox(box)
    const perSecond = (to.n - from.n) / ((to.t - from.t) / 1000)
    log(`chaos io at ${rate / MiB} MiB/s: ${(perSecond / MiB).toFixed(1)} MiB/s counted by its box over ${rateSeconds} s`)
    return perSecond / rate
  }

  for (let r = 0; r < repeats; r++) {
    // alternate the order, so neither always writes right after the other
    const order = r % 2 === 0 ? ['depth1', 'dd', 'depth8'] : ['depth8', 'dd', 'depth1']
    for (const who of order) {
      if (who === 'dd') {
        if (peers.dd.present) speed.dd.push(await dd())
      } else {
        speed[who].push(await ours(who === 'depth1' ? 1 : 8))
      }
      await sleep(200)
    }
    rateRatio.push(await rated())
  }

  return {
    notes: [`${bytes / MiB} MiB per measurement on ${device}, 1 MiB writes; ours over a ${fileBytes / MiB} MiB working file, round and round; dd into a new file (which allocates its blocks as it goes: ours overwrites blocks already allocated, part of why ours is faster at the same depth)`],
    lines: [
      {
        what: `I/O saturation: 1 MiB direct writes, one in flight, counted by the box (vs dd bs=1M oflag=direct)`,
        unit: 'GB/s',
        ours: speed.depth1,
        peer: peers.dd.present ? speed.dd : 'peer absent',
        ratio: 'ours/peer',
        goal: '>= 80% of dd',
        check: atLeastShareOf(0.8, 'dd'),
      },
      {
        what: `I/O saturation: 1 MiB direct writes, eight in flight (the fault's default; vs dd, one in flight)`,
        unit: 'GB/s',
        ours: speed.depth8,
        peer: peers.dd.present ? speed.dd : 'peer absent',
        ratio: 'ours/peer',
        goal: '>= 80% of dd',
        check: atLeastShareOf(0.8, 'dd'),
      },
      {
        what: `I/O saturation at ${rate / MiB} MiB/s, eight in flight: counted by the box / asked`,
        unit: 'ratio',
        ours: rateRatio,
        peer: '-',
        goal: 'within 5%',
        check: within(0.05),
      },
    ],
  }
}
