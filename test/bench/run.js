#!/usr/bin/env node
// `npm run bench`: the toolkit's stressors, watcher and verdict measured against their peers (stress-ng, dd,
// fallocate, iperf3) run in the same invocation, with min / median / max over repeated runs.
//
//   node test/bench/run.js [--quick | --full] [--only 1,4] [--write] [--out FILE]
//
// --quick (the default) is a CI smoke under 3 minutes: fewer repeats, shorter windows; it prints the table and
// writes docs/benchmarks.md only with --write. --full takes the figures (about 45 minutes) and writes the file.
// --smoke only checks the bench's own wiring (every row in its smallest form, seconds each): its figures mean nothing.
// CHAOS_BENCH_LOAD=1 runs row 8 beside `stress-ng --cpu 1 --cpu-load 50`; its lines are row "8 loaded", and a
// --write keeps the quiet row 8 beside them (and the reverse).
// Needs root (cgroups) and a built dist/ (`npm run bench` builds first). Everything it creates (cgroups
// chaos-bench-PID-*, files in one temp dir, processes) is removed at the end of each row, even on failure.
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {detectProgram, summarize, Tracker, verdictRowId} from './lib.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')

const ROWS = [
  {n: 1, title: 'CPU dose error (0.5-CPU box)', peer: 'stress-ng --cpu 1 --cpu-load', goal: 'within 2 pp of the asked share', file: './rows/cpu.js'},
  {n: 2, title: 'memory leak', peer: 'stress-ng --vm 1 --vm-hang 0', goal: 'within 2% (bytes), 5% (rate)', file: './rows/memory.js'},
  {n: 3, title: 'disk fill', peer: 'dd oflag=direct; fallocate -l', goal: 'within 1%; >= 80% of dd', file: './rows/disk.js'},
  {n: 4, title: 'network flood (loopback)', peer: 'iperf3', goal: '>= 80% of iperf3; within 5% of rate', file: './rows/network.js'},
  {n: 5, title: 'time to inject / recover', peer: '-', goal: 'under 1 s each', file: './rows/inject.js'},
  {n: 6, title: 'CLI start; watcher CPU', peer: 'node -e 0; Gremlin < 0.1% idle', goal: 'start < 0.3 s; < 2% of a core', file: './rows/cli.js'},
  {n: 7, title: 'scale', peer: '-', goal: '200 neighbours; k8s < 2 s', file: './rows/scale.js'},
  {n: 8, title: 'verdict quality', peer: '-', goal: '<= 5% false breach; <= 10% each wrong verdict at L; >= 90% power at 2L', file: './rows/verdict.js'},
  {n: 9, title: 'process creation', peer: 'stress-ng --fork 1 --fork-max 1', goal: '>= 50% of stress-ng; within 5% of rate', file: './rows/fork.js'},
  {n: 10, title: 'disk I/O saturation', peer: 'dd bs=1M oflag=direct', goal: '>= 80% of dd; within 5% of rate', file: './rows/io.js'},
]

function parseArgs(argv) {
  const options = {mode: 'quick', only: undefined, write: false, out: join(root, 'docs', 'benchmarks.md')}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') options.mode = 'quick'
    // a wiring check of the bench itself: every row in its smallest form, seconds each; no figures
    else if (arg === '--smoke') options.mode = 'smoke'
    else if (arg === '--full') options.mode = 'full'
    else if (arg === '--write') options.write = true
    else if (arg === '--only') options.only = argv[++i].split(',').map(Number)
    else if (arg.startsWith('--only=')) options.only = arg.slice(7).split(',').map(Number)
    else if (arg === '--out') options.out = argv[++i]
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: node test/bench/run.js [--quick | --full | --smoke] [--only 1,4] [--write] [--out FILE]')
      process.exit(0)
    } else {
      console.error(`unknown argument ${arg}`)
      process.exit(2)
    }
  }
  if (options.mode === 'full') options.write = true
  return options
}

function machine() {
  const kernel = os.release()
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  return {
    nproc: os.availableParallelism(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel,
    cpu,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cgroup: existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1',
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const UNITS = {
  pp: (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} pp`,
  pct: (v) => `${v.toFixed(1)}%`,
  ratio: (v) => `${(v * 100).toFixed(2)}%`,
  ms: (v) => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`),
  s: (v) => `${v.toFixed(2)} s`,
  MiB: (v) => `${v.toFixed(1)} MiB`,
  'MiB/s': (v) => `${v.toFixed(0)} MiB/s`,
  'GB/s': (v) => `${v.toFixed(2)} GB/s`,
  'Gbit/s': (v) => `${v.toFixed(2)} Gbit/s`,
  'Mbit/s': (v) => `${v.toFixed(1)} Mbit/s`,
  count: (v) => `${Math.round(v)}`,
  n: (v) => `${v}`,
}

export function format(value, unit) {
  return (UNITS[unit] ?? ((v) => `${v.toPrecision(3)} ${unit}`))(value)
}

function cell(values, unit) {
  if (values === undefined || values === null) return '-'
  if (typeof values === 'string') return values
  const s = summarize(values)
  if (!s) return 'no data'
  if (s.n === 1 || s.min === s.max) return format(s.median, unit)
  return `${format(s.min, unit)} / **${format(s.median, unit)}** / ${format(s.max, unit)}`
}

function ratioCell(line) {
  if (!line.ratio || typeof line.ours === 'string' || typeof line.peer === 'string' || !line.peer) return '-'
  const ours = summarize(line.ours)?.median
  const peer = summarize(line.peer)?.median
  if (!ours || !peer) return '-'
  return `${(line.ratio === 'peer/ours' ? peer / ours : ours / peer).toFixed(2)}×`
}

function resultCell(line) {
  if (typeof line.ours === 'string') return line.ours.startsWith('not measured') ? 'not measured' : '-'
  if (!line.check) return '-'
  const ours = summarize(line.ours)
  const peer = Array.isArray(line.peer) ? summarize(line.peer) : undefined
  if (!ours) return 'no data'
  const {met, text} = line.check(ours, peer)
  // null: the point meets the goal, but the measurement is too small to show it
  if (met === null) return `not shown: ${text}`
  return met ? `met${text ? ` (${text})` : ''}` : `**MISSED** ${text}`
}

/** the id a failed row reports under: a row run in a variant (row 8 under load, or its runner part alone) keeps it */
function failedRowId(row) {
  if (row.n !== 8) return undefined
  const env = process.env
  return verdictRowId({runner: env.CHAOS_BENCH_RUNNER_ONLY === '1', signal: env.CHAOS_BENCH_RUNNER_SIGNAL, loaded: env.CHAOS_BENCH_LOAD === '1'})
}

function table(results) {
  const out = ['| # | measure | chaos: min / **median** / max | peer: min / **median** / max | ratio | goal | result |', '|---|---|---|---|---|---|---|']
  for (const {row, id, lines, error} of results) {
    if (error) {
      out.push(`| ${id ?? row.n} | ${row.title} | error: ${error.replaceAll('|', '\\|').replaceAll('\n', ' ')} | - | - | ${row.goal} | **ERROR** |`)
      continue
    }
    for (const line of lines) {
      out.push(`| ${line.id ?? row.n} | ${line.what} | ${cell(line.ours, line.unit)} | ${cell(line.peer, line.peerUnit ?? line.unit)} | ${ratioCell(line)} | ${line.goal ?? ''} | ${resultCell(line)} |`)
    }
  }
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2))
  if (process.getuid?.() !== 0) console.error('warning: not root; the cgroup rows will fail')
  const m = machine()
  const peers = {
    stressNg: detectProgram('stress-ng'),
    iperf3: detectProgram('iperf3'),
    dd: detectProgram('dd'),
    fallocate: detectProgram('fallocate', ['--version']),
    taskset: detectProgram('taskset', ['--version']),
  }
  // the CHAOS_BENCH_* settings a row reads (CHAOS_BENCH_LOAD, CHAOS_BENCH_RECORD_S, ...) are part of the command
  const settings = Object.entries(process.env).filter(([k]) => k.startsWith('CHAOS_BENCH_')).map(([k, v]) => `${k}=${v} `).sort().join('')
  const command = `${settings}node test/bench/run.js --${options.mode}${options.only ? ` --only ${options.only.join(',')}` : ''}`
  console.log(`${command}\nmachine: ${m.nproc} CPUs (${m.cpu}), ${m.memory}, Linux ${m.kernel}, cgroup ${m.cgroup}, Node ${m.node}, ${m.date}`)
  for (const [name, p] of Object.entries(peers)) console.log(`peer ${name}: ${p.present ? p.version : 'ABSENT'}`)

  const tracker = new Tracker()
  let interrupted = false
  const onSignal = async (signal) => {
    if (interrupted) process.exit(130)
    interrupted = true
    console.error(`\n${signal}: removing what the bench created...`)
    const problems = await tracker.cleanup()
    if (problems.length) console.error(`left behind: ${problems.join('; ')}`)
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const started = Date.now()
  const results = []
  const rows = ROWS.filter((r) => !options.only || options.only.includes(r.n))
  for (const row of rows) {
    const rowStarted = Date.now()
    console.log(`\n== row ${row.n}: ${row.title}`)
    const ctx = {
      mode: options.mode, quick: options.mode !== 'full', pick: (choices) => choices[options.mode], tracker, peers, root,
      log: (line) => console.log(`   ${line}`),
    }
    // A row that fails is run once more (another user of the machine may have swept its boxes: `chaos cleanup`
    // removes every chaos-* cgroup and stressor it does not own); the retry is noted.
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const {run} = await import(row.file)
        const result = await run(ctx)
        const notes = result.notes ?? []
        if (attempt > 1) notes.push(`run a second time after the first attempt failed: ${results.pop().error}`)
        // a row run in a variant (row 8 under load) reports under an id of its own, e.g. "8 loaded"
        results.push({row, id: result.id, lines: result.lines, notes})
        break
      } catch (error) {
        console.error(`   row ${row.n} failed${attempt === 1 ? ' (will retry once)' : ''}: ${error.stack ?? error}`)
        if (attempt > 1) results.pop()
        results.push({row, id: failedRowId(row), error: error.message ?? String(error), notes: []})
      } finally {
        const problems = await tracker.cleanup()
        if (problems.length) console.error(`   cleanup problems: ${problems.join('; ')}`)
      }
      if (interrupted) break
    }
    console.log(`   (${((Date.now() - rowStarted) / 1000).toFixed(0)} s)`)
  }
  const seconds = (Date.now() - started) / 1000

  const leftovers = tracker.leftovers()
  const cleanupLine = leftovers.length === 0
    ? 'cleanup: nothing left behind (no chaos-bench-* cgroups, no stressor or peer processes, temp dir removed)'
    : `cleanup: LEFT BEHIND: ${leftovers.join(', ')}`
  const tableText = table(results)
  console.log(`\n${tableText}\n`)
  for (const {row, id, notes} of results) for (const note of notes) console.log(`- row ${id ?? row.n}: ${note}`)
  console.log(`\n${cleanupLine}\ntotal ${seconds.toFixed(0)} s`)

  if (options.write) {
    const block = /<!-- bench:begin[\s\S]*?<!-- bench:end -->/
    const existing = existsSync(options.out) ? readFileSync(options.out, 'utf8') : '# Benchmarks\n\n<!-- bench:begin -->\n<!-- bench:end -->\n'
    let commandLine = `Command: \`${command}\` (${options.mode} mode, ${seconds.toFixed(0)} s)`
    let tableLines = tableText.split('\n')
    let peersLine = `Peers: ${Object.entries(peers).filter(([n]) => n !== 'taskset').map(([n, p]) => `${n} ${p.present ? `(${p.version})` : 'ABSENT'}`).join(', ')}`
    let machineLine = `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memory} memory, Linux ${m.kernel} (cgroup ${m.cgroup}), Node ${m.node}, ${m.date}`
    let noteLines = results.flatMap(({row, id, notes}) => notes.map((note) => `- row ${id ?? row.n}: ${note}`))
    const previous = block.exec(existing)?.[0]
    if (options.only && previous) {
      // --only: the other rows (and the other variant of a row: "8" and "8 loaded") stay as the last run left
      // them; this run's rows replace theirs
      const idOf = (line) => /^(?:\| |- row )(\d+(?: [a-z]+)*)(?: \||:)/.exec(line)?.[1]
      const rowOf = (line) => Number.parseInt(idOf(line), 10)
      // a row's lines may carry ids of their own (row 8's runner part: "8 runner"), which this run replaces too
      const replaced = new Set(results.flatMap(({row, id, lines}) => [id ?? String(row.n), ...(lines ?? []).map((line) => line.id).filter(Boolean)]))
      const old = previous.split('\n')
      const byRow = (lines) => lines.map((line, i) => ({line, i})).sort((a, b) => rowOf(a.line) - rowOf(b.line) || (idOf(a.line) === String(rowOf(a.line)) ? 0 : 1) - (idOf(b.line) === String(rowOf(b.line)) ? 0 : 1) || a.i - b.i).map((x) => x.line)
      tableLines = [...tableLines.slice(0, 2), ...byRow([...old.filter((l) => /^\| \d+[ a-z]* \|/.test(l) && !replaced.has(idOf(l))), ...tableLines.slice(2)])]
      noteLines = byRow([...old.filter((l) => /^- row \d+[ a-z]*:/.test(l) && !replaced.has(idOf(l))), ...noteLines])
      const oldCommand = old.find((l) => l.startsWith('Command:'))
      // the same command run again replaces its earlier mention: its lines replaced theirs
      const rerun = `rows ${options.only.join(', ')} re-run with \`${command}\``
      const earlier = oldCommand?.split('; ').filter((part) => !part.startsWith(`${rerun} (`)).join('; ')
      if (oldCommand) commandLine = `${earlier}; ${rerun} (${m.date}, ${seconds.toFixed(0)} s, ${m.nproc} CPUs (${m.cpu}), Linux ${m.kernel})`
      // the machine and peers lines are the full run's: the rows not re-run were measured there
      machineLine = old.find((l) => l.startsWith('Machine:')) ?? machineLine
      peersLine = old.find((l) => l.startsWith('Peers:')) ?? peersLine
    }
    const generated = [
      '<!-- bench:begin (generated by test/bench/run.js; edit outside these markers) -->',
      commandLine,
      '',
      machineLine,
      '',
      peersLine,
      '',
      ...tableLines,
      '',
      ...noteLines,
      '',
      cleanupLine,
      '<!-- bench:end -->',
    ].join('\n')
    const updated = block.test(existing) ? existing.replace(block, () => generated) : `${existing.trimEnd()}\n\n${generated}\n`
    writeFileSync(options.out, updated)
    console.log(`wrote ${options.out}`)
  }
  process.exitCode = leftovers.length > 0 ? 5 : results.some((r) => r.error) ? 1 : 0
}

await main()
