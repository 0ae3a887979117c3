#!/usr/bin/env node
// How much of a pair's noise is the estimator's: an A/A recording of one workload, with no fault and no toolkit run
// around it, cut into blocks and paired as the runner pairs them (block i against block i+1), and the sd of one
// pair's ln(quantile ratio) for the sample quantile (the runner's) and the Harrell-Davis estimator. Compare it with
// the sd the journals of real runs show (scripts/block-seconds.js, docs/isolation-findings.md): what is left over is
// the fault's own variation from block to block, which no estimator removes.
//
//   npm run build && node scripts/pair-noise.js [--seconds 240] [--rate 100] [--block 4] [-- workload args...]
//   node scripts/pair-noise.js --journals J.json...   # the same sd from real runs' journals (each run's last look;
//                                                     # after npm run build, for the runner's own reading of them)
//
// With --journals it also prints each run's mean ratio and their spread between runs: pairs of one run share that
// run's machine state, so two batches (a platform against another, a day against another) are compared by their
// run means, whose standard error is the honest one, not by the pooled pairs'. And tau, how far a run's own level
// moves beyond its pairs' noise, which a run's interval (built from its pairs alone) cannot see. And the probe's own
// send lag in each arm (journals since the send lag was kept per request): the instrument's share of a change
// between them.
//
// The workload defaults to the main job's API (`chaos workload --cache 320Mi`) on a free loopback port; its requests
// go to 127.0.0.1 only. Prints one line per estimator and quantile.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)

const sdOf = (values) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return {mean, sd: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1))}
}
const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`

if (args[0] === '--journals') {
  // the runner's own reading of a run's pairs (its last look holds every pair), as chaos calibrate's realised change
  const {pairLogRatios} = await import('../dist/calibrate/report.js')
  const pooled = new Map()
  const runMeans = new Map()
  const runRatios = new Map()
  const sendLags = new Map()
  for (const file of args.slice(1)) {
    const journal = JSON.parse(readFileSync(file, 'utf8'))
    for (const {neighbor, sendLagMsByArm} of journal.design?.instrument ?? []) {
      if (sendLagMsByArm) sendLags.set(neighbor, [...(sendLags.get(neighbor) ?? []), sendLagMsByArm])
    }
    for (const {neighbor, signal} of journal.design?.looks?.at(-1)?.signals ?? []) {
      if (!/^latency_/.test(signal)) continue
      const key = `${neighbor} ${signal}`
      const ratios = pairLogRatios(journal, neighbor, signal)
      if (ratios.length === 0) continue
      pooled.set(key, [...(pooled.get(key) ?? []), ...ratios])
      runMeans.set(key, [...(runMeans.get(key) ?? []), sdOf(ratios).mean])
      runRatios.set(key, [...(runRatios.get(key) ?? []), ratios])
    }
  }
  for (const [signal, ratios] of pooled) {
    const {mean, sd} = sdOf(ratios)
    console.log(`${signal}: ${ratios.length} pairs from ${args.length - 1} journals, sd of one pair's ln ratio ${sd.toFixed(3)} (mean ${signed(mean)})`)
    const means = runMeans.get(signal)
    if (means.length < 2) continue
    const between = sdOf(means)
    console.log(`  per run: ${means.map(signed).join(' ')}; between runs sd ${between.sd.toFixed(3)}, mean ${signed(between.mean)} (se ${(between.sd / Math.sqrt(means.length)).toFixed(3)})`)
    console.log(`  ${betweenRuns(runRatios.get(signal))}`)
  }
  // the instrument's own lateness, inside every latency: a difference between the arms is its share of a change
  for (const [neighbor, runs] of sendLags) {
    const mean = (arm) => runs.reduce((a, r) => a + r[arm], 0) / runs.length
    const differences = runs.map((r) => r.on - r.off)
    const spread = runs.length > 1 ? `, se ${(sdOf(differences).sd / Math.sqrt(runs.length)).toFixed(3)} ms` : ''
    console.log(`${neighbor} probe send lag, mean of ${runs.length} runs: fault-on ${mean('on').toFixed(3)} ms, fault-off ${mean('off').toFixed(3)} ms (on - off ${signed(mean('on') - mean('off'))} ms${spread})`)
  }
  process.exit(0)
}
/**
 * How far a run's own level moves beyond what its pairs' noise explains (tau, in ln ratio): the variance of the runs'
 * means over their first K pairs less the pairs' pooled within-run variance over K. K is the fewest pairs any run
 * has, so every run is counted alike: a run the stopping rule ended early (on an extreme start) is not left out,
 * and the later pairs, which only the undecided runs measured, do not choose which runs are compared. A tau the
 * size of a run's own standard error is a source of error the run's interval cannot see.
 */
function betweenRuns(runs) {
  const k = Math.min(...runs.map((r) => r.length))
  if (runs.length < 3 || k < 2) return 'between runs beyond their pairs\' noise: too few runs or pairs to say'
  let squares = 0
  let df = 0
  for (const r of runs) {
    const m = r.reduce((a, b) => a + b, 0) / r.length
    squares += r.reduce((a, b) => a + (b - m) ** 2, 0)
    df += r.length - 1
  }
  const within = squares / df
  const firstMeans = sdOf(runs.map((r) => r.slice(0, k).reduce((a, b) => a + b, 0) / k))
  const tau2 = firstMeans.sd ** 2 - within / k
  return `between runs beyond their pairs' noise (each run's first ${k} pairs): tau ${Math.sqrt(Math.max(0, tau2)).toFixed(3)} (variance of the runs' means ${(firstMeans.sd ** 2).toFixed(5)}, of which the pairs' noise ${(within / k).toFixed(5)}, sd of one pair ${Math.sqrt(within).toFixed(3)} within runs)`
}

const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const seconds = option('seconds', 240)
const rate = option('rate', 100)
const blockSeconds = option('block', 4)
const dash = args.indexOf('--')
const workloadArgs = dash >= 0 ? args.slice(dash + 1) : ['--cache', '320Mi']

const port = await new Promise((resolve, reject) => {
  const s = createServer().once('error', reject)
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => resolve(p))
  })
})
const dataDir = mkdtempSync(join(tmpdir(), 'chaos-pair-noise-'))
const workload = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), 'workload', '--port', String(port), '--data-dir', dataDir, ...workloadArgs], {stdio: 'ignore'})
const stop = () => {
  workload.kill('SIGTERM')
  rmSync(dataDir, {recursive: true, force: true})
}
process.on('SIGINT', () => { stop(); process.exit(130) })

const agent = new http.Agent({keepAlive: true, maxSockets: 64})
const get = () => new Promise((resolve) => {
  const req = http.get({host: '127.0.0.1', port, path: '/work', agent}, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
  req.on('error', () => resolve(0))
})
for (let i = 0; i < 100 && (await get()) !== 200; i++) await new Promise((r) => setTimeout(r, 100))

// open loop at a fixed rate, each latency from its scheduled send (as the toolkit's probe measures)
const samples = []
const t0 = performance.now()
let sent = 0
let pending = 0
await new Promise((resolve) => {
  const tick = () => {
    const now = performance.now()
    while (t0 + sent * 1000 / rate <= now && sent < seconds * rate) {
      const scheduled = t0 + sent * 1000 / rate
      sent++
      pending++
      get().then((status) => {
        samples.push({t: (scheduled - t0) / 1000, latency: status === 200 ? (performance.now() - scheduled) / 1000 : Infinity})
        pending--
      })
    }
    if (sent < seconds * rate) setTimeout(tick, 1)
    else {
      const drain = () => (pending > 0 ? setTimeout(drain, 20) : resolve())
      drain()
    }
  }
  tick()
})
stop()

const sampleQuantile = (sorted, q) => {
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  return sorted[lo] + (h - lo) * ((sorted[lo + 1] ?? sorted[lo]) - sorted[lo])
}
// Harrell-Davis: a weighted mean of all order statistics, weights from the Beta((n+1)q, (n+1)(1-q)) distribution
const logGamma = (x) => {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5]
  let y = x
  let t = x + 5.5
  t -= (x + 0.5) * Math.log(t)
  let s = 1.000000000190015
  for (const k of c) s += k / ++y
  return -t + Math.log(2.5066282746310005 * s / x)
}
const betaCf = (x, a, b) => {
  const tiny = 1e-30
  let c = 1
  let d = 1 - (a + b) * x / (a + 1)
  d = 1 / (Math.abs(d) < tiny ? tiny : d)
  let h = d
  for (let m = 1; m <= 300; m++) {
    for (const aa of [m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + aa * d
      d = 1 / (Math.abs(d) < tiny ? tiny : d)
      c = 1 + aa / c
      if (Math.abs(c) < tiny) c = tiny
      h *= d * c
    }
    if (Math.abs(d * c - 1) < 3e-12) break
  }
  return h
}
const incompleteBeta = (x, a, b) => {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x))
  return x < (a + 1) / (a + b + 2) ? front * betaCf(x, a, b) / a : 1 - front * betaCf(1 - x, b, a) / b
}
const harrellDavis = (sorted, q) => {
  const n = sorted.length
  let previous = 0
  let total = 0
  for (let i = 1; i <= n; i++) {
    const cdf = incompleteBeta(i / n, q * (n + 1), (1 - q) * (n + 1))
    total += (cdf - previous) * sorted[i - 1]
    previous = cdf
  }
  return total
}

const blocks = []
for (const s of samples) (blocks[Math.floor(s.t / blockSeconds)] ??= []).push(s.latency)
const full = blocks.filter((b) => b && b.length >= blockSeconds * rate * 0.95).map((b) => Float64Array.from(b).sort())
const failed = samples.filter((s) => !Number.isFinite(s.latency)).length
console.log(`A/A: ${samples.length} requests at ${rate}/s for ${seconds} s (${failed} failed), ${full.length} blocks of ${blockSeconds} s, ${Math.floor(full.length / 2)} pairs`)
for (const q of [0.95, 0.99]) {
  for (const [name, estimate] of [['sample quantile', sampleQuantile], ['Harrell-Davis', harrellDavis]]) {
    const logs = full.map((b) => Math.log(estimate(b, q)))
    const pairs = []
    for (let i = 0; i + 1 < logs.length; i += 2) pairs.push(logs[i + 1] - logs[i])
    const {mean, sd} = sdOf(pairs)
    console.log(`p${Math.round(q * 100)} ${name.padEnd(15)} sd of one pair's ln ratio ${sd.toFixed(3)} (mean ${signed(mean)})`)
  }
}
