#!/usr/bin/env node
// The realised change of each shift in a calibration written before `chaos calibrate` recorded it: the runs'
// pairs are in their journals (the calibration's --journals directory), so the change they really saw is read
// from there by the calibration's own code (realisedChange) and written into the file, which is then a calibration
// like a new one: `chaos calibrate` and bench row 8 rate its shifts where their change was realised. A calibration
// kept in the repository without its journals (megabytes) keeps the figures so.
//
//   npm run build && node scripts/realise-calibration.js CALIBRATION.json JOURNALS_DIR [-o OUT.json]
//
// Without -o the file is rewritten in place. Prints the shifts as `chaos calibrate` prints them.
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const o = args.indexOf('-o')
const out = o >= 0 ? args[o + 1] : undefined
const [file, journals] = o >= 0 ? args.filter((_, i) => i !== o && i !== o + 1) : args
if (!file || !journals || (o >= 0 && !out)) {
  console.error('usage: node scripts/realise-calibration.js CALIBRATION.json JOURNALS_DIR [-o OUT.json]')
  process.exit(2)
}
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'calibrate')
const {realisedChange} = await import(join(dist, 'report.js'))
const {renderCalibration} = await import(join(dist, 'run-calibration.js'))

const calibration = JSON.parse(readFileSync(file, 'utf8'))
if (!calibration.shift?.length) {
  console.error(`${file}: no shifted runs, nothing to realise`)
  process.exit(2)
}
for (const family of calibration.shift) {
  const missing = family.runIds.filter((id) => !existsSync(join(journals, `${id}.json`)))
  if (missing.length) {
    console.error(`${journals}: no journal of ${missing.length} of the ${family.runIds.length} runs at +${family.shift * 100}% (${missing.slice(0, 3).join(', ')}...)`)
    process.exit(2)
  }
  const runs = family.runIds.map((id) => JSON.parse(readFileSync(join(journals, `${id}.json`), 'utf8'))).filter((j) => j.verdict !== 'aborted')
  for (const signal of family.signals) signal.realised = realisedChange(runs, family.neighbor, signal.signal)
}
writeFileSync(out ?? file, `${JSON.stringify(calibration, null, 2)}\n`)
console.log(renderCalibration(calibration).split('\n').filter((line) => /^(shift| {2}latency_)/.test(line)).join('\n'))
console.log(`written to ${out ?? file}`)
