// Row 7: scale. How many /metrics endpoints one set of Scrapers (the toolkit's, at 1 s) keeps up with on one
// core: the scraper process pinned to CPU 0 (taskset), the endpoints served by test/bench/metrics-server.js
// pinned to CPU 1 (paths of one port, each a realistic prom-client payload re-rendered every second). Kept up:
// >= 99% of the due scrapes done in the window, none failed, p99 scrape duration under the 1 s interval.
// Kubernetes selection among 5,000 pods: test/bench/k8s-select.js in a child process, against its own list server
// and against a real kube-apiserver.
import {join} from 'node:path'
import {PORTS, waitFor} from '../lib.js'

export async function run({tracker, pick, peers, root, log}) {
  const counts = pick({smoke: [5], quick: [50, 100, 200], full: [50, 100, 200, 400]})
  const repeats = pick({smoke: 1, quick: 1, full: 2})
  const windowS = pick({smoke: 1, quick: 3, full: 20})
  const warmupS = pick({smoke: 1, quick: 2, full: 3})
  const pin = (cpu, argv) => (peers.taskset.present ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)])
  const [serverCmd, serverArgs] = pin(1, [process.execPath, join(root, 'test/bench/metrics-server.js'), String(PORTS.scaleServer)])
  const server = tracker.child(serverCmd, serverArgs, {stdin: 'pipe'})
  const results = new Map(counts.map((n) => [n, []]))
  let payload
  try {
    await waitFor('the endpoints server', () => /listening/.test(server.output()), 10_000, 20)
    payload = Number(/listening \d+ (\d+)/.exec(server.output())?.[1])
    for (let r = 0; r < repeats; r++) {
      for (const n of counts) {
        const config = {mode: 'scrape', warmupSeconds: warmupS, seconds: windowS, urls: Array.from({length: n}, (_, i) => `http://127.0.0.1:${PORTS.scaleServer}/n/${i}/metrics`)}
        const [cmd, args] = pin(0, [process.execPath, join(root, 'test/bench/watcher.js'), JSON.stringify(config)])
        const done = await tracker.child(cmd, args, {stdin: 'pipe'}).done
        if (done.code !== 0) throw new Error(`scraper for ${n} endpoints failed: ${done.stderr.slice(-500)}`)
        const result = JSON.parse(done.stdout.trim().split('\n').at(-1))
        result.done = Math.min(1, result.successes / result.expected)
        result.keptUp = result.done >= 0.99 && result.failures === 0 && result.durationP99 < 1000
        results.get(n).push(result)
        log(`repeat ${r + 1}: ${n} endpoints: ${(result.done * 100).toFixed(1)}% of scrapes done, ${result.failures} failed, duration p50 ${result.durationP50.toFixed(1)} / p99 ${result.durationP99.toFixed(1)} ms, send lateness p99 ${result.latenessP99} ms, event-loop delay p99 ${result.loopDelayP99.toFixed(1)} ms, CPU ${(result.cpu * 100).toFixed(1)}% of its core`)
      }
    }
  } finally {
    await tracker.stopChild(server)
  }
  const lines = counts.map((n) => {
    const runs = results.get(n)
    const keptUp = runs.every((x) => x.keptUp)
    const worstDone = Math.min(...runs.map((x) => x.done))
    const worstP99 = Math.max(...runs.map((x) => x.durationP99))
    return {
      what: `scrape ${n} /metrics endpoints at 1 s on one core: scraper CPU (% of its core)`,
      unit: 'pct',
      ours: runs.map((x) => x.cpu * 100),
      peer: '-',
      goal: n <= 200 ? 'keeps up' : '(beyond the goal)',
      check: () => ({met: keptUp, text: `${(worstDone * 100).toFixed(1)}% of scrapes done, p99 ${worstP99.toFixed(0)} ms`}),
    }
  })
  const largest = Math.max(0, ...counts.filter((n) => results.get(n).every((x) => x.keptUp)))
  lines.push({
    what: 'largest number of endpoints tested that one core keeps up with at 1 s',
    unit: 'count', ours: [largest], peer: '-', goal: '>= 200',
    check: (o) => ({met: o.median >= 200, text: o.median >= 200 ? '' : `by ${200 - o.median} endpoints`}),
  })
  const select = tracker.child(process.execPath, [join(root, 'test/bench/k8s-select.js'), '--pods', '5000', '--repeat', String(pick({smoke: 1, quick: 3, full: 5}))])
  const selected = await select.done
  const figures = JSON.parse(selected.stdout.trim().split('\n').at(-1) ?? '{}')
  log(`kubernetes: ${selected.stdout.trim().split('\n').at(-1)}`)
  // what a run pays once: importing the client and loading the kubeconfig, then the first (cold) selection
  const total = figures.clientImportAndConnectMs + figures.firstRunMs
  lines.push({
    what: `Kubernetes: selecting targets among ${figures.pods} pods (${figures.pages} pages; client import + first selection)`,
    unit: 'ms', ours: Number.isFinite(total) ? [total] : 'failed', peer: '-', goal: '< 2 s',
    check: (o) => ({met: o.median < 2000, text: `warm selections median ${figures.medianMs} ms`}),
  })
  // the same selection against a real kube-apiserver and etcd (built from the Go module proxy on first use, about
  // 13 minutes on a fresh machine; CI's npm run test:e2e has built them by then), holding the same pods
  const real = tracker.child(process.execPath, [join(root, 'test/bench/k8s-select.js'), '--real', '--pods', '5000', '--repeat', String(pick({smoke: 1, quick: 3, full: 5}))])
  const realRun = await real.done
  const realFigures = JSON.parse(realRun.stdout.trim().split('\n').at(-1) || '{}')
  log(`kubernetes (real kube-apiserver): ${realRun.stdout.trim().split('\n').at(-1)}`)
  const realTotal = realFigures.clientImportAndConnectMs + realFigures.firstRunMs
  lines.push({
    what: `Kubernetes: the same against a real kube-apiserver v1.37.2 (${realFigures.pods} pods created through its API, ${realFigures.pages} pages)`,
    unit: 'ms', ours: Number.isFinite(realTotal) ? [realTotal] : 'failed', peer: '-', goal: '< 2 s',
    check: (o) => ({met: o.median < 2000, text: `warm selections median ${realFigures.medianMs} ms; ${realFigures.matched} matched, ${realFigures.chosen} chosen`}),
  })
  const notes = [`${repeats} run(s) per count, ${windowS} s window after ${warmupS} s warm-up; payload ${payload} bytes per scrape; ${peers.taskset.present ? 'scraper pinned to CPU 0, server to CPU 1' : 'taskset ABSENT: not pinned'}`]
  return {lines, notes}
}
