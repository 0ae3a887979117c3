// The toolkit's watching side, alone in a process so that its own CPU can be measured (rows 6 and 7).
// Usage: node watcher.js CONFIG_JSON. Exits when its stdin closes (the bench is gone) or after config.seconds.
//
// mode "watch" (row 6): one WorkflowObserver per neighbour, exactly as a run builds them (an open-loop probe at
//   config.probeRate, a Scraper of /metrics at 1 s), plus the cgroup reading every second that the run loop does.
//   For finding where the CPU goes: config.noScrape, config.noSample, config.probeMaxTickMs (the probe's
//   longest sleep, default 10 ms).
// mode "scrape" (row 7): config.urls.length Scrapers at 1 s, nothing else; prints how they kept up.
import {monitorEventLoopDelay} from 'node:perf_hooks'
import {HttpProbe} from '../../dist/metrics/probe.js'
import {readCgroupSample} from '../../dist/metrics/resources.js'
import {Scraper} from '../../dist/metrics/scrape.js'
import {WorkflowObserver} from '../../dist/run/observe.js'

const config = JSON.parse(process.argv[2])
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (config.mode === 'watch') {
  const observers = config.neighbors.map((n, i) => new WorkflowObserver({
    role: 'neighbor',
    name: `n${i}`,
    spec: {
      name: `n${i}`,
      ...(config.probeRate > 0 ? {probe: {http: {url: n.probe, rate: config.probeRate, timeout: 2000, method: 'GET'}}} : {}),
      metrics: n.metrics,
    },
    sample: () => readCgroupSample(n.paths),
    unexpectedExits: () => 0,
  }, 1000))
  for (const o of observers) {
    if (config.noScrape) o.scraper = undefined
    if (o.probe && config.probeMaxTickMs) o.probe = new HttpProbe({url: o.probe.url.href, rate: o.probe.rate, timeoutMs: o.probe.timeoutMs, maxTickMs: config.probeMaxTickMs})
    o.start()
  }
  // the run loop's tick: one resource reading per workflow per interval
  const tick = setInterval(() => { if (!config.noSample) for (const o of observers) o.sample() }, 1000)
  await sleep(config.seconds * 1000)
  clearInterval(tick)
  const probes = observers.map((o) => o.probe?.stats()).filter(Boolean)
  const summary = {
    sent: probes.reduce((a, s) => a + s.sent, 0),
    errors: probes.reduce((a, s) => a + s.errors, 0),
    scrapes: observers.reduce((a, o) => a + (o.scraper?.successCount ?? 0), 0),
    scrapeFailures: observers.reduce((a, o) => a + (o.scraper?.failureCount ?? 0), 0),
    samples: observers.reduce((a, o) => a + o.samples.length, 0),
  }
  await Promise.all(observers.map((o) => o.stop()))
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.exit(0)
}

if (config.mode === 'scrape') {
  const scrapers = config.urls.map((url) => new Scraper({url, intervalMs: 1000}))
  const delay = monitorEventLoopDelay({resolution: 5})
  const started = Date.now()
  for (const s of scrapers) s.start()
  await sleep(config.warmupSeconds * 1000)
  const from = Date.now()
  const cpu0 = process.cpuUsage()
  delay.enable()
  await sleep(config.seconds * 1000)
  const cpu1 = process.cpuUsage(cpu0)
  const to = Date.now()
  delay.disable()
  await Promise.all(scrapers.map((s) => s.stop()))
  const inWindow = scrapers.map((s) => s.snapshots(from, to))
  const durations = inWindow.flat().map((s) => s.durationMs).sort((a, b) => a - b)
  // how late each scrape left relative to its 1 s grid slot (a loaded event loop sends late)
  const lateness = inWindow.flat().map((s) => (s.t - started) % 1000).sort((a, b) => a - b)
  const failures = scrapers.reduce((a, s) => a + s.failures().filter((f) => f.t >= from && f.t <= to).length, 0)
  const q = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : Number.NaN)
  process.stdout.write(`${JSON.stringify({
    endpoints: scrapers.length,
    seconds: (to - from) / 1000,
    expected: scrapers.length * Math.floor((to - from) / 1000),
    successes: durations.length,
    failures,
    durationP50: q(durations, 0.5),
    durationP99: q(durations, 0.99),
    latenessP99: q(lateness, 0.99),
    loopDelayP99: delay.percentile(99) / 1e6,
    cpu: (cpu1.user + cpu1.system) / 1e6 / ((to - from) / 1000),
  })}\n`)
  process.exit(0)
}
