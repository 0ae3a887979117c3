#!/usr/bin/env node
// Whether the verdict rule's error rates hold on this machine's own pairs, and what breaks them if they do not: the
// pairs of real runs (each journal's last look, one latency signal's ln(fault-on / fault-off) per pair), taken
// about each run's own mean and drawn again independently, shifted to a true change, and judged by the runner's
// looks (the pairs at each look and its critical value, read from the longest journal) with its interval
// (t on the pairs, three outcomes against the threshold). With `--tau T` each simulated run also gets a level of
// its own, normal with sd T in ln ratio, shared by all its pairs: what a machine state that lasts a whole run does,
// which a run's interval, built from its own pairs, cannot see.
//
//   npm run build && node scripts/rule-on-pairs.js [--signal latency_p95] [--threshold 25%] [--change THRESHOLD]
//       [--tau 0.05] [--trials 20000] [--spending pocock|obrien-fleming] [--max-pairs N] JOURNAL.json...
//
// --spending and --max-pairs judge the same pairs by another plan than the journals': looks from the first look
// every lookEvery pairs (as the longest journal made them) up to N pairs, alpha spent as asked, the critical values
// computed as the runner's planDesign computes them. What a longer budget or the other spending would decide,
// before any run is spent on it.
//
// Prints the share of simulated runs ending breach, contained and inconclusive, with the change asked, and the
// median number of pairs the decided ones took. At a change
// equal to the threshold, each wrong verdict should be about the design's alpha (5%); a count of real runs that
// does worse than this with --tau 0 was undone by something the pairs alone do not carry.
import {readFileSync} from 'node:fs'

import {journalArgs} from './journal-args.js'

const {pairLogRatios} = await import('../dist/calibrate/report.js')
const {threeWay} = await import('../dist/verdict/three-way.js')

// the journals are what is left once the options are taken out
const {option, files: args} = journalArgs()
const percent = (text) => Number(String(text).replace(/%$/, '')) / (String(text).endsWith('%') ? 100 : 1)
const signal = option('signal', 'latency_p95')
const threshold = percent(option('threshold', '25%'))
const asked = option('change', undefined)
const change = asked === undefined ? threshold : percent(asked)
const tau = Number(option('tau', '0'))
const trials = Number(option('trials', '20000'))
const spending = option('spending', undefined)
const maxPairs = option('max-pairs', undefined)
if (args.length === 0 || !(threshold > 0) || !(tau >= 0) || !(trials > 0)) {
  console.error('usage: node scripts/rule-on-pairs.js [--signal S] [--threshold 25%] [--change THRESHOLD] [--tau T] [--trials N] [--spending pocock|obrien-fleming] [--max-pairs N] JOURNAL.json...')
  process.exit(2)
}

const residuals = []
let looks = []
// the design of the journal whose looks are taken: its alpha and spending, for another plan
let plannedBy
for (const file of args) {
  const journal = JSON.parse(readFileSync(file, 'utf8'))
  const neighbor = journal.design?.looks?.at(-1)?.signals.find((s) => s.signal === signal)?.neighbor
  if (!neighbor) continue
  const pairs = pairLogRatios(journal, neighbor, signal)
  // a run's own mean taken out: what is left is its pairs' noise, whatever level the run had (scaled back up by
  // sqrt(n / (n - 1)), what taking out a mean estimated from the same n pairs shrank it by)
  if (pairs.length >= 2) {
    const mean = pairs.reduce((a, b) => a + b, 0) / pairs.length
    const unshrink = Math.sqrt(pairs.length / (pairs.length - 1))
    residuals.push(...pairs.map((x) => (x - mean) * unshrink))
  }
  const planned = journal.design.looks.map((l) => ({pairs: l.pairs, z: l.z}))
  if (planned.at(-1).pairs > (looks.at(-1)?.pairs ?? 0)) {
    looks = planned
    plannedBy = journal.design
  }
}
if (residuals.length < 20 || looks.length === 0) {
  console.error(`${signal}: too few pairs in these journals (${residuals.length})`)
  process.exit(2)
}
if (spending !== undefined || maxPairs !== undefined) {
  // another plan: the journals' first look and spacing, up to maxPairs, alpha spent as asked (planDesign's way)
  const {groupSequentialBoundaries} = await import('../dist/verdict/sequential.js')
  const first = looks[0].pairs
  const every = looks.length > 1 ? looks[1].pairs - looks[0].pairs : 1
  const last = maxPairs === undefined ? looks.at(-1).pairs : Number(maxPairs)
  const alpha = plannedBy.alpha
  const counts = []
  for (let n = first; n < last; n += every) counts.push(n)
  counts.push(last)
  const kind = spending ?? plannedBy.spending
  const zs = groupSequentialBoundaries(counts.map((n) => n / last), alpha, kind)
  looks = counts.map((pairs, i) => ({pairs, z: zs[i]}))
  console.log(`plan: looks at ${counts.join(',')} pairs, ${kind} spending, alpha ${alpha}; critical values ${zs.map((z) => z.toFixed(2)).join(',')}`)
}

const limit = Math.log(1 + threshold)
const truth = Math.log(1 + change)
const draw = () => residuals[Math.floor(Math.random() * residuals.length)]
const normal = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random())

function run() {
  const level = truth + tau * normal()
  const d = []
  for (const {pairs, z} of looks) {
    while (d.length < pairs) d.push(level + draw())
    const n = d.length
    const mean = d.reduce((a, b) => a + b, 0) / n
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
    // the runner's own three-way rule on the paired log ratios, as judge-blocks.ts calls it
    const {verdict} = threeWay({estimate: mean, se: sd / Math.sqrt(n), df: n - 1}, limit, 'above', z)
    if (verdict !== 'inconclusive') return {verdict, pairs: n}
  }
  return {verdict: 'inconclusive', pairs: looks.at(-1).pairs}
}

const counts = {breach: 0, contained: 0, inconclusive: 0}
const decidedAfter = []
for (let i = 0; i < trials; i++) {
  const {verdict, pairs} = run()
  counts[verdict]++
  if (verdict !== 'inconclusive') decidedAfter.push(pairs)
}
decidedAfter.sort((a, b) => a - b)
const share = (k) => `${(100 * counts[k] / trials).toFixed(1)}%`
console.log(`${signal}: ${residuals.length} pairs from ${args.length} journals, looks at ${looks.map((l) => l.pairs).join(',')} pairs`)
console.log(`change +${(100 * change).toFixed(1)}% against a threshold of ${(100 * threshold).toFixed(1)}%, tau ${tau}: breach ${share('breach')}, contained ${share('contained')}, inconclusive ${share('inconclusive')} of ${trials} simulated runs; the decided ones after a median of ${decidedAfter[Math.floor(decidedAfter.length / 2)] ?? '-'} pairs`)
