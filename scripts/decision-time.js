#!/usr/bin/env node
// How long an experiment's interleaved design takes to show "contained", by simulation: each pair's ln ratio of
// every latency signal drawn from a normal with the sd (and true change) given, looked at on the file's own planned
// looks with the runner's own boundary (estimate + t_{n-1}(Phi(z)) x sd/sqrt(n) below ln(1 + max_increase)), until
// every signal is inside its margin or the looks run out. `chaos calibrate`'s "needs" takes one signal at its median
// and a known sd; this draws the sd's own estimate too and asks every signal at once, as a run does, so it says how
// often a run is decided by each look. Compare it with real runs' pairs before trusting it for a new design.
//
//   npm run build && node scripts/decision-time.js FILE --sd latency_p95=0.156,latency_p99=0.35 \
//     [--change latency_p95=0.05] [--overhead 2.6] [--runs 20000]
//
// --sd: each signal's sd of one pair's ln ratio at the file's block length (scripts/pair-noise.js, or
//       `node scripts/pair-noise.js --journals` over real runs). Signals not given are taken as decided.
// --change: a signal's true ln change (default 0).
// --overhead: seconds a pair costs beyond its two blocks (the removals, the settle, the start-ups). A run's journal
//       gives it: its measuring time over its pairs, less two blocks.
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const {loadExperiment} = await import(join(dist, 'experiment', 'load.js'))
const {planDesign} = await import(join(dist, 'run', 'design.js'))
const {criticalT} = await import(join(dist, 'verdict', 'three-way.js'))
const {seededRng} = await import(join(dist, 'verdict', 'stats.js'))

const args = process.argv.slice(2)
const option = (name) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const perSignal = (text) => new Map((text ?? '').split(',').filter(Boolean).map((kv) => {
  const [k, v] = kv.split('=')
  if (!Number.isFinite(Number(v))) throw new Error(`expected signal=number, got ${kv}`)
  return [k, Number(v)]
}))
const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
if (!file || !option('sd')) {
  console.error('usage: node scripts/decision-time.js FILE --sd signal=sd[,signal=sd] [--change signal=ln] [--overhead s] [--runs n]')
  process.exit(2)
}
const sds = perSignal(option('sd'))
const changes = perSignal(option('change'))
const overhead = Number(option('overhead') ?? 2.6)
const runs = Number(option('runs') ?? 20_000)

const experiment = await loadExperiment(file)
const design = planDesign(experiment, 'decision-time')
if (design.kind !== 'interleaved' || design.episodic) {
  console.error(`${file}: its design is ${design.episodic ? 'episodic' : design.kind}; this simulates fixed interleaved blocks only`)
  process.exit(2)
}
const signals = [...sds].map(([signal, sd]) => {
  const h = experiment.hypothesis.find((x) => x.signal === signal && x.max_increase !== undefined)
  if (!h) throw new Error(`${file} has no max_increase hypothesis for ${signal}`)
  return {signal, sd, change: changes.get(signal) ?? 0, margin: Math.log(1 + h.max_increase)}
})
const secondsPerPair = 2 * design.blockMs / 1000 + overhead
const boundary = design.looks.map((l) => criticalT(l.z, l.pairs - 1))

const rng = seededRng('decision-time')
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
const decidedAt = []
for (let r = 0; r < runs; r++) {
  const sum = signals.map(() => 0)
  const squares = signals.map(() => 0)
  let look = 0
  let at = Infinity
  for (let n = 1; n <= design.maxPairs && look < design.looks.length; n++) {
    signals.forEach((s, i) => {
      const x = s.change + s.sd * gauss()
      sum[i] += x
      squares[i] += x * x
    })
    if (design.looks[look].pairs !== n) continue
    const inside = signals.every((s, i) => {
      const mean = sum[i] / n
      const sd = Math.sqrt(Math.max(0, (squares[i] - n * mean * mean) / (n - 1)))
      return mean + boundary[look] * sd / Math.sqrt(n) < s.margin
    })
    look++
    if (inside) {
      at = n
      break
    }
  }
  decidedAt.push(at)
}
decidedAt.sort((a, b) => a - b)
const share = (pred) => decidedAt.filter(pred).length / runs
const pct = (x) => `${(100 * x).toFixed(0)}%`
console.log(`${file}: blocks of ${design.blockMs / 1000} s, ${overhead} s more per pair (${secondsPerPair.toFixed(1)} s a pair), looks after ${design.looks.map((l) => l.pairs).join(', ')} pairs, budget ${design.budgetMs / 1000} s`)
console.log(`signals: ${signals.map((s) => `${s.signal} sd ${s.sd} change ${s.change >= 0 ? '+' : ''}${s.change} margin ${s.margin.toFixed(3)}`).join('; ')}; ${runs} simulated runs`)
console.log(`contained by look: ${design.looks.slice(0, 8).map((l) => `${l.pairs} pairs (${Math.round(l.pairs * secondsPerPair)} s) ${pct(share((n) => n <= l.pairs))}`).join(', ')}`)
const median = decidedAt[Math.floor(runs / 2)]
console.log(`undecided at the budget: ${pct(share((n) => !Number.isFinite(n)))}; median run ${Number.isFinite(median) ? `${median} pairs, ${Math.round(median * secondsPerPair)} s of measuring` : 'undecided'}; decided in under 90 s: ${pct(share((n) => n * secondsPerPair < 90))}`)
