// Row 8: verdict quality. A real demo workload (`chaos workload --slowdown-file F`) probed open-loop at 100 req/s
// by the toolkit's HttpProbe for the whole row; windows cut from the probe's records as a run cuts its baseline
// and fault windows, judged by judgeSignal on latency_p99.
// - A/A: two consecutive windows, nothing changed: a breach is a false breach.
// - Power: a baseline window, then the workload slowed on purpose (the file's factor multiplies its CPU per
//   request) for the second window. The factor is calibrated at the start so that the p99 rises by about 20%
//   (the realised shift is reported), and the factor is confirmed through the workload's own
//   workload_slowdown_factor gauge before the window opens.
// A/A and power pairs are interleaved so that drift affects both alike.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {HttpProbe} from '../../../dist/metrics/probe.js'
import {judgeSignal} from '../../../dist/verdict/judge.js'
import {quantile, seededRng, wilsonInterval} from '../../../dist/verdict/stats.js'
import {PORTS, sleep, waitFor, waitHttp} from '../lib.js'

const RATE = 100
const SHIFT = 0.2

export async function run({tracker, pick, root, log}) {
  const windowMs = pick({smoke: 1200, quick: 2000, full: 10_000})
  const aaPairs = pick({smoke: 1, quick: 10, full: 60})
  const powerPairs = pick({smoke: 1, quick: 5, full: 30})
  const calibrationMs = pick({smoke: 1200, quick: 2000, full: 10_000})
  const warmupMs = pick({smoke: 500, quick: 2000, full: 3000})
  const rate = pick({smoke: 20, quick: RATE, full: RATE})
  const file = join(tracker.tempDir(), 'slowdown')
  writeFileSync(file, '1\n')
  const base = `http://127.0.0.1:${PORTS.workload}`
  const workload = tracker.child(process.execPath, [join(root, 'bin/run.js'), 'workload', '--port', String(PORTS.workload), '--slowdown-file', file])
  await waitHttp(`${base}/healthz`)

  const setFactor = async (factor) => {
    writeFileSync(file, `${factor}\n`)
    await waitFor(`the workload to take slowdown ${factor}`, async () => {
      const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => '')
      const value = Number(/^workload_slowdown_factor (\S+)$/m.exec(text)?.[1])
      return Math.abs(value - factor) < 1e-9
    }, 5000, 100)
    await sleep(100)
  }
  const probe = new HttpProbe({url: `${base}/work`, rate, timeoutMs: 2000})
  const windowOf = async (ms) => {
    const from = Date.now()
    await sleep(ms)
    return {from, to: Date.now()}
  }
  const latencies = (w) => probe.records(w.from, w.to).filter((r) => r.ok).map((r) => r.latencySeconds)
  const p99 = (w) => quantile(latencies(w), 0.99)

  const aa = []
  const power = []
  let factor
  try {
    probe.start()
    await sleep(warmupMs) // JIT warm-up, as the run loop's warm-up

    // calibration: p99 at factor 1 and 1.5, then the factor for +20% by linear interpolation
    const c1 = await windowOf(calibrationMs)
    await setFactor(1.5)
    const c15 = await windowOf(calibrationMs)
    await setFactor(1)
    await sleep(1000) // the slowed window's last requests are done
    const [q1, q15] = [p99(c1), p99(c15)]
    factor = q15 > q1 ? 1 + 0.5 * SHIFT * q1 / (q15 - q1) : 1.5
    factor = Math.min(3, Math.max(1.1, Number(factor.toFixed(3))))
    log(`calibration: p99 ${(q1 * 1000).toFixed(2)} ms at ×1, ${(q15 * 1000).toFixed(2)} ms at ×1.5: slowdown ×${factor} for +${SHIFT * 100}%`)

    for (let i = 0; i < Math.max(aaPairs, powerPairs); i++) {
      if (i < aaPairs) aa.push({baseline: await windowOf(windowMs), fault: await windowOf(windowMs)})
      if (i < powerPairs) {
        const baseline = await windowOf(windowMs)
        await setFactor(factor)
        const fault = await windowOf(windowMs)
        await setFactor(1)
        power.push({baseline, fault})
      }
    }
  } finally {
    await probe.stop()
    await tracker.stopChild(workload, 3000)
  }

  const judge = (pair, threshold, seed) => judgeSignal({
    neighbor: 'demo', signal: 'latency_p99', statistic: 'p99', unit: 'seconds',
    baseline: {kind: 'observations', values: latencies(pair.baseline)},
    fault: {kind: 'observations', values: latencies(pair.fault)},
    hypothesis: {signal: 'latency_p99', max_increase: threshold},
  }, {rng: seededRng(seed)})
  const tally = (pairs, threshold, kind) => {
    const verdicts = pairs.map((pair, i) => judge(pair, threshold, `bench/${kind}/${i}/${threshold}`))
    const count = (v) => verdicts.filter((x) => x.verdict === v).length
    return {verdicts, n: verdicts.length, breach: count('breach'), contained: count('contained'), inconclusive: count('inconclusive')}
  }
  const aa25 = tally(aa, 0.25, 'aa')
  const aa10 = tally(aa, 0.10, 'aa')
  const pw10 = tally(power, 0.10, 'power')
  const pw25 = tally(power, 0.25, 'power')
  const describe = (t) => {
    const ci = wilsonInterval(t.breach, t.n)
    return `${t.breach}/${t.n} breach, ${t.inconclusive} inconclusive; 95% CI ${(ci.low * 100).toFixed(0)}-${(ci.high * 100).toFixed(0)}%`
  }
  const reasons = (t, verdict) => [...new Set(t.verdicts.filter((v) => v.verdict === verdict).map((v) => v.reason))].slice(0, 3)
  for (const [name, t] of [['A/A at 25%', aa25], ['A/A at 10%', aa10], ['power at 10%', pw10], ['+20% at 25%', pw25]]) {
    log(`${name}: ${describe(t)}`)
    for (const reason of reasons(t, 'inconclusive')) log(`  inconclusive because: ${reason}`)
    if (t === pw10) for (const reason of reasons(t, 'contained')) log(`  contained because: ${reason}`)
    if (t === aa25 || t === aa10) for (const reason of reasons(t, 'breach')) log(`  breach because: ${reason}`)
  }
  const sorted = (values) => [...values].filter(Number.isFinite).sort((a, b) => a - b)
  // the p99 change of each pair, straight from the windows (a verdict's change is null when it is inconclusive)
  const changeOf = (pair) => p99(pair.fault) / p99(pair.baseline) - 1
  const aaAbs = sorted(aa.map((pair) => Math.abs(changeOf(pair))))
  const shift = sorted(power.map(changeOf))

  const lines = [
    {
      what: `false breach rate, A/A, latency_p99 max_increase 25% (${windowMs / 1000} s windows at ${rate} req/s)`,
      unit: 'pct', ours: [aa25.breach / aa25.n * 100], peer: '-', goal: '<= 5%',
      check: (o) => ({met: o.median <= 5, text: describe(aa25)}),
    },
    {
      what: 'false breach rate, A/A, latency_p99 max_increase 10%',
      unit: 'pct', ours: [aa10.breach / aa10.n * 100], peer: '-', goal: '<= 5%',
      check: (o) => ({met: o.median <= 5, text: describe(aa10)}),
    },
    {
      what: `power: the +${SHIFT * 100}% p99 shift judged at max_increase 10%`,
      unit: 'pct', ours: [pw10.breach / pw10.n * 100], peer: '-', goal: '>= 90%',
      check: (o) => ({met: o.median >= 90, text: `${describe(pw10)}${o.median >= 90 ? '' : `; short by ${(90 - o.median).toFixed(0)} pp`}`}),
    },
    {
      what: `the same +${SHIFT * 100}% shift judged at max_increase 25% (inside the tolerance: a breach here would be wrong)`,
      unit: 'pct', ours: [pw25.breach / pw25.n * 100], peer: '-', goal: '-',
      check: () => ({met: true, text: describe(pw25)}),
    },
    {
      what: `realised p99 change in the slowed windows (slowdown ×${factor})`,
      unit: 'pct', ours: shift.map((c) => c * 100), peer: '-', goal: `≈ +${SHIFT * 100}%`,
    },
  ]
  const notes = [
    `${aa.length} A/A pairs and ${power.length} power pairs of ${windowMs / 1000} s windows (${windowMs / 1000 * rate} requests each), interleaved; A/A |p99 change|: median ${(aaAbs[aaAbs.length >> 1] * 100).toFixed(1)}%, 95th percentile ${(aaAbs[Math.floor(0.95 * (aaAbs.length - 1))] * 100).toFixed(1)}%`,
    `power is judged at max_increase 10% because a +${SHIFT * 100}% shift is, by design, inside a 25% tolerance: there the right verdict is contained`,
  ]
  return {lines, notes}
}
