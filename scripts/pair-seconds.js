#!/usr/bin/env node
// Which second of a pair is slow in each run, and whether a run's level follows it. Reads run journals of the
// interleaved design and, per run, bins the neighbour's per-second ln p99 (its timeline, less the run's median) by
// the second since its pair began, whatever the arms; and prints the run's mean ln(fault-on / fault-off) of a
// latency signal over its pairs (its last look). Something that recurs once a pair (the look between pairs, a
// collector with a period near a pair's) shows as one slow second in every pair. Where a pair's two blocks do not
// sit alike (a settle after fault-on blocks only, the engine before 2026-12-07), that second falls on one arm more
// than the other, and the runs whose slow second is there read higher, or lower, for the whole run: the lines at the
// end group the runs by their slowest second. Where the blocks sit alike, the groups differ by noise only.
//
// --within-block says where in a block instead, over every journal: per arm, the mean ln p99 and ln p50 of the
// neighbour's seconds (less their run's median) by whole seconds from the block's start to the second's middle and
// from its middle to the block's end, each second counted for the block that holds three quarters of it (the
// timeline keeps p50 and p99 per second, so --signal plays no part there). A fault whose harm is its start (a
// stressor starting) or its end (a leak at its limit, the OOM kill) shows as one fault-on second that the same
// second of the fault-off blocks does not match.
//
//   npm run build && node scripts/pair-seconds.js [--neighbor NAME] [--signal latency_p95] [--within-block] JOURNAL.json...
import {readFileSync} from 'node:fs'

import {journalArgs} from './journal-args.js'

// the runner's own reading of a journal's pairs (its last look), as scripts/rule-on-pairs.js reads them
const {pairLogRatios} = await import('../dist/calibrate/report.js')

// the journals are what is left once the options are taken out
const {option, flag, files: args} = journalArgs()
const wanted = option('neighbor', undefined)
const signal = option('signal', 'latency_p95')
const withinBlock = flag('within-block')
if (args.length === 0) {
  console.error('usage: node scripts/pair-seconds.js [--neighbor NAME] [--signal latency_p95] [--within-block] JOURNAL.json...')
  process.exit(2)
}

const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length
const sd = (a) => {
  const m = mean(a)
  return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1))
}
const medianOf = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]

if (withinBlock) {
  // key "arm from|to N" -> [ln p99, ln p50] of each second there, less its run's medians
  const cells = new Map()
  let journals = 0
  for (const file of args) {
    const journal = JSON.parse(readFileSync(file, 'utf8'))
    if (journal.design?.kind !== 'interleaved') continue
    const neighbor = journal.neighbors.find((n) => wanted === undefined || n.name === wanted)
    const points = neighbor?.timeline?.filter((p) => p.p99 > 0 && p.p50 > 0 && p.requests > 0) ?? []
    if (points.length < 2) continue
    journals++
    const m99 = medianOf(points.map((p) => Math.log(p.p99)))
    const m50 = medianOf(points.map((p) => Math.log(p.p50)))
    for (let i = 1; i < points.length; i++) {
      // a timeline point closes the interval that began at the point before it
      const from = points[i - 1].t
      const to = points[i].t
      // the sampler's seconds are not cut at block edges (a fault-on block starts when the dose has landed, a
      // tenth of a second or more after the sample taken at the stressor's start): a second counts for the block
      // that holds at least three quarters of it, placed by its middle
      const inside = (b) => Math.min(to, Date.parse(b.end)) - Math.max(from, Date.parse(b.start))
      const block = journal.design.blocks.find((b) => inside(b) >= 0.75 * (to - from))
      if (!block) continue
      const middle = (from + to) / 2
      const value = [Math.log(points[i].p99) - m99, Math.log(points[i].p50) - m50]
      for (const key of [`${block.arm} from ${Math.floor((middle - Date.parse(block.start)) / 1000)}`, `${block.arm} to ${Math.floor((Date.parse(block.end) - middle) / 1000)}`]) {
        if (!cells.has(key)) cells.set(key, [])
        cells.get(key).push(value)
      }
    }
  }
  if (journals === 0) {
    console.error('no interleaved journal with a timeline')
    process.exit(2)
  }
  console.log(`where in a block, over ${journals} journals: ln p99 and ln p50 of each second less its run's median (mean, its standard error), by whole seconds from the block's start to the second's middle (from) and from its middle to the block's end (to); places with fewer than 5 seconds left out`)
  const order = (key) => { const [arm, side, n] = key.split(' '); return `${arm} ${side} ${n.padStart(3, '0')}` }
  for (const key of [...cells.keys()].sort((a, b) => order(a).localeCompare(order(b)))) {
    const values = cells.get(key)
    if (values.length < 5) continue
    const p99 = values.map((v) => v[0])
    const p50 = values.map((v) => v[1])
    const se = (a) => sd(a) / Math.sqrt(a.length)
    console.log(`  ${key.padEnd(10)} ${String(values.length).padStart(5)} s   ln p99 ${mean(p99).toFixed(3).padStart(7)} (${se(p99).toFixed(3)})   ln p50 ${mean(p50).toFixed(3).padStart(7)} (${se(p50).toFixed(3)})`)
  }
  process.exit(0)
}
const runs = []
for (const file of args) {
  const journal = JSON.parse(readFileSync(file, 'utf8'))
  if (journal.design?.kind !== 'interleaved') continue
  const neighbor = journal.neighbors.find((n) => wanted === undefined || n.name === wanted)
  if (!neighbor?.timeline) continue
  const ratios = pairLogRatios(journal, neighbor.name, signal)
  if (ratios.length === 0) continue
  const pairStart = new Map()
  for (const block of journal.design.blocks) pairStart.set(block.pair, Math.min(pairStart.get(block.pair) ?? Infinity, Date.parse(block.start)))
  const starts = [...pairStart.values()].sort((a, b) => a - b)
  const points = neighbor.timeline.filter((p) => p.p99 > 0 && p.requests > 0)
  const logs = points.map((p) => Math.log(p.p99)).sort((a, b) => a - b)
  const median = logs[logs.length >> 1]
  const bins = []
  for (let i = 1; i < points.length; i++) {
    const mid = (points[i].t + points[i - 1].t) / 2
    const start = starts.filter((s) => s <= mid).at(-1)
    if (start === undefined) continue
    const second = Math.floor((mid - start) / 1000)
    ;(bins[second] ??= []).push(Math.log(points[i].p99) - median)
  }
  const seconds = bins.map((b) => (b && b.length >= 3 ? mean(b) : undefined))
  const counted = seconds.map((v, i) => [v, i]).filter(([v]) => v !== undefined)
  if (counted.length === 0) continue
  const slowest = counted.reduce((a, b) => (b[0] > a[0] ? b : a))[1]
  runs.push({file, verdict: journal.verdict, pairs: ratios.length, level: mean(ratios), seconds, slowest})
}
if (runs.length === 0) {
  console.error(`no interleaved journal with ${signal} judged over pairs and a timeline`)
  process.exit(2)
}

runs.sort((a, b) => a.level - b.level)
const width = Math.max(...runs.map((r) => r.seconds.length))
console.log(`${signal}: each run's mean ln(on/off) over its pairs; then ln p99 less the run's median, by second of the pair (0 = its first)`)
console.log(`${'level'.padStart(7)} ${'verdict'.padEnd(12)} pairs  ${Array.from({length: width}, (_, i) => `s${i}`.padStart(6)).join('')}`)
for (const r of runs) {
  console.log(`${r.level.toFixed(3).padStart(7)} ${String(r.verdict).padEnd(12)} ${String(r.pairs).padStart(5)}  ${r.seconds.map((v) => (v === undefined ? '' : v.toFixed(2)).padStart(6)).join('')}`)
}
console.log('runs grouped by their slowest second of the pair: mean level (runs)')
for (let s = 0; s < width; s++) {
  const group = runs.filter((r) => r.slowest === s)
  if (group.length > 0) console.log(`  s${s}: ${mean(group.map((r) => r.level)).toFixed(3)} (${group.length}: ${group.map((r) => r.verdict).join(', ')})`)
}
