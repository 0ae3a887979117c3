// Row 6: the CLI's cold start (`node bin/run.js --version`, `--help`) against `node -e 0`, each timed from spawn
// to exit over N runs after one untimed run (the page cache warm, as on any second invocation); and the CPU the
// toolkit uses while watching 20 neighbours at a 1 s interval: the watcher (test/bench/watcher.js: one
// WorkflowObserver per neighbour, as a run builds them, plus the per-interval cgroup reading) in a process of its
// own, its CPU from /proc/PID/stat over a window after a warm-up. The neighbours are 20 paths of one light
// server (test/bench/metrics-server.js) serving a realistic prom-client payload, and 20 empty cgroup boxes.
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {PORTS, childPids, now, procCpuSeconds, sleep, waitFor} from '../lib.js'

function timeRuns(command, args, runs, cwd) {
  spawnSync(command, args, {cwd, stdio: 'ignore'})
  const ms = []
  for (let i = 0; i < runs; i++) {
    const t0 = now()
    const result = spawnSync(command, args, {cwd, stdio: 'ignore'})
    ms.push(now() - t0)
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`)
  }
  return ms
}

/** CPU seconds of the watcher and its children: the probes run in a process of their own (src/metrics/remote-probe.ts) */
function treeCpuSeconds(pid) {
  return [pid, ...childPids(pid)].reduce((sum, p) => sum + (procCpuSeconds(p) ?? 0), 0)
}

async function watcherCpu(tracker, root, {neighbors, probeRate, warmupS, windowS}) {
  const server = tracker.child(process.execPath, [join(root, 'test/bench/metrics-server.js'), String(PORTS.watchServer)], {stdin: 'pipe'})
  try {
    await waitFor('the neighbours server', () => /listening/.test(server.output()), 10_000, 20)
    const boxes = Array.from({length: neighbors}, () => tracker.box({}))
    const config = {
      mode: 'watch',
      probeRate,
      seconds: warmupS + windowS + 1,
      neighbors: boxes.map((box, i) => ({
        probe: `http://127.0.0.1:${PORTS.watchServer}/n/${i}/work`,
        metrics: `http://127.0.0.1:${PORTS.watchServer}/n/${i}/metrics`,
        paths: box.paths(),
      })),
    }
    const watcher = tracker.child(process.execPath, [join(root, 'test/bench/watcher.js'), JSON.stringify(config)], {stdin: 'pipe'})
    await sleep(warmupS * 1000)
    const c0 = treeCpuSeconds(watcher.pid)
    const t0 = now()
    await sleep(windowS * 1000)
    const c1 = treeCpuSeconds(watcher.pid)
    const t1 = now()
    const done = await watcher.done
    const summary = JSON.parse(done.stdout.trim().split('\n').at(-1) || '{}')
    for (const box of boxes) await tracker.removeBox(box)
    return {cpu: (c1 - c0) / ((t1 - t0) / 1000), summary, payload: Number(/listening \d+ (\d+)/.exec(server.output())?.[1])}
  } finally {
    await tracker.stopChild(server)
  }
}

export async function run({tracker, pick, root, log}) {
  const runs = pick({smoke: 2, quick: 5, full: 20})
  const node = timeRuns(process.execPath, ['-e', '0'], runs, root)
  const version = timeRuns(process.execPath, ['bin/run.js', '--version'], runs, root)
  const help = timeRuns(process.execPath, ['bin/run.js', '--help'], runs, root)
  log(`node -e 0 ${median(node).toFixed(0)} ms, --version ${median(version).toFixed(0)} ms, --help ${median(help).toFixed(0)} ms (medians of ${runs})`)

  const repeats = pick({smoke: 1, quick: 1, full: 3})
  const windowS = pick({smoke: 1, quick: 5, full: 30})
  const warmupS = pick({smoke: 1, quick: 2, full: 3})
  const probeRate = 5
  const watching = {full: [], scrapeOnly: []}
  let payload
  for (let r = 0; r < repeats; r++) {
    const full = await watcherCpu(tracker, root, {neighbors: 20, probeRate, warmupS, windowS})
    watching.full.push(full.cpu * 100)
    payload = full.payload
    log(`repeat ${r + 1}: watching 20 (probe ${probeRate}/s each + scrape + cgroup reading): ${(full.cpu * 100).toFixed(2)}% of a core; ${JSON.stringify(full.summary)}`)
    const idle = await watcherCpu(tracker, root, {neighbors: 20, probeRate: 0, warmupS, windowS})
    watching.scrapeOnly.push(idle.cpu * 100)
    log(`repeat ${r + 1}: watching 20 (scrape + cgroup reading, no probe): ${(idle.cpu * 100).toFixed(2)}% of a core; ${JSON.stringify(idle.summary)}`)
  }

  const under = (limit, unit) => (o) => ({met: o.median < limit, text: o.median < limit ? '' : `by ${(o.median - limit).toFixed(unit === 'ms' ? 0 : 2)} ${unit === 'ms' ? 'ms' : 'pp'}`})
  const lines = [
    {what: 'CLI cold start: `chaos --version`, spawn → exit', unit: 'ms', ours: version, peer: node, peerUnit: 'ms', ratio: 'ours/peer', goal: '< 300 ms', check: under(300, 'ms')},
    {what: 'CLI cold start: `chaos --help`, spawn → exit', unit: 'ms', ours: help, peer: node, ratio: 'ours/peer', goal: '< 300 ms', check: under(300, 'ms')},
    {what: `watcher CPU, 20 neighbours at 1 s: probe ${probeRate} req/s each + scrape + cgroup reading`, unit: 'pct', ours: watching.full, peer: 'Gremlin: < 0.1% (idle agent)', goal: '< 2% of a core', check: under(2, 'pct')},
    {what: 'watcher CPU, 20 neighbours at 1 s: scrape + cgroup reading, no probe', unit: 'pct', ours: watching.scrapeOnly, peer: 'Gremlin: < 0.1% (idle agent)', goal: '< 2% of a core', check: under(2, 'pct')},
  ]
  const notes = [
    `cold start: ${runs} timed runs each after one untimed run; the peer column is \`node -e 0\``,
    `watcher: ${repeats} run(s) of a ${windowS} s window after ${warmupS} s warm-up; /metrics payload ${payload} bytes (prom-client default metrics + request histogram, as the demo workload)`,
  ]
  return {lines, notes}
}

function median(values) {
  const v = [...values].sort((a, b) => a - b)
  return v[v.length >> 1]
}
