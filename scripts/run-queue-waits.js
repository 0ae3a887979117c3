#!/usr/bin/env node
// Whose harm is it: runs one experiment through the CLI and, every 100 ms, reads how long the neighbour's processes,
// the toolkit's probe process and the run loop waited on a CPU's run queue (/proc/PID/task/*/schedstat, field 2) and
// on which CPU each last ran (/proc/PID/task/*/stat, field 39); then gives each fault-on and fault-off block of the
// journal its wait per second and its share of samples on each CPU. A neighbour that waits longer to run in fault-on
// blocks is harmed itself; a probe that waits longer is the instrument's share of the reading. As root, after
// npm run build:
//
//   node scripts/run-queue-waits.js [--neighbour-port 19102] JOURNAL.json FILE.yaml [chaos run flags...]
//
// The neighbour is the process listening on --neighbour-port (default: the port of the first neighbour's probe URL
// in the file). Nothing is written but the journal; the figures are printed.
//
// On cgroup v1 it also reads each of the run's boxes' CPU time on each core (cpuacct.usage_percpu of
// chaos-RUN/*) and the machine's, and gives each arm every box's milliseconds per second on each core, the rest of
// the machine (kernel threads, other services) as "rest": where a neighbour's work went when the fault ran. It is
// how the main job's API was seen to leave the leak's core for the other one in fault-on blocks (2026-12-07,
// docs/isolation-findings.md, "Where the leak's harm comes from"). v2 keeps no per-core figure; it is left out there.
import {spawn} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'

const args = process.argv.slice(2)
const portFlag = args.indexOf('--neighbour-port')
let port = portFlag >= 0 ? Number(args.splice(portFlag, 2)[1]) : undefined
const [journalFile, file, ...flags] = args
if (!journalFile || !file) {
  console.error('usage: node scripts/run-queue-waits.js [--neighbour-port N] JOURNAL.json FILE.yaml [chaos run flags...]')
  process.exit(2)
}
port ??= Number(/url:\s*"?https?:\/\/[^:/]+:(\d+)/.exec(readFileSync(file, 'utf8'))?.[1])

const read = (path) => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}
const pids = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e))
const cmdline = (pid) => (read(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' ')

/** The processes of each role, found again every sample (the neighbour restarts, the probe starts late). */
function roles(cli) {
  const found = {neighbour: [], probe: [], runLoop: [cli.pid]}
  for (const pid of pids()) {
    const line = cmdline(pid)
    if (line.includes(' workload ') && line.includes(`--port ${port}`)) found.neighbour.push(pid)
    else if (line.includes('probe-main.js')) found.probe.push(pid)
  }
  return found
}

/** Summed run-queue wait (ns) of a process's threads, and the CPU each thread last ran on. */
function sample(pid) {
  let wait = 0
  const cpus = []
  let tasks = []
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  for (const task of tasks) {
    const sched = read(`/proc/${pid}/task/${task}/schedstat`)
    if (sched) wait += Number(sched.split(' ')[1])
    const stat = read(`/proc/${pid}/task/${task}/stat`)
    if (stat) cpus.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[36]))
  }
  return {wait, cpus}
}

// each box's CPU nanoseconds on each core, v1 only (v2's cpu.stat has no per-core figure)
const CPUACCT = '/sys/fs/cgroup/cpuacct'
const perCore = (file) => read(file)?.trim().split(/\s+/).map(Number)
function boxCpu() {
  const machine = perCore(`${CPUACCT}/cpuacct.usage_percpu`)
  if (!machine) return undefined
  let run
  try {
    run = readdirSync(CPUACCT).find((d) => d.startsWith('chaos-'))
  } catch {
    return undefined
  }
  const boxes = {}
  // the run's boxes come and go with it: one that is gone between two reads is simply not in this sample
  let entries = []
  try {
    entries = run ? readdirSync(`${CPUACCT}/${run}`, {withFileTypes: true}).filter((e) => e.isDirectory()) : []
  } catch {
    entries = []
  }
  for (const box of entries) {
    const ns = perCore(`${CPUACCT}/${run}/${box.name}/cpuacct.usage_percpu`)
    if (ns) boxes[box.name] = ns
  }
  return {machine, boxes}
}

const samples = []
const cli = spawn(process.execPath, ['bin/run.js', 'run', file, '--output', journalFile, '--quiet', ...flags], {stdio: 'inherit'})
const timer = setInterval(() => {
  const t = Date.now()
  const row = {t}
  for (const [role, list] of Object.entries(roles(cli))) {
    const parts = list.map((pid) => ({pid, ...sample(pid)})).filter((p) => p.wait !== undefined)
    row[role] = parts
  }
  row.cpu = boxCpu()
  samples.push(row)
}, 100)

cli.on('exit', (code) => {
  clearInterval(timer)
  const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
  const blocks = journal.design?.blocks ?? []
  console.log(`exit ${code}, verdict ${journal.verdict}, ${blocks.length} blocks`)
  /** wait per second (ms) of one role over [from, to), summed over its processes that lived through it */
  const waitIn = (role, from, to) => {
    const inside = samples.filter((s) => s.t >= from && s.t < to)
    if (inside.length < 2) return undefined
    const first = inside[0]
    const last = inside.at(-1)
    let waited = 0
    for (const p of last[role]) {
      const before = first[role].find((q) => q.pid === p.pid)
      if (before) waited += p.wait - before.wait
    }
    return waited / 1e6 / ((last.t - first.t) / 1000)
  }
  const span = (b) => [Date.parse(b.start), Date.parse(b.end)]
  for (const role of ['neighbour', 'probe', 'runLoop']) {
    const byArm = {on: [], off: []}
    for (const b of blocks) {
      const w = waitIn(role, ...span(b))
      if (w !== undefined) byArm[b.arm].push(w)
    }
    const mean = (v) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length)
    console.log(`${role}: run-queue wait ${mean(byArm.on).toFixed(1)} ms/s in fault-on blocks, ${mean(byArm.off).toFixed(1)} in fault-off (${byArm.on.length}+${byArm.off.length} blocks)`)
    console.log(`  last CPU, fault-on: ${cpuShareOver(role, blocks, 'on')}; fault-off: ${cpuShareOver(role, blocks, 'off')}`)
  }
  // each box's CPU time per core (ms per second), the rest of the machine as "rest", per arm
  const boxesIn = (from, to) => {
    const inside = samples.filter((x) => x.t >= from && x.t < to && x.cpu)
    if (inside.length < 2) return undefined
    const first = inside[0].cpu
    const last = inside.at(-1).cpu
    const seconds = (inside.at(-1).t - inside[0].t) / 1000
    const out = {}
    const rest = last.machine.map((ns, core) => ns - first.machine[core])
    for (const [box, ns] of Object.entries(last.boxes)) {
      const before = first.boxes[box]
      if (!before) continue
      out[box] = ns.map((v, core) => v - before[core])
      out[box].forEach((v, core) => (rest[core] -= v))
    }
    out.rest = rest
    for (const k of Object.keys(out)) out[k] = out[k].map((v) => v / 1e6 / seconds)
    return out
  }
  const perArm = {on: [], off: []}
  for (const b of blocks) {
    const got = boxesIn(...span(b))
    if (got) perArm[b.arm].push(got)
  }
  if (perArm.on.length && perArm.off.length) {
    console.log('CPU time per core, ms per second (fault-on | fault-off):')
    for (const box of Object.keys(perArm.on[0])) {
      const mean = (arm, core) => perArm[arm].reduce((sum, x) => sum + (x[box]?.[core] ?? 0), 0) / perArm[arm].length
      console.log(`  ${box}: ${perArm.on[0][box].map((_, core) => `cpu${core} ${mean('on', core).toFixed(0)} | ${mean('off', core).toFixed(0)}`).join(', ')}`)
    }
  }
  function cpuShareOver(role, list, arm) {
    const counts = new Map()
    let all = 0
    for (const b of list.filter((x) => x.arm === arm)) {
      const [from, to] = span(b)
      for (const s of samples.filter((x) => x.t >= from && x.t < to)) {
        for (const p of s[role]) {
          for (const cpu of p.cpus) {
            counts.set(cpu, (counts.get(cpu) ?? 0) + 1)
            all++
          }
        }
      }
    }
    return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([cpu, n]) => `cpu${cpu} ${(100 * n / all).toFixed(0)}%`).join(' ')
  }
  process.exit(code ?? 1)
})
