// Row 9: process creation (issue 16's process-exhaustion). The toolkit's fork stressor in a box of its own, creating
// `count` processes as fast as it can and holding them, against `stress-ng --fork 1 --fork-max 1` (one child forked,
// exited and reaped per bogo op) in a box of the same kind, both on the same machine in the same invocation.
// - Ours: the box's pids.current polled about every millisecond from the stressor's first report; the rate is the
//   tasks added between the first and the last poll / that time (its own start-up is not counted).
// - stress-ng: its own "bogo ops/s (real time)" over a fixed time (forks per second; its start-up is not counted).
// The two do different work per process: ours keeps each child alive (the dose is held processes), stress-ng's
// children exit at once, so it also pays for each exit and reap; both pay the fork.
// With a rate asked: tasks reached per second / asked, from the same polls.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {atLeastShareOf, now, sleep, waitFor, within} from '../lib.js'

/** the box's task count, from pids.current (v1 pids hierarchy or the v2 dir) */
function pidsCurrent(box) {
  const paths = box.paths()
  const dir = paths.version === 2 ? paths.dir : paths.pids
  return Number(readFileSync(join(dir, 'pids.current'), 'utf8'))
}

/**
 * Polls the box's task count from the stressor's first report until it says it holds `target`; the creation rate
 * between the first poll and the one at which the count last grew. The box also holds the stressor's own threads
 * (pids counts tasks), which are there from the first poll on and cancel out.
 */
async function timeCreation(box, handle, target, timeoutMs = 30_000) {
  const started = now()
  const first = {t: now(), n: pidsCurrent(box)}
  let last = first
  for (;;) {
    const n = pidsCurrent(box)
    const t = now()
    if (n > last.n) last = {t, n}
    const held = handle.latest()?.tasks ?? 0
    if (held >= target) return {perSecond: (last.n - first.n) / ((last.t - first.t) / 1000), seconds: (last.t - first.t) / 1000, reached: held}
    if (t - started > timeoutMs) throw new Error(`the stressor held ${held} of ${target} processes after ${timeoutMs} ms`)
    await sleep(1)
  }
}

export async function run({tracker, pick, peers, log}) {
  const repeats = pick({smoke: 1, quick: 2, full: 5})
  const count = pick({smoke: 100, quick: 1000, full: 2000})
  const peerSeconds = pick({smoke: 1, quick: 3, full: 5})
  const rated = {rate: pick({smoke: 100, quick: 200, full: 200}), count: pick({smoke: 100, quick: 400, full: 800})}
  const ours = []
  const peer = []
  const rateRatio = []
  const notes = []

  const oursOnce = async (params) => {
    const box = tracker.box({pids: params.count + 64})
    const handle = tracker.stressor('fork', {count: params.count, kind: 'processes', ...(params.rate ? {rate: params.rate} : {})}, {cgroups: box.dirs(), deadlineMs: 60_000})
    await handle.ready
    const creation = await timeCreation(box, handle, params.count)
    await handle.stop()
    await waitFor('the box to give its tasks back', () => pidsCurrent(box) === 0, 5000, 10)
    await tracker.removeBox(box)
    return creation
  }
  const stressNg = async () => {
    const box = tracker.box({pids: 4096})
    const child = tracker.child('stress-ng', ['--fork', '1', '--fork-max', '1', '--timeout', `${peerSeconds}s`, '--metrics-brief'], {box})
    const done = await child.done
    const line = /fork\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)/.exec(done.stdout + done.stderr)
    if (!line) throw new Error(`stress-ng printed no fork metrics: ${(done.stdout + done.stderr).slice(-400)}`)
    await tracker.removeBox(box)
    return Number(line[1])
  }

  for (let r = 0; r < repeats; r++) {
    // alternate the order, so neither always runs right after the other's children were reaped
    const first = r % 2 === 0 ? 'ours' : 'peer'
    for (const who of first === 'ours' ? ['ours', 'peer'] : ['peer', 'ours']) {
      if (who === 'ours') {
        const c = await oursOnce({count})
        ours.push(c.perSecond)
        log(`chaos: ${c.reached} processes held, created at ${c.perSecond.toFixed(0)}/s over ${c.seconds.toFixed(2)} s`)
      } else if (peers.stressNg.present) {
        const p = await stressNg()
        peer.push(p)
        log(`stress-ng --fork: ${p.toFixed(0)} forks/s`)
      }
    }
    const c = await oursOnce(rated)
    rateRatio.push(c.perSecond / rated.rate)
    log(`chaos at ${rated.rate}/s: ${c.perSecond.toFixed(1)}/s over ${c.seconds.toFixed(2)} s (${c.reached} held)`)
    await sleep(200)
  }
  notes.push(`ours holds every process it creates (${count} at the end); stress-ng's child exits at once and is reaped (its bogo op): both pay a fork, stress-ng also an exit and a wait, ours a box growing to ${count} tasks`)

  return {
    notes,
    lines: [
      {
        what: `process creation, unbounded, ${count} processes held (vs stress-ng --fork 1 --fork-max 1)`,
        unit: '/s',
        ours,
        peer: peers.stressNg.present ? peer : 'peer absent',
        ratio: 'ours/peer',
        goal: '>= 50% of stress-ng',
        check: atLeastShareOf(0.5, 'stress-ng'),
      },
      {
        what: `process creation at ${rated.rate}/s (${rated.count} held): created / asked`,
        unit: 'ratio',
        ours: rateRatio,
        peer: '-',
        goal: 'within 5%',
        check: within(0.05),
      },
    ],
  }
}
