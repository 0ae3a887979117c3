// The fake kubelet's cAdvisor endpoint, as a cluster exposes it to Prometheus: the apiserver's node proxy
// `GET /api/v1/nodes/{node}/proxy/metrics/cadvisor` (RBAC: `get nodes/proxy`, cluster-scoped), which the apiserver
// forwards to the kubelet's `/metrics/cadvisor`. The figures are read from the real cgroups of the fake runtime's
// pods (test/helpers/fake-kube-api.ts with `runtime: true`), at scrape time.
//
// What it copies, and from where (google/cadvisor metrics/prometheus.go and container/libcontainer/handler.go;
// kubernetes pkg/kubelet/server/server.go):
// - the kubelet's label set, containerPrometheusLabelsFunc: `container`, `pod`, `namespace` (from the CRI labels,
//   empty for a pod's own cgroup and for cgroups outside pods), plus cAdvisor's `id` (the cgroup path), `name` (the
//   first alias: with containerd, the container id) and `image` (empty for pod and system cgroups);
// - the metric names, HELP texts and types (counter or gauge) of the CpuUsage, Memory, OOM and Pressure metric sets
//   the kubelet includes; `container_cpu_usage_seconds_total` has `cpu="total"` (the kubelet does not include the
//   per-CPU set); the CFS series appear only for a cgroup with a CPU quota (cAdvisor's `Spec.Cpu.Quota != 0`);
//   pressure only where the kernel offers PSI files (cgroup v2), as in a kubelet with KubeletPSI;
// - working set = usage - inactive file (total_inactive_file on v1, inactive_file on v2), never below 0, as
//   setMemoryStats computes it; usage is memory.usage_in_bytes (v1) or memory.current (v2);
// - the samples of the per-container metrics carry the stats' timestamp, the spec metrics (start time, limits) none;
// - the text format, `text/plain; version=0.0.4; charset=utf-8`, families sorted by name, labels by label name.
// What differs from a real kubelet: the stats are read at each scrape, where cAdvisor refreshes them every
// housekeeping interval (10 s in the kubelet, up to 15 s with dynamic housekeeping), so two scrapes a second apart
// may carry the same sample there; OOM events are the cgroup's own oom_kill counter (cAdvisor counts the kernel's
// OOM log lines per container); no network, filesystem or machine_* series; no pause (sandbox) container.
import type {ServerResponse} from 'node:http'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {clockTicks, parseKeyValueLines, readCgroupSample} from '../../src/metrics/resources.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

/** What the fake API server tells this module about its runtime. */
export interface KubeletRuntime {
  readonly options: {runtime?: boolean}
  readonly runtimeRoot: string
  /** each pod with containers in the runtime, and those containers' cgroups */
  runtimePods(): Array<{pod: Json, containers: Array<{name: string, containerId: string, cgroup: Cgroup}>}>
}

export const CADVISOR_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** The kubelet's paths behind the node proxy (`path` without the leading slash); 404 as the kubelet says it. */
export function serveKubeletProxy(res: ServerResponse, path: string, runtime: KubeletRuntime): void {
  if (path === 'metrics/cadvisor') {
    res.writeHead(200, {'content-type': CADVISOR_CONTENT_TYPE})
    res.end(cadvisorExposition(runtime))
    return
  }
  res.writeHead(404, {'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff'})
  res.end('404 page not found\n')
}

/** One cgroup as cAdvisor sees it: its cgroup and the kubelet's labels for it. */
interface Observed {
  cgroup: Cgroup
  labels: {container: string, id: string, image: string, name: string, namespace: string, pod: string}
}

/** The runtime's cgroups, the root first (the fake's `kubepods`), then each pod's and its containers'. */
export function observedCgroups(runtime: KubeletRuntime): Observed[] {
  if (!runtime.options.runtime) return []
  const observed = (cgroup: Cgroup, labels: Partial<Observed['labels']> = {}): Observed => ({
    cgroup, labels: {container: '', image: '', name: '', namespace: '', pod: '', ...labels, id: `/${cgroup.relativePath}`},
  })
  const out = [observed(new Cgroup(detectCgroupLayout(), runtime.runtimeRoot))]
  for (const {pod, containers} of runtime.runtimePods()) {
    if (containers.length === 0) continue
    const ref = {pod: pod.metadata.name, namespace: pod.metadata.namespace}
    // the pod's own cgroup: no container, no image, no name (kube-prometheus drops these with image="")
    out.push(observed(new Cgroup(containers[0].cgroup.layout, dirname(containers[0].cgroup.relativePath)), ref))
    const specs: Json[] = [...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])]
    for (const c of containers) {
      const id = c.containerId.replace(/^[a-z]+:\/\//, '')
      out.push(observed(c.cgroup, {...ref, container: c.name, name: id, image: specs.find((s) => s.name === c.name)?.image ?? ''}))
    }
  }
  return out.filter((o) => o.cgroup.dirs().every((d) => existsSync(d)))
}

interface Family {
  name: string
  help: string
  type: 'counter' | 'gauge'
  samples: Array<{labels: Record<string, string>, value: number, timestamp?: number}>
}

/** The exposition of every observed cgroup. */
export function cadvisorExposition(runtime: KubeletRuntime): string {
  const families = new Map<string, Family>()
  const add = (name: string, type: Family['type'], help: string, labels: Record<string, string>, value: number | undefined, timestamp?: number) => {
    if (value === undefined || Number.isNaN(value)) return
    const family = families.get(name) ?? {name, help, type, samples: []}
    family.samples.push({labels, value, timestamp})
    families.set(name, family)
  }
  for (const o of observedCgroups(runtime)) {
    let s: Stats
    try {
      s = readStats(o.cgroup)
    } catch {
      // a cgroup removed while it was read: gone from this scrape, as from cAdvisor's next listing
      continue
    }
    const l = o.labels
    const t = s.t
    add('container_last_seen', 'gauge', 'Last time a container was seen by the exporter', l, Math.floor(t / 1000), t)
    add('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds.', l, s.startTime)
    add('container_spec_cpu_period', 'gauge', 'CPU period of the container.', l, s.periodUs)
    if (s.quotaUs !== undefined) add('container_spec_cpu_quota', 'gauge', 'CPU quota of the container.', l, s.quotaUs)
    add('container_spec_cpu_shares', 'gauge', 'CPU share of the container.', l, s.shares)
    add('container_spec_memory_limit_bytes', 'gauge', 'Memory limit for the container.', l, s.memoryLimit)
    add('container_cpu_user_seconds_total', 'counter', 'Cumulative user cpu time consumed in seconds.', l, s.userSeconds, t)
    add('container_cpu_system_seconds_total', 'counter', 'Cumulative system cpu time consumed in seconds.', l, s.systemSeconds, t)
    // cAdvisor leaves the series out while the total is still 0
    if ((s.sample.cpuSeconds ?? 0) > 0) add('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed in seconds.', {...l, cpu: 'total'}, s.sample.cpuSeconds, t)
    if (s.quotaUs !== undefined) {
      add('container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement period intervals.', l, s.sample.periods ?? 0, t)
      add('container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled period intervals.', l, s.sample.throttledPeriods ?? 0, t)
      add('container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time duration the container has been throttled.', l, s.sample.throttledSeconds ?? 0, t)
    }
    add('container_memory_cache', 'gauge', 'Number of bytes of page cache memory.', l, s.cache, t)
    add('container_memory_rss', 'gauge', 'Size of RSS in bytes.', l, s.rss, t)
    add('container_memory_mapped_file', 'gauge', 'Size of memory mapped files in bytes.', l, s.mappedFile, t)
    add('container_memory_swap', 'gauge', 'Container swap usage in bytes.', l, s.swap, t)
    add('container_memory_failcnt', 'counter', 'Number of memory usage hits limits', l, s.failcnt, t)
    add('container_memory_usage_bytes', 'gauge', 'Current memory usage in bytes, including all memory regardless of when it was accessed', l, s.sample.memoryBytes, t)
    add('container_memory_max_usage_bytes', 'gauge', 'Maximum memory usage recorded in bytes', l, s.sample.memoryPeakBytes, t)
    add('container_memory_working_set_bytes', 'gauge', 'Current working set in bytes.', l, s.workingSet, t)
    for (const [type, scope, value] of [['pgfault', 'container', s.pgfault], ['pgmajfault', 'container', s.pgmajfault], ['pgfault', 'hierarchy', s.pgfault], ['pgmajfault', 'hierarchy', s.pgmajfault]] as const) {
      add('container_memory_failures_total', 'counter', 'Cumulative count of memory allocation failures.', {...l, failure_type: type, scope}, value, t)
    }
    add('container_oom_events_total', 'counter', 'Count of out of memory events observed for the container', l, s.sample.oomKills ?? 0, t)
    for (const resource of ['cpu', 'memory', 'io'] as const) {
      const psi = s.pressure[resource]
      if (!psi) continue
      const what = resource === 'io' ? 'IO' : resource === 'cpu' ? 'CPU' : 'memory'
      add(`container_pressure_${resource}_stalled_seconds_total`, 'counter', `Total time duration no tasks in the container could make progress due to ${what} congestion.`, l, psi.full / 1e6, t)
      add(`container_pressure_${resource}_waiting_seconds_total`, 'counter', `Total time duration tasks in the container have waited due to ${what} congestion.`, l, psi.some / 1e6, t)
    }
  }
  add('container_scrape_error', 'gauge', '1 if there was an error while getting container metrics, 0 otherwise', {}, 0)
  return [...families.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(formatFamily).join('')
}

function formatFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${f.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`, `# TYPE ${f.name} ${f.type}`]
  const rows = f.samples.map((s) => {
    const labels = Object.keys(s.labels).sort().map((k) => `${k}="${s.labels[k].replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`).join(',')
    return {labels, text: `${f.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}${s.timestamp === undefined ? '' : ` ${Math.round(s.timestamp)}`}`}
  })
  rows.sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0))
  return `${[...lines, ...rows.map((r) => r.text)].join('\n')}\n`
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

interface Stats {
  t: number
  sample: ReturnType<typeof readCgroupSample>
  startTime?: number
  periodUs?: number
  quotaUs?: number
  shares?: number
  memoryLimit?: number
  userSeconds?: number
  systemSeconds?: number
  cache?: number
  rss?: number
  mappedFile?: number
  swap?: number
  failcnt?: number
  workingSet?: number
  pgfault?: number
  pgmajfault?: number
  pressure: Partial<Record<'cpu' | 'memory' | 'io', {some: number, full: number}>>
}

const read = (file: string | undefined): string | undefined => {
  if (file === undefined) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
const num = (text: string | undefined): number | undefined => {
  const value = text === undefined ? NaN : Number(text.trim())
  return Number.isFinite(value) ? value : undefined
}
/** cAdvisor's specMemoryValue: anything above 2^62 is "no limit", reported as 0. */
const memoryLimit = (v: number | undefined): number | undefined => (v === undefined ? undefined : v > 2 ** 62 ? 0 : v)

/** What cAdvisor's libcontainer handler reads for one cgroup, from the same files. */
function readStats(cgroup: Cgroup): Stats {
  const dirs = cgroup.dirs()
  // cAdvisor's raw handler: the creation time is the oldest modification time of the cgroup's directories
  const startTime = Math.min(...dirs.map((d) => statSync(d).mtimeMs)) / 1000
  const sample = readCgroupSample(cgroup.paths())
  const paths = cgroup.paths()
  const stats: Stats = {t: sample.t, sample, startTime: Math.floor(startTime), pressure: {}}
  if (paths.version === 1) {
    const stat = parseKeyValueLines(read(join(paths.memory ?? '/nonexistent', 'memory.stat')))
    const quota = num(read(paths.cpu && join(paths.cpu, 'cpu.cfs_quota_us')))
    const ticks = parseKeyValueLines(read(paths.cpuacct && join(paths.cpuacct, 'cpuacct.stat')))
    Object.assign(stats, {
      periodUs: num(read(paths.cpu && join(paths.cpu, 'cpu.cfs_period_us'))),
      quotaUs: quota === undefined || quota <= 0 ? undefined : quota,
      shares: num(read(paths.cpu && join(paths.cpu, 'cpu.shares'))),
      memoryLimit: memoryLimit(num(read(paths.memory && join(paths.memory, 'memory.limit_in_bytes')))),
      userSeconds: ticks.user === undefined ? undefined : ticks.user / clockTicks(),
      systemSeconds: ticks.system === undefined ? undefined : ticks.system / clockTicks(),
      // memory.use_hierarchy is 1 (the only mode of recent kernels): the total_ figures
      cache: stat.total_cache, rss: stat.total_rss, mappedFile: stat.total_mapped_file, swap: stat.total_swap ?? 0,
      failcnt: num(read(paths.memory && join(paths.memory, 'memory.failcnt'))),
      workingSet: workingSet(sample.memoryBytes, stat.total_inactive_file),
      pgfault: stat.pgfault, pgmajfault: stat.pgmajfault,
    })
  } else {
    const dir = paths.dir
    const stat = parseKeyValueLines(read(join(dir, 'memory.stat')))
    const cpu = parseKeyValueLines(read(join(dir, 'cpu.stat')))
    const [quota, period] = (read(join(dir, 'cpu.max')) ?? 'max 100000').trim().split(/\s+/)
    const weight = num(read(join(dir, 'cpu.weight')))
    const max = read(join(dir, 'memory.max'))?.trim()
    Object.assign(stats, {
      periodUs: num(period), quotaUs: quota === 'max' ? undefined : num(quota),
      // cAdvisor's convertCPUWeightToCPULimit
      shares: weight === undefined ? undefined : 2 + Math.floor(((weight - 1) * 262142) / 9999),
      memoryLimit: max === undefined ? undefined : max === 'max' ? 0 : memoryLimit(num(max)),
      userSeconds: cpu.user_usec === undefined ? undefined : cpu.user_usec / 1e6,
      systemSeconds: cpu.system_usec === undefined ? undefined : cpu.system_usec / 1e6,
      cache: stat.file, rss: stat.anon, mappedFile: stat.file_mapped, swap: num(read(join(dir, 'memory.swap.current'))) ?? 0,
      failcnt: parseKeyValueLines(read(join(dir, 'memory.events'))).max,
      workingSet: workingSet(sample.memoryBytes, stat.inactive_file),
      pgfault: stat.pgfault, pgmajfault: stat.pgmajfault,
    })
    for (const resource of ['cpu', 'memory', 'io'] as const) {
      const text = read(join(dir, `${resource}.pressure`))
      const total = (kind: string) => Number(new RegExp(`^${kind}\\b.*\\btotal=(\\d+)`, 'm').exec(text ?? '')?.[1] ?? NaN)
      if (text !== undefined && Number.isFinite(total('some'))) stats.pressure[resource] = {some: total('some'), full: Number.isFinite(total('full')) ? total('full') : 0}
    }
  }
  return stats
}

/** cAdvisor's setMemoryStats: usage minus the inactive file cache, never below 0. */
export function workingSet(usage: number | undefined, inactiveFile: number | undefined): number | undefined {
  if (usage === undefined) return undefined
  if (inactiveFile === undefined) return usage
  return usage < inactiveFile ? 0 : usage - inactiveFile
}
