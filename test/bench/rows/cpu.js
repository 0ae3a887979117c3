// Row 1: CPU dose error. A real cgroup v1 box with a 0.5-CPU CFS quota; the toolkit's cpu stressor asked for
// 25/50/80/100% of that allowance (as the cpu-hog fault sizes it: workers 1, loadPerWorker = 0.5 × load), and
// stress-ng --cpu 1 --cpu-load at the same percentages in the same kind of box. What each delivers is read from
// the box's own cpuacct.usage over a steady window (after a settling time), as a share of the 0.5 allowance.
import {boxCpuSeconds, now, sleep, summarize, waitFor} from '../lib.js'

const ALLOWANCE = 0.5
const LOADS = [0.25, 0.5, 0.8, 1]

/** Share of the allowance the box used over windowMs, after settleMs. */
async function deliveredShare(box, settleMs, windowMs) {
  await sleep(settleMs)
  const c0 = boxCpuSeconds(box)
  const t0 = now()
  await sleep(windowMs)
  const c1 = boxCpuSeconds(box)
  const t1 = now()
  return (c1 - c0) / ((t1 - t0) / 1000) / ALLOWANCE
}

export async function run({tracker, quick, pick, peers, log}) {
  const repeats = pick({smoke: 1, quick: 1, full: 3})
  const windowMs = pick({smoke: 300, quick: 1500, full: 8000})
  const settleMs = pick({smoke: 200, quick: 400, full: 1000})
  const ours = new Map(LOADS.map((l) => [l, []]))
  const peer = new Map(LOADS.map((l) => [l, []]))
  const scaled = new Map(LOADS.map((l) => [l, []]))

  const inBox = async (fn) => {
    const box = tracker.box({cpus: ALLOWANCE})
    try {
      return await fn(box)
    } finally {
      await tracker.removeBox(box)
    }
  }
  const stressNg = (percent) => inBox(async (box) => {
    const seconds = Math.ceil((settleMs + windowMs) / 1000) + 3
    const child = tracker.child('stress-ng', ['--cpu', '1', '--cpu-load', String(percent), '-t', `${seconds}s`, '--quiet'], {box})
    // its worker is forked after start-up: wait until the box holds it
    await waitFor('the stress-ng worker in the box', () => box.pids().length >= 2, 5000)
    const share = await deliveredShare(box, settleMs, windowMs)
    await tracker.stopChild(child)
    return share
  })

  for (let r = 0; r < repeats; r++) {
    for (const load of LOADS) {
      const share = await inBox(async (box) => {
        const handle = tracker.stressor('cpu', {workers: 1, loadPerWorker: ALLOWANCE * load}, {cgroups: box.dirs()})
        await handle.ready
        const delivered = await deliveredShare(box, settleMs, windowMs)
        await handle.stop()
        return delivered
      })
      ours.get(load).push((share - load) * 100)
      let line = `repeat ${r + 1}, ${load * 100}%: chaos delivered ${(share * 100).toFixed(1)}% of the allowance`
      if (peers.stressNg.present) {
        const peerShare = await stressNg(Math.round(load * 100))
        peer.get(load).push((peerShare - load) * 100)
        line += `, stress-ng --cpu-load ${Math.round(load * 100)} ${(peerShare * 100).toFixed(1)}%`
        if (!quick) {
          // told the host-relative equivalent, for reference: what stress-ng can do when the caller does the sizing
          const scaledShare = await stressNg(Math.round(load * ALLOWANCE * 100))
          scaled.get(load).push((scaledShare - load) * 100)
          line += `, stress-ng --cpu-load ${Math.round(load * ALLOWANCE * 100)} ${(scaledShare * 100).toFixed(1)}%`
        }
      }
      log(line)
    }
  }

  const worst = (s) => Math.max(Math.abs(s.min), Math.abs(s.max))
  const lines = LOADS.map((load) => ({
    what: `CPU at ${load * 100}% of a 0.5-CPU box: delivered − asked (from the box's cpuacct)`,
    unit: 'pp',
    ours: ours.get(load),
    peer: peers.stressNg.present ? peer.get(load) : 'peer absent',
    goal: 'within ±2 pp',
    check: (o) => ({met: worst(o) <= 2, text: worst(o) <= 2 ? '' : `by ${(worst(o) - 2).toFixed(1)} pp (worst run ${o.max > -o.min ? '+' : '−'}${worst(o).toFixed(1)} pp)`}),
  }))
  const notes = [`${repeats} run(s) per load; ${windowMs / 1000} s window after ${settleMs / 1000} s settling; the peer is stress-ng --cpu-load at the same percentage, which it reads as a share of one host core`]
  if (!quick && peers.stressNg.present) {
    notes.push(`for reference, stress-ng told the host-relative equivalent (--cpu-load = load × 0.5): ${LOADS.map((l) => {
      const s = summarize(scaled.get(l))
      return `${l * 100}%: ${s ? `${s.median >= 0 ? '+' : ''}${s.median.toFixed(1)} pp` : '-'}`
    }).join(', ')}`)
  }
  return {lines, notes}
}
