#!/usr/bin/env node
// Reliability of the experiments: runs each N times (default 10) through the CLI and tallies verdicts against each
// file's `expect`, wrong verdicts (a breach where contained is expected, or the reverse), exit codes, the dose and
// the time spent measuring. As root, after npm run build:
//
//   node scripts/repeat-experiments.js [N] [--load] [--out rows.jsonl] [file...]
//
// --load runs `stress-ng --cpu 1 --cpu-load 50` (normal priority) beside every run the whole time, the busy machine
// the verdict issue asks about. Files default to every Experiment in experiments/ (the process platform's).
// --ssh starts a throwaway OpenSSH server on loopback (its own keys, a free port; scripts/loopback-sshd.js) and runs
// each host experiment (experiments/host/, one host) pointed at it, as the tests do: the host platform's counts.
import {appendFileSync, mkdtempSync, readFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {countingArgs, interruptibleRuns, runPaths, startBackgroundLoad} from './counting.js'

const {load, ssh, out, times, files} = countingArgs(process.argv.slice(2), 10)
const dir = mkdtempSync(join(tmpdir(), 'chaos-repeat-'))
// Ctrl-C or a kill: the run under way rolls back and is counted with what it has, nothing after it starts
const runs = interruptibleRuns()
const stopLoad = load ? startBackgroundLoad() : undefined

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
}

/** seconds from the first block's start to the last block's end: the time spent measuring */
function measuringSeconds(journal) {
  const blocks = journal?.design?.blocks ?? []
  if (blocks.length === 0) return NaN
  return (Date.parse(blocks.at(-1).end) - Date.parse(blocks[0].start)) / 1000
}

// where each file is run from: itself, or with --ssh a copy of a host experiment pointed at the loopback sshd
const {paths: runPath, stop: stopSshd} = await runPaths(files, ssh)

const rows = []
for (let i = 0; i < times && !runs.interrupted(); i++) {
  for (const file of files) {
    const output = join(dir, `${i}-${file.replaceAll('/', '_')}.json`)
    const started = Date.now()
    const loadBefore = loadavg()[0]
    if (runs.interrupted()) break
    const result = await runs.run(['bin/run.js', 'run', runPath.get(file), '--output', output, '--quiet'])
    const code = result.status ?? -1
    const seconds = (Date.now() - started) / 1000
    let journal
    try {
      journal = JSON.parse(readFileSync(output, 'utf8'))
    } catch {
      journal = undefined
    }
    const signals = journal?.neighbors.flatMap((n) => n.signals.map((s) => `${s.signal}=${s.verdict}${s.change === null ? '' : `(${(s.change * 100).toFixed(0)}%)`}`)).join(' ') ?? ''
    const verdict = journal?.verdict
    const expect = journal?.expect
    const wrong = (expect === 'contained' && verdict === 'breach') || (expect === 'breach' && verdict === 'contained')
    const row = {
      file, run: i + 1, load, code, verdict, expect, wrong, dose: journal?.injection.efficacy?.landed, ratio: journal?.injection.efficacy?.ratio,
      seconds, measuring: measuringSeconds(journal), pairs: journal?.design?.looks.at(-1)?.pairs, stopped: journal?.design?.stoppedBecause,
      loadavg: Number(((loadBefore + loadavg()[0]) / 2).toFixed(2)), journal: output, signals,
    }
    rows.push(row)
    if (out) appendFileSync(out, JSON.stringify(row) + '\n')
    console.log(`${file} #${i + 1}: exit ${code} ${verdict} (expect ${expect})${wrong ? ' WRONG' : ''} dose ${row.dose ? 'landed' : 'NOT landed'} ${seconds.toFixed(0)}s (measuring ${row.measuring.toFixed(0)}s, load ${row.loadavg})  ${signals}`)
  }
}
if (runs.interrupted()) console.log('interrupted: the run under way was rolled back; nothing after it was started')
console.log(`\nsummary${load ? ' (stress-ng --cpu 1 --cpu-load 50 beside)' : ''}: expected verdict / runs, wrong verdicts, inconclusive, median measuring time`)
for (const file of files) {
  const mine = rows.filter((r) => r.file === file)
  const right = mine.filter((r) => r.verdict !== undefined && r.verdict === r.expect).length
  const wrong = mine.filter((r) => r.wrong).length
  const inconclusive = mine.filter((r) => r.verdict === 'inconclusive').length
  console.log(`  ${file}: ${right}/${mine.length} expected, ${wrong} wrong, ${inconclusive} inconclusive, median measuring ${median(mine.map((r) => r.measuring)).toFixed(0)}s, longest run ${Math.max(...mine.map((r) => r.seconds)).toFixed(0)}s`)
}
// The load must end with the runs: a stress-ng left behind would load the next measurement (and it keeps this
// process alive, so the 'exit' handler alone never runs).
stopLoad?.()
// so is the sshd, which would keep this process alive too
stopSshd()
