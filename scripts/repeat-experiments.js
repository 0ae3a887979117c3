#!/usr/bin/env node
// Reliability of the experiments: runs each N times (default 10) through the CLI and tallies verdicts, exit codes,
// dose and duration. Usage: node scripts/repeat-experiments.js [N] [file...]  (after npm run build, as root)
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const args = process.argv.slice(2)
const times = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 10
const files = args.length ? args : readdirSync('experiments').filter((f) => f.endsWith('.yaml') && /^kind: Experiment$/m.test(readFileSync(join('experiments', f), 'utf8'))).sort().map((f) => join('experiments', f))
const dir = mkdtempSync(join(tmpdir(), 'chaos-repeat-'))

const rows = []
for (let i = 0; i < times; i++) {
  for (const file of files) {
    const output = join(dir, `${i}-${file.replaceAll('/', '_')}.json`)
    const started = Date.now()
    let code = 0
    try {
      execFileSync(process.execPath, ['bin/run.js', 'run', file, '--output', output, '--quiet'], {stdio: 'ignore', timeout: 180_000})
    } catch (error) {
      code = error.status ?? -1
    }
    const seconds = (Date.now() - started) / 1000
    let journal
    try {
      journal = JSON.parse(readFileSync(output, 'utf8'))
    } catch {
      journal = undefined
    }
    const signals = journal?.neighbors.flatMap((n) => n.signals.map((s) => `${s.signal}=${s.verdict}${s.change === null ? '' : `(${(s.change * 100).toFixed(0)}%)`}`)).join(' ') ?? ''
    const row = {file, run: i + 1, code, verdict: journal?.verdict, expect: journal?.expect, dose: journal?.injection.efficacy?.landed, ratio: journal?.injection.efficacy?.ratio, seconds, signals}
    rows.push(row)
    console.log(`${file} #${i + 1}: exit ${code} ${row.verdict} (expect ${row.expect}) dose ${row.dose ? 'landed' : 'NOT landed'} ${seconds.toFixed(0)}s  ${signals}`)
  }
}
console.log('\nsummary (runs giving the expected verdict, exit 0):')
for (const file of files) {
  const mine = rows.filter((r) => r.file === file)
  const ok = mine.filter((r) => r.code === 0).length
  console.log(`  ${file}: ${ok}/${mine.length}, longest ${Math.max(...mine.map((r) => r.seconds)).toFixed(0)}s`)
}
