#!/usr/bin/env node
// Where in a fault-on block a neighbour's harm sits. Reads run journals (`chaos run --output J`, or the ones
// scripts/repeat-experiments.js keeps) and compares each second of every fault-on block with its own pair's
// fault-off block: the per-second p99 and p50 from the neighbour's timeline, on the log scale, against the mean of
// the off block's seconds. Prints, per second of the block, the geometric-mean change and its standard error.
// A fault that ends itself (a leak killed by its limit) shows its cost in the seconds of its episode only.
// The neighbour is the journal's first unless --neighbor names one; seconds past `block` (an episode that ran
// longer) are left out, so every row compares the same second of equal blocks.
//
//   node scripts/block-seconds.js [--neighbor NAME] JOURNAL.json...
import {readFileSync} from 'node:fs'

const args = process.argv.slice(2)
const at = args.indexOf('--neighbor')
const wanted = at >= 0 ? args.splice(at, 2)[1] : undefined
if (args.length === 0) {
  console.error('usage: node scripts/block-seconds.js [--neighbor NAME] JOURNAL.json...')
  process.exit(2)
}

const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length
const sd = (a) => {
  const m = mean(a)
  return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1))
}
/** per second of the block: ln(on second) − mean ln(off seconds), for p99 and p50 */
const change = {p99: [], p50: []}
let blockSeconds = 0
for (const file of args) {
  const journal = JSON.parse(readFileSync(file, 'utf8'))
  // one baseline window and one fault window have no pairs to compare second by second
  if (journal.design?.kind !== 'interleaved') continue
  const blocks = journal.design.blocks
  const neighbor = journal.neighbors.find((n) => wanted === undefined || n.name === wanted)
  if (!neighbor) continue
  blockSeconds = Math.max(blockSeconds, Math.round(journal.design.blockMs / 1000))
  const pairs = new Map()
  for (const block of blocks) {
    const start = Date.parse(block.start)
    const end = Date.parse(block.end)
    // a timeline entry at t covers the second before t; 200 ms of slack for the sampler's own timing
    const seconds = neighbor.timeline.filter((s) => s.t > start + 200 && s.t <= end + 200 && s.p99 > 0 && s.p50 > 0)
    if (!pairs.has(block.pair)) pairs.set(block.pair, {})
    pairs.get(block.pair)[block.arm] = seconds
  }
  for (const {on, off} of pairs.values()) {
    if (!on?.length || !off?.length) continue
    for (const stat of ['p99', 'p50']) {
      const base = mean(off.map((s) => Math.log(s[stat])))
      on.forEach((s, i) => { (change[stat][i] ??= []).push(Math.log(s[stat]) - base) })
    }
  }
}
if (change.p99.length === 0) {
  console.error('no interleaved fault-on/fault-off pairs in these journals')
  process.exit(1)
}
const percent = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
console.log('second  pairs  p99 change (se)       p50 change')
change.p99.forEach((values, i) => {
  if (i >= blockSeconds) return
  const p50 = change.p50[i]
  console.log(`${String(i).padStart(6)}  ${String(values.length).padStart(5)}  ${percent(Math.exp(mean(values)) - 1).padStart(7)} (${(sd(values) / Math.sqrt(values.length) * 100).toFixed(1)}%)`.padEnd(38) + percent(Math.exp(mean(p50)) - 1))
})
