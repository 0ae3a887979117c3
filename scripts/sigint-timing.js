#!/usr/bin/env node
// SIGINT during injection, measured through the CLI as an operator's Ctrl-C reaches it: N runs (default 10), each
// interrupted 1-3 s into the injection; the time from the signal to the last stressor gone, to the CLI's exit, and
// the exit code (3 expected), and what `chaos cleanup` still finds after (nothing expected).
// Usage (root, after npm run build): node scripts/sigint-timing.js [N] [experiment]
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {listStressorProcesses} from '../dist/stressors/spawn.js'

const runs = Number(process.argv[2] ?? 10)
const source = process.argv[3] ?? 'experiments/cpu-hog.yaml'
const dir = mkdtempSync(join(tmpdir(), 'chaos-sigint-'))
const env = {...process.env, CHAOS_STATE_DIR: join(dir, 'state')}
const file = join(dir, 'experiment.yaml')
// own ports, so the script never collides with another run
writeFileSync(file, readFileSync(source, 'utf8').replace(/\b191(\d\d)\b/g, '198$1'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const rows = []
for (let i = 0; i < runs; i++) {
  const child = spawn(process.execPath, ['bin/run.js', 'run', file, '--warmup', '1s', '--baseline', '3s', '--inject', '20s', '--recover', '0s'], {env, stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += c })
  const exited = new Promise((r) => child.once('exit', (code) => r(code)))
  while (!/burning \d/.test(stderr) && child.exitCode === null) await sleep(20)
  const runId = /run ([0-9a-f]{8})/.exec(stderr)?.[1]
  await sleep(1000 + Math.random() * 2000)
  const burning = listStressorProcesses().filter((p) => p.runId === runId).length
  const signalledAt = performance.now()
  child.kill('SIGINT')
  let goneMs = null
  while (performance.now() - signalledAt < 5000) {
    if (!listStressorProcesses().some((p) => p.runId === runId)) {
      goneMs = performance.now() - signalledAt
      break
    }
    await sleep(5)
  }
  const code = await exited
  const exitMs = performance.now() - signalledAt
  const left = execFileSync(process.execPath, ['bin/run.js', 'cleanup', '--dry-run'], {env, encoding: 'utf8'}).trim()
  rows.push({goneMs, exitMs, code, burning, left})
  console.log(`#${i + 1} run ${runId}: ${burning} stressor(s) burning; SIGINT -> stressors gone in ${goneMs?.toFixed(0) ?? 'NOT GONE'} ms, CLI exit ${code} after ${exitMs.toFixed(0)} ms; cleanup --dry-run: ${left}`)
}
rmSync(dir, {recursive: true, force: true})
const sorted = (xs) => xs.filter((x) => x !== null).sort((a, b) => a - b)
const gone = sorted(rows.map((r) => r.goneMs))
const exit = sorted(rows.map((r) => r.exitMs))
const bad = rows.filter((r) => r.goneMs === null || r.goneMs > 1000 || r.code !== 3 || r.left !== 'nothing to clean up' || r.burning === 0)
console.log(`\n${runs} runs interrupted with SIGINT during injection: stressors gone in min ${gone[0]?.toFixed(0)} / median ${gone[Math.floor(gone.length / 2)]?.toFixed(0)} / max ${gone.at(-1)?.toFixed(0)} ms; ` +
  `CLI exited (journal written) in median ${exit[Math.floor(exit.length / 2)]?.toFixed(0)} / max ${exit.at(-1)?.toFixed(0)} ms; exit 3 in ${rows.filter((r) => r.code === 3).length}/${runs}; ${bad.length} runs outside the goal`)
process.exit(bad.length === 0 ? 0 : 1)
