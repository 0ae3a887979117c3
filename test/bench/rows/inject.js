// Row 5: time to inject and to recover, measured in the target: a box holding a target process (`sleep`),
// its cgroup files polled every ~2 ms. Inject: from the spawn call to the dose showing in the box (cpuacct.usage
// rising; the end of the first 100 ms that averaged >= 90% of the asked rate; memory.usage_in_bytes up by the leak's first chunk on
// top of the stressor's own runtime). Recover: from the stop call to the stressor gone and the box back where it
// was (cpuacct flat; memory within 2 MiB of its pre-fault value).
import {boxCpuSeconds, boxMemoryBytes, MiB, now, sleep, waitFor} from '../lib.js'

const POLL_MS = 2
const RATE_WINDOW_MS = 100
const MEMORY_TOLERANCE = 2 * MiB

async function cpuOnce(tracker, box) {
  const pre = boxCpuSeconds(box)
  const history = []
  const t0 = now()
  const handle = tracker.stressor('cpu', {workers: 1, loadPerWorker: 1}, {cgroups: box.dirs()})
  let rise
  let rate
  // a machine too busy to give the stressor its core leaves `rate` undefined (reported as no data), not an error
  await waitFor('the CPU dose', () => {
    const t = now()
    const usage = boxCpuSeconds(box)
    history.push({t, usage})
    if (rise === undefined && usage > pre) rise = t - t0
    const start = history.find((h) => h.t >= t - RATE_WINDOW_MS - 1e-9)
    // proven at the end of the first ~100 ms after the rise that averaged >= 90% of the asked core
    if (rise !== undefined && start.t - t0 >= rise - POLL_MS && t - start.t >= RATE_WINDOW_MS * 0.9 && (usage - start.usage) / ((t - start.t) / 1000) >= 0.9) rate = t - t0
    return rate !== undefined
  }, 5000, POLL_MS).catch(() => undefined)
  await handle.ready
  await sleep(300)
  const t1 = now()
  let exitedAt
  void handle.stop().then(() => { exitedAt = now() })
  let last = boxCpuSeconds(box)
  let lastChange = now()
  await waitFor('the CPU stressor to be gone and the box flat', () => {
    const usage = boxCpuSeconds(box)
    if (usage !== last) {
      last = usage
      lastChange = now()
    }
    return exitedAt !== undefined && now() - Math.max(exitedAt, lastChange) > 200
  }, 5000, POLL_MS)
  return {rise, rate: rate ?? Number.NaN, recover: Math.max(exitedAt, lastChange) - t1}
}

async function memoryOnce(tracker, box, {rate, limit}) {
  const pre = boxMemoryBytes(box)
  const chunk = rate * 0.05 // the stressor's first 50 ms tick
  const t0 = now()
  const handle = tracker.stressor('memory', {rate, limit, hold: true}, {cgroups: box.dirs()})
  let atReady
  void handle.ready.then(() => { atReady = boxMemoryBytes(box) })
  let injected
  await waitFor('the first chunk', () => {
    if (atReady !== undefined && boxMemoryBytes(box) >= atReady + 0.9 * chunk) injected = now() - t0
    return injected !== undefined
  }, 5000, POLL_MS)
  await waitFor('the leak to complete', () => (handle.latest()?.bytes ?? 0) >= limit, 10_000, 10)
  await sleep(200)
  const held = boxMemoryBytes(box)
  const t1 = now()
  let exitedAt
  void handle.stop().then(() => { exitedAt = now() })
  let backAt
  try {
    await waitFor('the box memory to return', () => {
      if (backAt === undefined && boxMemoryBytes(box) <= pre + MEMORY_TOLERANCE) backAt = now()
      return exitedAt !== undefined && backAt !== undefined
    }, 5000, POLL_MS)
  } catch {
    return {injected, recover: Number.NaN, stuck: boxMemoryBytes(box) - pre, held: held - pre}
  }
  return {injected, recover: Math.max(exitedAt, backAt) - t1, held: held - pre}
}

export async function run({tracker, pick, log}) {
  const repeats = pick({smoke: 1, quick: 3, full: 10})
  const leak = pick({smoke: {rate: 64 * MiB, limit: 32 * MiB}, quick: {rate: 256 * MiB, limit: 256 * MiB}, full: {rate: 256 * MiB, limit: 256 * MiB}})
  const box = tracker.box({})
  const target = tracker.child('sleep', ['600'], {box})
  await waitFor('the target in its box', () => box.pids().includes(target.pid), 5000)
  // the target joins its box before it execs `sleep`: wait until the box's counters are still
  let previous = -1
  await waitFor('the target to settle', async () => {
    const usage = boxCpuSeconds(box)
    const still = usage === previous
    previous = usage
    await sleep(100)
    return still
  }, 5000, 0)
  const cpu = {rise: [], rate: [], recover: []}
  const memory = {injected: [], recover: []}
  const notes = []
  for (let r = 0; r < repeats; r++) {
    const c = await cpuOnce(tracker, box)
    cpu.rise.push(c.rise)
    cpu.rate.push(c.rate)
    cpu.recover.push(c.recover)
    const m = await memoryOnce(tracker, box, leak)
    memory.injected.push(m.injected)
    memory.recover.push(m.recover)
    if (m.stuck !== undefined) notes.push(`repeat ${r + 1}: the box's memory stayed ${(m.stuck / MiB).toFixed(1)} MiB above its pre-fault value 5 s after stop`)
    if (Number.isNaN(c.rate)) notes.push(`repeat ${r + 1}: the CPU stressor did not reach 90% of a core over any 100 ms within 5 s (a busy machine)`)
    log(`repeat ${r + 1}: cpu rise ${c.rise.toFixed(0)} ms, full rate ${c.rate.toFixed(0)} ms, recover ${c.recover.toFixed(0)} ms; memory first chunk ${m.injected.toFixed(0)} ms, recover ${Number.isNaN(m.recover) ? 'NO' : m.recover.toFixed(0)} ms (${(m.held / MiB).toFixed(0)} MiB held)`)
  }
  const under = (limit) => (o) => ({met: o.max < limit, text: o.max < limit ? '' : `by ${(o.max - limit).toFixed(0)} ms (worst run)`})
  const lines = [
    {what: 'inject, CPU: spawn → box cpuacct.usage rising', unit: 'ms', ours: cpu.rise, peer: '-', goal: '< 1 s', check: under(1000)},
    {what: 'inject, CPU: spawn → end of the first 100 ms at >= 90% of the asked core', unit: 'ms', ours: cpu.rate, peer: '-', goal: '< 1 s', check: under(1000)},
    {what: `inject, memory: spawn → memory.usage up by the first chunk (${(leak.rate * 0.05 / MiB).toFixed(1)} MiB)`, unit: 'ms', ours: memory.injected, peer: '-', goal: '< 1 s', check: under(1000)},
    {what: 'recover, CPU: stop → stressor gone, box cpuacct flat', unit: 'ms', ours: cpu.recover, peer: '-', goal: '< 1 s', check: under(1000)},
    {what: `recover, memory: stop → stressor gone, box back within 2 MiB (${leak.limit / MiB} MiB held)`, unit: 'ms', ours: memory.recover, peer: '-', goal: '< 1 s', check: under(1000)},
  ]
  notes.unshift(`${repeats} run(s); box polled every ${POLL_MS} ms; the memory chunk is counted on top of the box's level when the stressor is ready (its runtime)`)
  return {lines, notes}
}
