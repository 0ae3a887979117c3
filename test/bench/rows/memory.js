// Row 2: memory leak. The toolkit's memory stressor (rate R up to N, held) in a box of its own without a limit,
// and stress-ng --vm 1 --vm-bytes N --vm-hang 0 in another. Resident bytes reached: anonymous resident memory
// (RssAnon) of the allocating process once the leak is complete, minus what it had before it began: for the
// stressor, its RssAnon when it reports ready (its first chunk comes 50 ms later); for stress-ng, the RssAnon of
// the process its worker was forked from. (VmRSS would also count code pages of the runtime faulted in as it
// runs, several MiB for node, which are not the leak.) Ramp rate: slope of the box's memory.usage_in_bytes
// between 10% and 90% of the leak, sampled every 10 ms.
import {readFileSync} from 'node:fs'
import {boxMemoryBytes, MiB, now, procStatusBytes, recordProgress, sleep, waitFor, within} from '../lib.js'

function parentOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
}

/** Least-squares slope of bytes over seconds. */
function slope(points) {
  const n = points.length
  if (n < 3) return Number.NaN
  const mx = points.reduce((a, p) => a + p.s, 0) / n
  const my = points.reduce((a, p) => a + p.bytes, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.s - mx) * (p.bytes - my)
    den += (p.s - mx) ** 2
  }
  return num / den
}

/** Samples the box's memory every 10 ms until stop() is called. */
function sampleBox(box) {
  const samples = []
  let running = true
  const loop = (async () => {
    while (running) {
      samples.push({s: now() / 1000, bytes: boxMemoryBytes(box)})
      await sleep(10)
    }
  })()
  return {samples, stop: async () => { running = false; await loop }}
}

function rampRate(samples, base, bytes) {
  return slope(samples.filter((p) => p.bytes >= base + 0.1 * bytes && p.bytes <= base + 0.9 * bytes))
}

export async function run({tracker, pick, peers, log}) {
  const repeats = pick({smoke: 1, quick: 1, full: 3})
  const bytes = pick({smoke: 32, quick: 256, full: 512}) * MiB
  const rate = pick({smoke: 64, quick: 128, full: 128}) * MiB
  const reached = {ours: [], peer: []}
  const ramp = {ours: [], peerSpeed: []}
  const notes = []

  for (let r = 0; r < repeats; r++) {
    // ---- ours
    {
      const box = tracker.box({})
      try {
        const base = boxMemoryBytes(box)
        const sampler = sampleBox(box)
        const handle = tracker.stressor('memory', {rate, limit: bytes, hold: true}, {cgroups: box.dirs()})
        const progress = recordProgress(handle)
        await handle.ready
        const before = procStatusBytes(handle.pid, 'RssAnon')
        await waitFor('the leak to complete', () => (handle.latest()?.bytes ?? 0) >= bytes, 30_000, 20)
        await sleep(400)
        await sampler.stop()
        const held = procStatusBytes(handle.pid, 'RssAnon')
        const boxHeld = boxMemoryBytes(box)
        // the box's level once the runtime is up and before the first chunk: its reading at the first progress message
        const startBox = sampler.samples.filter((p) => p.s * 1000 <= progress[0].at).at(-1)?.bytes ?? base
        await handle.stop()
        reached.ours.push((held - before) / bytes)
        ramp.ours.push(rampRate(sampler.samples, startBox, bytes) / rate)
        log(`repeat ${r + 1}: chaos RssAnon grew ${((held - before) / MiB).toFixed(1)} MiB of ${bytes / MiB} MiB (box +${((boxHeld - startBox) / MiB).toFixed(1)} MiB), ramp ${(ramp.ours.at(-1) * rate / MiB).toFixed(1)} MiB/s of ${rate / MiB}`)
      } finally {
        await tracker.removeBox(box)
      }
    }
    // ---- stress-ng
    if (peers.stressNg.present) {
      const box = tracker.box({})
      try {
        const base = boxMemoryBytes(box)
        const sampler = sampleBox(box)
        const child = tracker.child('stress-ng', ['--vm', '1', '--vm-bytes', String(bytes), '--vm-hang', '0', '-t', '60s', '--quiet'], {box})
        // its largest process is the allocating worker; done when that has stopped growing for 500 ms
        let best = 0
        let bestAt = now()
        await waitFor('stress-ng to finish allocating', () => {
          const top = Math.max(0, ...box.pids().map((pid) => procStatusBytes(pid, 'RssAnon') ?? 0))
          if (top > best + MiB) {
            best = top
            bestAt = now()
          }
          return best > bytes / 2 && now() - bestAt > 500
        }, 30_000, 10)
        await sampler.stop()
        const anon = box.pids().map((pid) => ({pid, anon: procStatusBytes(pid, 'RssAnon') ?? 0})).sort((a, b) => b.anon - a.anon)
        const worker = anon[0]
        const parentAnon = procStatusBytes(parentOf(worker.pid), 'RssAnon') ?? 0
        await tracker.stopChild(child)
        reached.peer.push((worker.anon - parentAnon) / bytes)
        ramp.peerSpeed.push(rampRate(sampler.samples, base, bytes) / MiB)
        log(`repeat ${r + 1}: stress-ng worker RssAnon ${(worker.anon / MiB).toFixed(1)} MiB (the process it was forked from ${(parentAnon / MiB).toFixed(1)} MiB), filled at ${ramp.peerSpeed.at(-1).toFixed(0)} MiB/s`)
      } finally {
        await tracker.removeBox(box)
      }
    }
  }

  const lines = [
    {
      what: `memory leak: resident bytes reached / asked (${bytes / MiB} MiB)`,
      unit: 'ratio',
      ours: reached.ours,
      peer: peers.stressNg.present ? reached.peer : 'peer absent',
      goal: 'within 2%',
      check: within(0.02),
    },
    {
      what: `memory leak: ramp rate / asked (${rate / MiB} MiB/s), from the box's memory.usage_in_bytes`,
      unit: 'ratio',
      ours: ramp.ours,
      peer: peers.stressNg.present ? `no rate option (fills at ${fillSpeed(ramp.peerSpeed)})` : 'peer absent',
      goal: 'within 5%',
      check: within(0.05),
    },
  ]
  notes.push(`${repeats} run(s); ${bytes / MiB} MiB at ${rate / MiB} MiB/s; resident = RssAnon growth of the allocating process`)
  return {lines, notes}
}

function fillSpeed(speeds) {
  const finite = speeds.filter(Number.isFinite).sort((a, b) => a - b)
  return finite.length ? `${Math.round(finite[finite.length >> 1])} MiB/s` : 'faster than the 10 ms sampling'
}
