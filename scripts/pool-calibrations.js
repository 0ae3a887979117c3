#!/usr/bin/env node
// The A/A false-breach rate across experiments: each `chaos calibrate -o FILE` run judges one experiment's own file
// at its null dose, and 20 runs can bound its false breaches at 17% at best (0 of 20, exact 95% interval). The
// verdict's promise (at most 5%) is one design shared by every experiment, so the A/A runs of several files, each
// a real run of the runner on this machine, are pooled here into one count with its exact interval, beside each
// file's own line. Also the final intervals' coverage of no change (the truth at a null dose), pooled per signal.
//
//   npm run build && node scripts/pool-calibrations.js CALIBRATION.json...
//
// Nothing is run; the files are those `chaos calibrate` writes (its -o, or ~/.local/state/chaos/calibration/).
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node scripts/pool-calibrations.js CALIBRATION.json...')
  process.exit(2)
}
// the pooling is report.ts's, which bench row 8 uses too; the exact interval is the one the calibration prints
const {poolAa} = await import(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'calibrate', 'report.js'))

const pct = (x) => `${(100 * x).toFixed(1)}%`
const summaries = []
for (const file of files) {
  const c = JSON.parse(readFileSync(file, 'utf8'))
  const {verdicts, falseBreach, decisionPairs, doseNotLanded} = c.aa
  summaries.push(c.aa)
  const load = c.machine.loadAverage.map((x) => x.toFixed(2)).join(' ')
  console.log(`${c.experiment.name} (${c.createdAt.slice(0, 16)}, load ${load}): ${falseBreach.count}/${falseBreach.of} false breaches ` +
    `[${pct(falseBreach.interval.low)}, ${pct(falseBreach.interval.high)}], ${verdicts.contained} contained, ` +
    `${verdicts.inconclusive} inconclusive (${doseNotLanded.count} with the dose not landed), ` +
    `pairs to a decision median ${decisionPairs.median ?? '-'}`)
}
const pooled = poolAa(summaries)
const ci = pooled.falseBreach.interval
console.log(`pooled over ${files.length} calibrations: ${pooled.falseBreach.count}/${pooled.falseBreach.of} false breaches, exact 95% interval ` +
  `[${pct(ci.low)}, ${pct(ci.high)}]; ${pooled.verdicts.contained} contained, ${pooled.verdicts.inconclusive} inconclusive ` +
  `(${pooled.doseNotLanded} with the dose not landed)`)
for (const {signal, covered, of} of pooled.coverage) console.log(`  ${signal}: the final interval held no change in ${covered} of ${of} runs`)
