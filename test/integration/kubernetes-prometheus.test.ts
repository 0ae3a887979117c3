// Neighbour signals on platform kubernetes from the metrics the cluster exposes: the fake API server's tiny kubelet
// serves cAdvisor's exposition behind the apiserver's node proxy (/api/v1/nodes/NODE/proxy/metrics/cadvisor, test/
// helpers/fake-kubelet-cadvisor.ts), computed from the real cgroups of its pods' containers; a real Prometheus
// scrapes it over HTTPS with the fake's CA, as a cluster's Prometheus scrapes the kubelets through the apiserver;
// and `chaos run` judges the api neighbour's CPU throttling and working set from that Prometheus while a helper pod
// burns 100% of the worker container's 500m in its own cgroup. What this does not prove: a real kubelet's cAdvisor
// (its 10-15 s housekeeping, its containerd and systemd cgroup layouts), a real apiserver's proxy, or service
// discovery (the scrape target is static here).
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {parsePrometheusText} from '../../src/metrics/prom-text.js'
import {PrometheusClient} from '../../src/metrics/prometheus/client.js'
import {parseKeyValueLines, readCgroupSample} from '../../src/metrics/resources.js'
import type {Journal} from '../../src/report/journal.js'
import {FakeKubeApi, workloadPod, workloadsAnswer} from '../helpers/fake-kube-api.js'
import {CADVISOR_CONTENT_TYPE} from '../helpers/fake-kubelet-cadvisor.js'
import {kubeExperiment} from '../helpers/kube-experiment.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'
import {freePort, instantQuery, startPrometheus, type TestServer} from '../helpers/prometheus-server.js'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'run.js')
const NODE = 'fake-node-1'
const CADVISOR_PATH = `/api/v1/nodes/${NODE}/proxy/metrics/cadvisor`
const MiB = 1024 * 1024
const API = '{namespace="shop",pod="api-0",container="app"}'
const WORKER = '{namespace="shop",pod="worker-0",container="app"}'

let fake: FakeKubeApi
let prometheus: TestServer
let dir: string
let kubeconfig: string
let caFile: string
const PORTS = {worker: 0, api: 0}

/** GET over HTTPS with the fake's CA and the kubeconfig's token, as Prometheus and kubectl call the apiserver. */
function get(url: string, ca: string): Promise<{status: number, type: string, body: string}> {
  return new Promise((resolve, reject) => {
    https.get(url, {ca, headers: {authorization: 'Bearer fake-token'}}, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, type: String(res.headers['content-type']), body}))
    }).on('error', reject)
  })
}

function containerBox(pod: string, container = 'app'): Cgroup {
  const p = fake.getPod('shop', pod)
  const id = p.status.containerStatuses.find((c: {name: string}) => c.name === container).containerID.replace('containerd://', '')
  return new Cgroup(detectCgroupLayout(), `${fake.runtimeRoot}/pod${p.metadata.uid}/${id}`)
}

/** The cgroup's own figures, read directly: usage and inactive file cache. */
function memoryOf(box: Cgroup): {usage: number, inactiveFile: number} {
  const paths = box.paths()
  const stat = parseKeyValueLines(readFileSync(join(paths.version === 2 ? paths.dir : paths.memory!, 'memory.stat'), 'utf8'))
  return {usage: readCgroupSample(paths).memoryBytes!, inactiveFile: (paths.version === 2 ? stat.inactive_file : stat.total_inactive_file) ?? 0}
}

function scrapeConfig(target: string): string {
  return `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 15s
scrape_configs:
  # a cluster's Prometheus scrapes every kubelet's cAdvisor through the apiserver (kubernetes_sd_configs role node,
  # __metrics_path__ rewritten to /api/v1/nodes/\${1}/proxy/metrics/cadvisor); here the one node is a static target
  - job_name: kubernetes-cadvisor
    scheme: https
    metrics_path: ${CADVISOR_PATH}
    authorization: {credentials: fake-token}
    tls_config: {ca_file: ${caFile}}
    static_configs:
      - targets: ['${target}']
`
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-prom-'))
  PORTS.worker = await freePort()
  PORTS.api = await freePort()
  fake = new FakeKubeApi({runtime: true})
  await fake.start()
  kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, fake.kubeconfig())
  // the CA Prometheus trusts for the apiserver: the kubeconfig's certificate-authority-data
  caFile = join(dir, 'ca.pem')
  const cluster = JSON.parse(fake.kubeconfig()).clusters[0].cluster
  writeFileSync(caFile, Buffer.from(cluster['certificate-authority-data'], 'base64'))
  fake.addNamespace('shop')
  mkdirSync(join(dir, 'api-data'))
  await fake.addPod(workloadPod({name: 'worker-0', namespace: 'shop', port: PORTS.worker, cpu: '500m', memory: '256Mi', labels: {app: 'worker', 'chaos.allowed': 'true'}}))
  await fake.addPod(workloadPod({name: 'api-0', namespace: 'shop', port: PORTS.api, cpu: '1', memory: '256Mi', labels: {app: 'api'}, extraArgs: ['--data-dir', join(dir, 'api-data')]}))
  await workloadsAnswer([PORTS.worker, PORTS.api])
  prometheus = await startPrometheus({config: scrapeConfig(new URL(fake.url).host)})
})

afterAll(async () => {
  await prometheus?.stop()
  await fake?.stop()
  rmSync(dir, {recursive: true, force: true})
  if (prometheus) expect(existsSync(prometheus.dir)).toBe(false)
  // nothing of the fake's runtime is left: no workload or helper process, no cgroup
  const ps = spawnSync('ps', ['-eo', 'args'], {encoding: 'utf8'}).stdout
  for (const port of [PORTS.worker, PORTS.api]) expect(ps).not.toContain(`workload --port ${port}`)
  if (fake) expect(new Cgroup(detectCgroupLayout(), fake.runtimeRoot).exists()).toBe(false)
})

describe('cAdvisor metrics of the fake kubelet through a real Prometheus (platform kubernetes)', () => {
  it('serves the exposition behind the node proxy, with RBAC (get nodes/proxy), as the kubelet does', async () => {
    const ca = readFileSync(caFile, 'utf8')
    const answer = await get(`${fake.url}${CADVISOR_PATH}`, ca)
    expect(answer.status).toBe(200)
    expect(answer.type).toBe(CADVISOR_CONTENT_TYPE)
    const families = new Map(parsePrometheusText(answer.body).map((f) => [f.name, f]))
    // names, types and help texts as cAdvisor's metrics/prometheus.go has them
    for (const [name, type, help] of [
      ['container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed in seconds.'],
      ['container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement period intervals.'],
      ['container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled period intervals.'],
      ['container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time duration the container has been throttled.'],
      ['container_memory_working_set_bytes', 'gauge', 'Current working set in bytes.'],
      ['container_memory_usage_bytes', 'gauge', 'Current memory usage in bytes, including all memory regardless of when it was accessed'],
      ['container_oom_events_total', 'counter', 'Count of out of memory events observed for the container'],
      ['container_spec_memory_limit_bytes', 'gauge', 'Memory limit for the container.'],
    ] as const) expect(families.get(name), name).toMatchObject({type, help})
    // the kubelet's labels: container, pod, namespace, and cAdvisor's id (the cgroup), name (containerd: the id), image
    const box = containerBox('api-0')
    const id = box.relativePath.split('/').at(-1)!
    const apiLabels = {container: 'app', pod: 'api-0', namespace: 'shop', id: `/${box.relativePath}`, name: id, image: 'chaos-toolkit:0.1.0'}
    const ws = families.get('container_memory_working_set_bytes')!.samples
    expect(ws.filter((s) => s.labels.pod === 'api-0').map((s) => s.labels)).toEqual(expect.arrayContaining([apiLabels]))
    // the pod's own cgroup is a series too (container="", no image): a selector without container= counts twice
    const podLevel = ws.find((s) => s.labels.pod === 'api-0' && s.labels.container === '')
    expect(podLevel?.labels).toEqual({container: '', pod: 'api-0', namespace: 'shop', id: `/${box.relativePath.split('/').slice(0, -1).join('/')}`, name: '', image: ''})
    // counters and gauges of containers carry the stats' timestamp, as cAdvisor's do
    expect(Math.abs(ws.find((s) => s.labels.name === id)!.timestamp! - Date.now())).toBeLessThan(10_000)
    // CPU usage without the per-CPU set (the kubelet's): one series, cpu="total"
    expect(families.get('container_cpu_usage_seconds_total')!.samples.find((s) => s.labels.name === id)?.labels.cpu).toBe('total')
    // CFS series only where there is a quota: the api's container (1 CPU), not the runtime's root
    const periods = families.get('container_cpu_cfs_periods_total')!.samples
    expect(periods.some((s) => s.labels.name === id)).toBe(true)
    expect(periods.some((s) => s.labels.id === `/${fake.runtimeRoot}`)).toBe(false)
    expect(families.get('container_spec_memory_limit_bytes')!.samples.find((s) => s.labels.name === id)?.value).toBe(256 * MiB)

    // the kubelet's answer for another path, the apiserver's for another node
    expect(await get(`${fake.url}/api/v1/nodes/${NODE}/proxy/metrics/nope`, ca)).toMatchObject({status: 404, body: '404 page not found\n'})
    const other = await get(`${fake.url}/api/v1/nodes/node-9/proxy/metrics/cadvisor`, ca)
    expect(other.status).toBe(404)
    expect(JSON.parse(other.body)).toMatchObject({kind: 'Status', reason: 'NotFound', message: 'nodes "node-9" not found'})

    // RBAC: the node proxy is `get nodes/proxy`, cluster-scoped; the apiserver's Forbidden without it
    for (const allow of [['list pods'], ['get nodes/proxy']]) {
      const rbac = new FakeKubeApi({allow})
      await rbac.start()
      try {
        const rbacCa = Buffer.from(JSON.parse(rbac.kubeconfig()).clusters[0].cluster['certificate-authority-data'], 'base64').toString()
        const r = await get(`${rbac.url}${CADVISOR_PATH}`, rbacCa)
        if (allow[0] === 'get nodes/proxy') {
          expect(r.status).toBe(200)
          // no runtime, no cgroups: only the collector's own gauge
          expect(r.body).toBe('# HELP container_scrape_error 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE container_scrape_error gauge\ncontainer_scrape_error 0\n')
        } else {
          expect(r.status).toBe(403)
          expect(JSON.parse(r.body)).toMatchObject({reason: 'Forbidden', message: `nodes "${NODE}" is forbidden: User "system:serviceaccount:chaos:chaos" cannot get resource "nodes/proxy" in API group "" at the cluster scope`})
        }
      } finally {
        await rbac.stop()
      }
    }
  })

  it('Prometheus has the api container\'s working set: usage minus inactive file, as in its cgroup', async () => {
    const box = containerBox('api-0')
    // page cache in the api container's cgroup (what `kubectl exec api-0 -- dd ...` does): charged to its usage,
    // on the inactive file list, so not in its working set
    const fill = spawnSync('/bin/sh', ['-c', `for d in "$@"; do echo $$ > "$d/cgroup.procs" || exit 125; done; exec dd if=/dev/zero of=${join(dir, 'api-data', 'cache')} bs=1M count=48 status=none`, 'exec', ...box.dirs()])
    expect(fill.status, fill.stderr?.toString()).toBe(0)
    const filledAt = Date.now()
    const cgroup = memoryOf(box)
    expect(cgroup.inactiveFile, JSON.stringify(cgroup)).toBeGreaterThan(24 * MiB)
    // wait for a scrape taken after the fill (the sample's own timestamp, from the exposition)
    let stamp = 0
    for (let i = 0; i < 50 && stamp * 1000 < filledAt + 500; i++) {
      const r = await instantQuery(prometheus.url, `timestamp(container_memory_working_set_bytes${API})`)
      stamp = Number(r[0]?.value[1] ?? 0)
      if (stamp * 1000 < filledAt + 500) await new Promise((res) => setTimeout(res, 250))
    }
    // the scrape through the apiserver's proxy works: the target is up
    expect((await instantQuery(prometheus.url, 'up{job="kubernetes-cadvisor"}')).map((r) => r.value[1])).toEqual(['1'])
    const series = await instantQuery(prometheus.url, `container_memory_working_set_bytes${API}`)
    const now = memoryOf(box)
    expect(series).toHaveLength(1)
    expect(series[0].metric).toEqual({
      __name__: 'container_memory_working_set_bytes', job: 'kubernetes-cadvisor', instance: new URL(fake.url).host,
      container: 'app', pod: 'api-0', namespace: 'shop', id: `/${box.relativePath}`, name: box.relativePath.split('/').at(-1), image: 'chaos-toolkit:0.1.0',
    })
    const value = Number(series[0].value[1])
    const expected = now.usage - now.inactiveFile
    // the scrape fell between the two readings of the cgroup (after the fill, after the query), and the api, a live
    // Node process, moves its own memory between them (one run read 2.9 MB, 5.2%, apart from the later one alone):
    // the value must lie within the readings' span, give or take what one reading varies by
    const before = cgroup.usage - cgroup.inactiveFile
    const slack = Math.max(2 * MiB, 0.05 * expected)
    console.log(`api working set: Prometheus ${(value / MiB).toFixed(1)} MiB; cgroup usage ${(now.usage / MiB).toFixed(1)} MiB - inactive file ${(now.inactiveFile / MiB).toFixed(1)} MiB = ${(expected / MiB).toFixed(1)} MiB (${(before / MiB).toFixed(1)} MiB before the scrape)`)
    expect(value, `${value} vs ${before} before and ${expected} after`).toBeGreaterThan(Math.min(before, expected) - slack)
    expect(value, `${value} vs ${before} before and ${expected} after`).toBeLessThan(Math.max(before, expected) + slack)
    // and it is not the usage: the page cache is left out
    expect(now.usage - value).toBeGreaterThan(16 * MiB)
    // the metadata Prometheus learnt from the scrape
    const metadata = await (await fetch(`${prometheus.url}/api/v1/metadata?metric=container_memory_working_set_bytes`)).json() as {data: Record<string, Array<{type: string, help: string}>>}
    expect(metadata.data.container_memory_working_set_bytes).toEqual([{type: 'gauge', help: 'Current working set in bytes.', unit: ''}])
    // the api pod counts twice without container= (its pod cgroup and its container): the selector must name it
    expect(await instantQuery(prometheus.url, 'count(container_memory_working_set_bytes{namespace="shop",pod="api-0"})')).toMatchObject([{value: [expect.any(Number), '2']}])
    rmSync(join(dir, 'api-data', 'cache'))
  })

  it('chaos run judges the api neighbour from Prometheus while a helper pod hogs the worker, whose throttling shows there', async () => {
    const file = join(dir, 'k8s-prometheus.yaml')
    writeFileSync(file, kubeExperiment({
      name: 'k8s-prometheus-cpu-hog', image: 'chaos-toolkit:test', apiPort: PORTS.api, apiSelector: 'app=api',
      fault: '{type: cpu-hog, load: 100%}', phases: '{warmup: 0s, baseline: 4s, inject: 6s, recover: 0s, interval: 1s}',
      // the api's working set against a bound under its 256Mi limit, not its baseline: a Node workload's working set
      // is a garbage collector's sawtooth (the same test against a real kubelet's cAdvisor once read +67% from one
      // window's maximum to the next with nothing touching the api, test/e2e/kubernetes-node-agent.test.ts)
      hypothesis: ['{signal: cpu_throttled, neighbor: api, max: 10%}', '{signal: memory, neighbor: api, max: 192Mi}'],
      extra: `metrics:
  source: prometheus
  url: ${prometheus.url}
  scrapeInterval: 1s
  # the probe loads the api; no latency signal is judged, so no toolkit scrape is needed
  latency: service
  neighbors:
    api: {containerSelector: '${API}'}
`,
    }))
    const output = join(dir, 'journal.json')
    const child = spawn(process.execPath, [BIN, 'run', file, '--quiet', '--output', output], {
      env: {...process.env, KUBECONFIG: kubeconfig, CHAOS_STATE_DIR: join(dir, 'state'), NO_COLOR: '1'},
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    // while it runs: the worker container's throttling as Prometheus has it
    const throttled: Array<{t: number, value: number}> = []
    let running = true
    void exited.then(() => (running = false))
    while (running) {
      const t = Date.now()
      const r = await instantQuery(prometheus.url, `rate(container_cpu_cfs_throttled_periods_total${WORKER}[5s])`).catch(() => [])
      if (r.length === 1) throttled.push({t, value: Number(r[0].value[1])})
      await new Promise((res) => setTimeout(res, 500))
    }
    const code = await exited
    clearTimeout(timer)
    expect(code, out).toBe(0)
    const journal = JSON.parse(readFileSync(output, 'utf8')) as Journal
    expect(journal.exitCode).toBe(0)
    expect(journal.verdict, journal.reason).toBe('contained')
    expect(journal.injection.efficacy?.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    const plan = journal.plan.join('\n')
    expect(plan).toContain(`measurement: Prometheus at ${prometheus.url} (no auth), rate window 2s, one point per 1s`)
    expect(plan).toContain(`api: {job="api"}, cAdvisor ${API}`)

    // the api's signals came from Prometheus: the same range queries over the journal's windows give the very values
    const client = new PrometheusClient({url: prometheus.url, timeoutMs: 10_000, retries: 1})
    const range = (q: string, w: {start: string, end: string}, offsetMs = 2000) => client.queryRange(q, Date.parse(w.start) + offsetMs, Date.parse(w.end), 1000)
    const api = journal.neighbors.find((n) => n.name === 'api')!
    const memoryQuery = `sum(container_memory_working_set_bytes${API}) or sum(process_resident_memory_bytes{job="api"})`
    const throttledQuery = `sum(rate(container_cpu_cfs_throttled_periods_total${API}[2s])) / sum(rate(container_cpu_cfs_periods_total${API}[2s]))`
    for (const [signal, query, statistic] of [['memory', memoryQuery, 'max'], ['cpu_throttled', throttledQuery, 'mean']] as const) {
      const s = api.signals.find((x) => x.signal === signal)!
      expect(s, signal).toBeDefined()
      expect(s.verdict, `${signal}: ${s.reason}`).toBe('contained')
      for (const [window, value, count] of [[journal.phases.baseline!, s.baseline, s.baselineCount], [journal.phases.inject!, s.fault, s.faultCount]] as const) {
        const series = await range(query, window)
        expect(series, `${signal} ${query}`).toHaveLength(1)
        const values = series[0].values.map(([, v]) => Number(v))
        expect(values.length, signal).toBe(count)
        const expected = statistic === 'max' ? Math.max(...values) : values.reduce((a, b) => a + b, 0) / values.length
        expect(value, `${signal}: journal ${value} vs Prometheus ${expected}`).toBeCloseTo(expected, 9)
      }
      console.log(`api ${signal} through Prometheus: ${s.baseline} -> ${s.fault} (n ${s.baselineCount}/${s.faultCount}) ${s.verdict}${s.crossCheck ? `; the toolkit's own reading (${s.crossCheck.source}): ${s.crossCheck.baseline} -> ${s.crossCheck.fault}` : ''}`)
    }
    const memory = api.signals.find((x) => x.signal === 'memory')!
    expect(memory.baseline!).toBeGreaterThan(5 * MiB)
    expect(memory.baseline!).toBeLessThan(256 * MiB)
    expect(memory.baselineCount).toBeGreaterThanOrEqual(3)

    // the worker container was throttled by its own 500m quota while the hog ran, and not before
    const inject = {from: Date.parse(journal.phases.inject!.start), to: Date.parse(journal.phases.inject!.end)}
    const baseline = {from: Date.parse(journal.phases.baseline!.start), to: Date.parse(journal.phases.baseline!.end)}
    const during = throttled.filter((s) => s.t >= inject.from + 2000 && s.t <= inject.to)
    const before = throttled.filter((s) => s.t >= baseline.from && s.t <= baseline.to)
    console.log(`worker throttled periods/s: baseline ${before.map((s) => s.value.toFixed(1)).join(' ')}; inject ${during.map((s) => s.value.toFixed(1)).join(' ')}`)
    expect(during.length).toBeGreaterThanOrEqual(4)
    expect(before.length).toBeGreaterThanOrEqual(3)
    expect(Math.max(...during.map((s) => s.value))).toBeGreaterThan(0)
    expect(Math.max(...during.map((s) => s.value))).toBeGreaterThan(Math.max(...before.map((s) => s.value)))
    // as a share of its CFS periods (how much varies from run to run: 0.4 to 0.9 at the peak on this machine, as the
    // hog's duty cycle meets the 100 ms CFS period), and its CPU as cAdvisor counts it: the dose, capped by the quota
    const share = await range(`sum(rate(container_cpu_cfs_throttled_periods_total${WORKER}[2s])) / sum(rate(container_cpu_cfs_periods_total${WORKER}[2s]))`, journal.phases.inject!)
    const cores = await range(`sum(rate(container_cpu_usage_seconds_total${WORKER}[2s]))`, journal.phases.inject!)
    console.log(`worker during the injection: throttled share ${share[0]?.values.map(([, v]) => Number(v).toFixed(2)).join(' ')}; cores ${cores[0]?.values.map(([, v]) => Number(v).toFixed(2)).join(' ')}`)
    expect(Math.max(...share[0].values.map(([, v]) => Number(v)))).toBeGreaterThan(0.05)
    const peak = Math.max(...cores[0].values.map(([, v]) => Number(v)))
    expect(peak).toBeGreaterThan(0.35)
    expect(peak).toBeLessThan(0.56)
    // the helper pod is gone, and nothing of the run is left on this machine
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
  })
})
