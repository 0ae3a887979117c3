#!/usr/bin/env node
// Crash safety, measured: kill -9 the CLI at a random point of a run, N times (default 50). After each kill:
// every stressor must be gone within 2 s of its deadline (in practice within a second of the kill: the dead-man's
// switch), and after `chaos cleanup` nothing may be left: no cgroup, mount, network namespace, process or ledger.
// Usage (root, after npm run build): node scripts/kill-random.js [N] [experiment]
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const runs = Number(process.argv[2] ?? 50)
const source = process.argv[3] ?? 'experiments/network-flood.yaml'
const dir = mkdtempSync(join(tmpdir(), 'chaos-kill-'))
const stateDir = join(dir, 'state')
const env = {...process.env, CHAOS_STATE_DIR: stateDir}
// the script's own directory (the experiment copy, the state) goes with it, whatever happens
process.on('exit', () => rmSync(dir, {recursive: true, force: true}))
// own ports, so the script never measures or collides with another run
const file = join(dir, 'experiment.yaml')
writeFileSync(file, readFileSync(source, 'utf8').replace(/\b191(\d\d)\b/g, '196$1'))

function leftovers(runId) {
  const found = []
  for (const h of ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio']) {
    if (existsSync(`/sys/fs/cgroup/${h}/chaos-${runId}`)) found.push(`cgroup ${h}/chaos-${runId}`)
  }
  if (readFileSync('/proc/self/mounts', 'utf8').includes(`chaos-${runId}`)) found.push('mount')
  if (execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'}).includes(`chaos-${runId}`)) found.push('netns')
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmd.includes(runId) && cmd.includes('stressor')) found.push(`process ${pid}`)
      if (cmd.includes('--port\u0000196')) found.push(`workload ${pid}`)
    } catch { /* gone */ }
  }
  if (existsSync(join(stateDir, 'runs', `${runId}.json`))) found.push('ledger')
  return found
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const results = []
for (let i = 0; i < runs; i++) {
  // random points over the whole run: setup (~1 s), warmup (1 s), baseline (3 s), injection (6 s), rollback
  const killAfter = 300 + Math.random() * 11_500
  const child = spawn(process.execPath, ['bin/run.js', 'run', file, '--warmup', '1s', '--baseline', '3s', '--inject', '6s', '--recover', '0s', '--quiet'], {env, stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += c })
  await sleep(killAfter)
  const ended = child.exitCode !== null
  child.kill('SIGKILL')
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)))
  const killedAt = Date.now()
  const runId = /run ([0-9a-f]{8})/.exec(stderr)?.[1] ?? readdirSync(join(stateDir, 'runs')).find((f) => f.endsWith('.json'))?.slice(0, 8)
  let processesGoneMs = null
  if (runId) {
    while (Date.now() - killedAt < 5000) {
      if (!leftovers(runId).some((l) => l.startsWith('process') || l.startsWith('workload'))) {
        processesGoneMs = Date.now() - killedAt
        break
      }
      await sleep(20)
    }
  }
  const before = runId ? leftovers(runId) : []
  let cleanupFailure = null
  try {
    execFileSync(process.execPath, ['bin/run.js', 'cleanup'], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  } catch (error) {
    // a cleanup that could not remove something is a finding of the run, not the end of the script
    cleanupFailure = `exit ${error.status}: ${`${error.stdout ?? ''}${error.stderr ?? ''}`.trim().replace(/\s+/g, ' ').slice(0, 400)}`
  }
  const after = runId ? leftovers(runId) : []
  const row = {run: i + 1, killAfterMs: Math.round(killAfter), endedBeforeKill: ended, runId, processesGoneMs, beforeCleanup: before.length, afterCleanup: after, cleanupFailure}
  results.push(row)
  console.log(`#${row.run} kill at ${row.killAfterMs}ms${ended ? ' (run had ended)' : ''}: processes gone in ${processesGoneMs ?? 'n/a'}ms, ${before.length} things left before cleanup, after: ${after.length ? after.join(', ') : 'nothing'}${cleanupFailure ? `; cleanup ${cleanupFailure}` : ''}`)
}
const gone = results.filter((r) => r.processesGoneMs !== null).map((r) => r.processesGoneMs).sort((a, b) => a - b)
const failures = results.filter((r) => r.afterCleanup.length > 0 || r.cleanupFailure || (r.runId && r.processesGoneMs === null))
console.log(`\n${runs} runs killed with SIGKILL: processes gone after the kill in median ${gone[Math.floor(gone.length / 2)] ?? '-'} ms, max ${gone.at(-1) ?? '-'} ms; ` +
  `${results.filter((r) => r.beforeCleanup > 0).length} runs left something for chaos cleanup; ${failures.length} runs with anything left after cleanup`)
process.exit(failures.length === 0 ? 0 : 1)
