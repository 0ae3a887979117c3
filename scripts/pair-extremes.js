#!/usr/bin/env node
// The pairs of a run that read far from the rest: each pair whose ln(fault-on / fault-off) of a latency signal is
// beyond ±LIMIT (default 0.8, a ratio of 2.2), with the pair's number in its run, which arm opened it and both
// blocks' values; then how many runs and pairs were read, and the extremes tallied by pair number and by the arm
// that opened the pair. Noise that falls on either arm by the coin shows up on both sides and at any pair number;
// something the fault sets off at one moment of a run shows on one side, at one pair number, after one arm (how the
// main job's third pair was seen, docs/isolation-findings.md, "The settle after every block cost the main job").
//
//   node scripts/pair-extremes.js [--limit 0.8] [--neighbor NAME] [--signal latency_p95] JOURNAL.json...
import {readFileSync} from 'node:fs'
import {basename} from 'node:path'

import {journalArgs} from './journal-args.js'

// the journals are what is left once the options are taken out
const {option, files: args} = journalArgs()
const limit = Number(option('limit', '0.8'))
const wanted = option('neighbor', undefined)
const signal = option('signal', 'latency_p95')
if (args.length === 0 || !(limit > 0)) {
  console.error('usage: node scripts/pair-extremes.js [--limit 0.8] [--neighbor NAME] [--signal latency_p95] JOURNAL.json...')
  process.exit(2)
}

let runs = 0
let pairs = 0
const extremes = []
for (const file of args) {
  const journal = JSON.parse(readFileSync(file, 'utf8'))
  if (journal.design?.kind !== 'interleaved') continue
  const neighbor = journal.neighbors.find((n) => wanted === undefined || n.name === wanted)
  if (!neighbor) continue
  // the blocks the run's last look judged, in pair order (every pair so far)
  const judged = journal.design.looks?.at(-1)?.signals.find((s) => s.neighbor === neighbor.name && s.signal === signal)
  if (!judged?.blocks?.on.length) continue
  // the pairs a look compares, in order, as the runner's blockSet takes them: a fault-on block whose dose landed,
  // with its fault-off partner
  const blocks = journal.design.blocks
  const compared = blocks.filter((b) => b.arm === 'on' && b.landed !== false && blocks.some((o) => o.arm === 'off' && o.pair === b.pair)).map((b) => b.pair)
  if (compared.length !== judged.blocks.on.length) {
    console.error(`${file}: ${judged.blocks.on.length} pairs judged, ${compared.length} found in its blocks; left out`)
    continue
  }
  runs++
  pairs += compared.length
  judged.blocks.on.forEach((on, i) => {
    const ratio = Math.log(on / judged.blocks.off[i])
    if (!(Math.abs(ratio) > limit)) return
    const pair = compared[i]
    const opened = blocks.find((b) => b.pair === pair).arm
    extremes.push({file: basename(file), pair, opened, ratio, on, off: judged.blocks.off[i]})
  })
}

const ms = (seconds) => `${(seconds * 1000).toFixed(1)} ms`
console.log(`${signal}: pairs with |ln(on/off)| > ${limit}`)
for (const e of extremes) console.log(`  ${e.file}  pair ${e.pair} (${e.opened} first)  ln ${e.ratio >= 0 ? '+' : ''}${e.ratio.toFixed(2)}  on ${ms(e.on)}  off ${ms(e.off)}`)
console.log(`${extremes.length} of ${pairs} pairs in ${runs} runs: ${extremes.filter((e) => e.ratio > 0).length} fault-on above, ${extremes.filter((e) => e.ratio < 0).length} below`)
const tally = new Map()
for (const e of extremes) {
  const t = tally.get(e.pair) ?? {on: 0, off: 0}
  t[e.opened]++
  tally.set(e.pair, t)
}
for (const [pair, t] of [...tally].sort((a, b) => a[0] - b[0])) console.log(`  pair ${pair}: ${t.on + t.off} (${t.on} opened by the fault-on block, ${t.off} by the fault-off)`)
