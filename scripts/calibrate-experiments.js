#!/usr/bin/env node
// `chaos calibrate` on many experiment files, one after another: each file's own workflows through the real runner
// at its fault's null dose (A/A), N runs each, its calibration kept, and at the end the A/A runs of them all pooled
// into one false-breach count with its exact interval (scripts/pool-calibrations.js). As root, after npm run build:
//
//   node scripts/calibrate-experiments.js [N] [--load] [--ssh] [--out DIR] [file...]
//
// N A/A runs per file (default 20, the quiet count the verdict issue asks; 10 with --load). --load runs
// `stress-ng --cpu 1 --cpu-load 50` beside the whole time; --ssh points host files at a throwaway loopback sshd;
// files default to every Experiment in experiments/ (the process platform's), as for repeat-experiments.js. DIR
// (default a new temp directory) gets NAME[-loaded].json, NAME[-loaded].log and the journals of every run.
// A file the toolkit refuses (exit 2: no Docker engine, no cluster, bad input) is reported and the next one runs.
import {execFileSync} from 'node:child_process'
import {createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {countingArgs, interruptibleRuns, runPaths, startBackgroundLoad} from './counting.js'

const args = process.argv.slice(2)
const {load, ssh, out, times: given, files} = countingArgs(args, 0)
const runs = given || (load ? 10 : 20)
const dir = out ?? mkdtempSync(join(tmpdir(), 'chaos-calibrate-'))
mkdirSync(dir, {recursive: true})
// Ctrl-C or a kill: the calibration under way rolls back and writes what it has (chaos calibrate's own interrupt),
// the files after it are not started, and what was written is pooled
const children = interruptibleRuns()
const stopLoad = load ? startBackgroundLoad() : undefined
const {paths, stop: stopSshd} = await runPaths(files, ssh)

/**
 * One `chaos calibrate`, its output kept in a log and each run's line (its stderr) shown as it comes: a file's
 * 20 runs take a quarter of an hour, and a count should say where it is.
 */
async function calibrate(args, log) {
  const out = createWriteStream(log)
  const result = await children.run(args, {
    // a file's calibration is many runs: no timeout of a single run applies
    timeoutMs: 24 * 3600_000,
    onStdout: (chunk) => out.write(chunk),
    onStderr: (chunk) => {
      out.write(chunk)
      process.stdout.write(String(chunk).replace(/^(?=.)/gm, '  '))
    },
  })
  await new Promise((resolve) => out.end(resolve))
  return result
}

/** experiments/docker/cpu-hog.yaml -> docker-cpu-hog: one name per file, whichever folder it is in */
const nameOf = (file) => relative('experiments', file).replace(/\.yaml$/, '').replaceAll('/', '-').replace(/^(\.\.-)+/, '')

console.log(`${runs} A/A runs of each of ${files.length} file(s)${load ? ', stress-ng --cpu 1 --cpu-load 50 beside' : ''}; calibrations in ${dir}`)
const written = []
for (const file of files) {
  if (children.interrupted()) {
    console.log(`${file}: not started (interrupted)`)
    continue
  }
  const name = `${nameOf(file)}${load ? '-loaded' : ''}`
  const output = join(dir, `${name}.json`)
  const started = Date.now()
  const loadBefore = loadavg()[0]
  const result = await calibrate(['bin/run.js', 'calibrate', paths.get(file), '--runs', String(runs), '--spikes', '0', '-o', output, '--journals', join(dir, `journals-${name}`)], join(dir, `${name}.log`))
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const loadAverage = ((loadBefore + loadavg()[0]) / 2).toFixed(2)
  if (result.status !== 0 || !existsSync(output)) {
    const why = (result.stderr || result.stdout || '').trim().split('\n').filter(Boolean).at(-1) ?? `signal ${result.signal}`
    console.log(`${file}: exit ${result.status}, no calibration (${why}) after ${minutes} min`)
    continue
  }
  written.push(output)
  const {aa} = JSON.parse(readFileSync(output, 'utf8'))
  console.log(`${file}: ${aa.falseBreach.count}/${aa.falseBreach.of} false breaches, ${aa.verdicts.contained} contained, ${aa.verdicts.inconclusive} inconclusive ` +
    `(${aa.doseNotLanded.count} with the dose not landed), pairs to a decision median ${aa.decisionPairs.median ?? '-'}; ${minutes} min, load ${loadAverage}`)
}
stopLoad?.()
stopSshd()

if (written.length === 0) {
  console.log('no calibration written: nothing to pool')
  process.exit(1)
}
// the pooled count, by the one script that pools calibrations
console.log('')
execFileSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'pool-calibrations.js'), ...written], {stdio: 'inherit'})
if (written.length < files.length) process.exit(1)
