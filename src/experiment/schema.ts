// The experiment file's one schema. zod is the source of truth: the types below, the validation with its
// messages, and schema/experiment.schema.json (emitted by scripts/emit-schema.js for editors) all come from it.
import {z} from 'zod'

import {parseBitRate, parseByteRate, parseBytes, parseCountRate, parseDuration, parsePercent} from './units.js'

const MAX_PHASE_MS = 6 * 3_600_000
const TB = 1024 ** 4

/** A duration such as "15s"; becomes milliseconds. */
const duration = (what: string, {min = 1, max = MAX_PHASE_MS} = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value)
    if (ms === undefined) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a duration such as 500ms, 15s or 1m30s, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    if (ms < min || ms > max) {
      ctx.addIssue({code: 'custom', message: `${what}: ${JSON.stringify(value)} is out of range (${min}ms to ${max / 3_600_000}h)`})
      return z.NEVER
    }
    return ms
  })

/** A byte size such as "256Mi"; becomes bytes. */
const bytes = (what: string, {min = 1, max = TB} = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const n = parseBytes(value)
    if (n === undefined) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a size such as 64Mi, 1Gi or 500M, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    if (n < min || n > max) {
      ctx.addIssue({code: 'custom', message: `${what}: ${JSON.stringify(value)} is out of range (${min} bytes to 1Ti)`})
      return z.NEVER
    }
    return n
  })

/**
 * A bare number where a percentage is asked is refused, not guessed: in a file kept and reviewed, 0.5 could be 50%
 * or 0.5%, and 50 could be 50% or 50 bytes. The message says what was probably meant.
 */
function bareNumber(what: string, value: number, alternative = ''): string {
  const asFraction = value > 0 && value <= 1 ? ` or ${+(value * 100).toFixed(4)}%` : ''
  return `${what}: ${value} is a bare number: did you mean ${value}%${asFraction}${alternative}? A percentage is written with its % sign`
}

/** A fraction written as a percentage ("25%"); `max` bounds it (1 = 100%). */
const percent = (what: string, {min = 0, max = 1} = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    if (typeof value === 'number') {
      ctx.addIssue({code: 'custom', message: bareNumber(what, value)})
      return z.NEVER
    }
    const f = parsePercent(value)
    if (f === undefined) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a percentage such as 25%, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    if (f < min || f > max) {
      ctx.addIssue({code: 'custom', message: `${what}: ${value} is out of range (${min * 100}% to ${max * 100}%)`})
      return z.NEVER
    }
    return f
  })

/** A size that is either absolute ("64Mi") or relative to something the platform knows ("80%"). */
const sizeOrPercent = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx): {bytes: number} | {fraction: number} => {
    if (typeof value === 'string' && value.trim().endsWith('%')) {
      const f = parsePercent(value)
      if (f === undefined || f <= 0 || f > 1) {
        ctx.addIssue({code: 'custom', message: `${what}: ${value} must be a percentage above 0% and at most 100%`})
        return z.NEVER
      }
      return {fraction: f}
    }
    if (typeof value === 'number' || /^\s*[\d.]+\s*$/.test(value)) {
      ctx.addIssue({code: 'custom', message: bareNumber(what, Number(value), ` or ${value}Mi`)})
      return z.NEVER
    }
    const n = parseBytes(value)
    if (n === undefined || n < 1 || n > TB) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a size such as 64Mi or a percentage such as 90%, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    return {bytes: n}
  })

const byteRate = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const n = parseByteRate(value)
    if (n === undefined || n < 1024 || n > 64 * 1024 ** 3) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a rate between 1Ki/s and 64Gi/s such as 64Mi/s, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    return n
  })

const bitRate = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const n = parseBitRate(value)
    if (n === undefined || n < 8000 || n > 400e9) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a bit rate between 8kbit and 400Gbit such as 100Mbit, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    return n
  })

const countRate = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const n = parseCountRate(value)
    if (n === undefined || n > 100_000) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a rate above 0/s and at most 100000/s such as 50/s, got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    return n
  })

/** An absolute threshold: a percentage (a fraction), a duration (seconds, as Prometheus measures latency), a size (bytes) or a number. */
const threshold = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    if (typeof value === 'number') return value
    const text = value.trim()
    const parsed = text.endsWith('%') ? parsePercent(text)
      : /^[\d.]+(ms|s|m|h)$/.test(text) ? (parseDuration(text) ?? NaN) / 1000
        : parseBytes(text)
    if (parsed === undefined || Number.isNaN(parsed)) {
      ctx.addIssue({code: 'custom', message: `${what}: expected a number, a percentage (1%), a duration (50ms) or a size (256Mi), got ${JSON.stringify(value)}`})
      return z.NEVER
    }
    return parsed
  })

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'expected a short lowercase name (letters, digits, dashes)')

const cpuset = z.string().regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'expected a CPU list such as "1" or "0-1,3"')

export const IsolationLevel = z.enum(['none', 'shared', 'cgroup', 'container'])

const IsolationFields = z.strictObject({
  level: IsolationLevel.describe('none: no boundary; shared: one box for every workflow at this level; cgroup (platform process) or container (platform docker): a box of its own'),
  memory: bytes('isolation.memory', {min: 4 * 1024 ** 2}).optional().describe('memory limit (cgroup memory.max / memory.limit_in_bytes)'),
  cpus: z.number().positive().max(1024).optional().describe('CPU allowance in cores, as a CFS quota (0.5 = half a core)'),
  cpuset: cpuset.optional().describe('CPUs the workflow may run on, e.g. "1"'),
  pids: z.number().int().positive().max(4_194_304).optional().describe('maximum number of processes'),
  ioWeight: z.number().int().min(1).max(10_000).optional().describe('block IO weight (v2 io.weight 1-10000; v1 blkio.weight 10-1000)'),
  cpuWeight: z.number().int().min(1).max(10_000).optional().describe('CPU weight under contention (v2 cpu.weight 1-10000, default 100; v1 cpu.shares and Docker CpuShares get weight x 10.24): a low weight lets a neighbour that wakes preempt this workflow'),
  cpuIdle: z.boolean().optional().describe('the box runs only on CPU time nothing else wants (cgroup cpu.idle: SCHED_IDLE for the whole box, Linux 5.15 on): a neighbour that wakes preempts it at once, and the scheduler counts its CPU as free when it places other work, which a low cpuWeight does not; instead of cpuWeight'),
  network: z.strictObject({
    rate: bitRate('isolation.network.rate').describe('the speed of the workflow\'s own veth, both ways (tc tbf on each end: its egress, and its ingress as the far end\'s egress), e.g. 100Mbit'),
  }).optional().describe('a network namespace of its own, joined to the host by a veth pair'),
  io: z.strictObject({
    path: z.string().startsWith('/').optional().describe('a directory on the disk to throttle; default: the disk the run\'s own directory is on'),
    readBps: byteRate('isolation.io.readBps').optional().describe('bytes read per second, e.g. 20Mi/s'),
    writeBps: byteRate('isolation.io.writeBps').optional().describe('bytes written per second, e.g. 20Mi/s'),
    readIops: z.number().int().min(1).max(10_000_000).optional().describe('read operations per second'),
    writeIops: z.number().int().min(1).max(10_000_000).optional().describe('write operations per second'),
  }).superRefine((io, ctx) => {
    if ([io.readBps, io.writeBps, io.readIops, io.writeIops].every((v) => v === undefined)) ctx.addIssue({code: 'custom', message: 'isolation.io needs at least one of readBps, writeBps, readIops, writeIops'})
  }).optional().describe('a throttle on the workflow\'s disk I/O on one disk (v1 blkio.throttle.*_device, v2 io.max)'),
})

/** The kernel refuses a weight for an idle box (EINVAL): an idle box already weighs less than any weight can say. */
function idleOrWeighted(isolation: {cpuIdle?: boolean, cpuWeight?: number}, ctx: z.RefinementCtx): void {
  if (isolation.cpuIdle && isolation.cpuWeight !== undefined) ctx.addIssue({code: 'custom', path: ['cpuIdle'], message: 'cpuIdle and cpuWeight together: an idle box has the lowest weight there is, and the kernel takes no weight for it; give one of them'})
}

export const Isolation = IsolationFields.superRefine(idleOrWeighted)

export const HttpProbe = z.strictObject({
  url: z.url({protocol: /^https?$/}).describe('URL requested at a fixed rate'),
  rate: z.number().positive().max(5000).default(50).describe('requests per second'),
  timeout: duration('probe.http.timeout', {max: 60_000}).default(2000),
  method: z.enum(['GET', 'POST', 'HEAD']).default('GET'),
})

const workflowFields = {
  name,
  run: z.array(z.string().min(1)).min(1).optional().describe('argv of a managed workflow, started for the experiment and stopped after; "chaos" means this toolkit'),
  pid: z.number().int().positive().optional().describe('attach to a running process'),
  cgroup: z.string().startsWith('/').optional().describe('attach to an existing cgroup (path under the cgroup mount, or an absolute /sys/fs/cgroup path)'),
  unit: z.string().regex(/^[\w@:.-]+\.(service|scope)$/, 'expected a systemd unit such as worker.service').optional(),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  isolation: Isolation.default({level: 'none'}),
  ready: z.strictObject({
    http: z.url({protocol: /^https?$/}),
    timeout: duration('ready.timeout', {max: 300_000}).default(15_000),
  }).optional().describe('wait until this URL answers 2xx before measuring'),
  // platform docker only (docs/docker.md)
  image: z.string().min(1).max(255).optional().describe('platform docker: a managed container is created from this image (run: is then its command; "chaos" means the image\'s toolkit)'),
  container: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'expected a container name or id').optional().describe('platform docker: attach to an existing container by name or id'),
  selector: z.string().max(1000).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*(=[^,=]*)?(,[A-Za-z0-9][A-Za-z0-9._/-]*(=[^,=]*)?)*$/, 'expected labels such as app=api,tier=web (a key alone matches any value)').optional()
    .describe('platform docker: attach to the one running container whose labels match, e.g. app=api,tier=web'),
  // platform host only (docs/host.md)
  host: name.optional().describe('platform host: the host (a key of hosts:) this workflow runs on; default: the only host'),
  // platform kubernetes only (docs/kubernetes.md)
  pods: z.lazy(() => KubePods).optional().describe('platform kubernetes: the pods this workflow is (namespace, label and field selectors, container, how many)'),
  ports: z.array(z.union([
    z.number().int().min(1).max(65535),
    z.string().regex(/^\d{1,5}:\d{1,5}$/, 'expected HOST:CONTAINER, e.g. "19201:8080"'),
  ])).max(16).optional().describe('platform docker: container ports published on 127.0.0.1 only, as PORT (the same on both sides) or "HOST:CONTAINER"'),
}

function exactlyOneSource(w: {run?: unknown, pid?: unknown, cgroup?: unknown, unit?: unknown, image?: unknown, container?: unknown, selector?: unknown, pods?: unknown}, ctx: z.RefinementCtx) {
  // with image: (platform docker), run: is the container's command, not a source of its own
  const given = (['run', 'pid', 'cgroup', 'unit', 'image', 'container', 'selector', 'pods'] as const).filter((k) => w[k] !== undefined && !(k === 'run' && w.image !== undefined))
  if (given.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: given.length === 0
        ? 'a workflow needs one of run (start it), pid, cgroup or unit (attach to it); on platform docker, image (start a container), container or selector (attach to one)'
        : `a workflow takes only one of run, pid, cgroup, unit, image, container, selector; got ${given.join(' and ')}`,
    })
  }
}

export const Target = z.strictObject(workflowFields).superRefine(exactlyOneSource)

export const Neighbor = z.strictObject({
  ...workflowFields,
  probe: z.strictObject({http: HttpProbe}).optional().describe('active load at a fixed rate; latency, errors and throughput are measured on it'),
  metrics: z.url({protocol: /^https?$/}).optional().describe('Prometheus /metrics endpoint scraped each interval'),
}).superRefine(exactlyOneSource)

export const Volume = z.strictObject({
  size: bytes('volume size', {min: 1024 ** 2, max: 64 * 1024 ** 3}).describe('a tmpfs of this size, created for the experiment and removed after'),
})

const MemoryLeak = z.strictObject({
  type: z.literal('memory-leak'),
  rate: byteRate('fault.rate').describe('how fast the leak grows, e.g. 64Mi/s'),
  limit: sizeOrPercent('fault.limit').describe('where the leak stops growing: a size, or a percentage of the target\'s memory limit'),
  hold: z.boolean().default(true).describe('keep the memory until the inject phase ends'),
})

const CpuHog = z.strictObject({
  type: z.literal('cpu-hog'),
  load: percent('fault.load', {min: 0.01, max: 1}).default(1).describe('share of the target\'s own CPU allowance (quota, cpuset, or the whole host under none)'),
  cores: z.number().positive().max(1024).optional().describe('burn this many cores, whatever the allowance (instead of load): the same absolute dose at every isolation level, as chaos matrix does; refused when above the allowance'),
  workers: z.number().int().min(1).max(256).optional().describe('busy processes; default: one per core of the dose'),
})

const DiskFill = z.strictObject({
  type: z.literal('disk-fill'),
  volume: name.optional().describe('an experiment volume to fill'),
  path: z.string().startsWith('/').optional().describe('a directory on a filesystem the experiment allows (see safety.allowPaths)'),
  size: sizeOrPercent('fault.size').prefault('100%').describe('bytes to write, or a percentage of the filesystem'),
  rate: byteRate('fault.rate').optional().describe('write at this rate; default: as fast as possible'),
  mode: z.enum(['write', 'fallocate']).default('write').describe('write: real writes; fallocate: reserve the space at once'),
}).superRefine((f, ctx) => {
  if ((f.volume === undefined) === (f.path === undefined)) ctx.addIssue({code: 'custom', message: 'disk-fill needs exactly one of volume or path'})
})

const NetworkFlood = z.strictObject({
  type: z.literal('network-flood'),
  destination: z.union([
    z.literal('sink'),
    z.strictObject({host: z.string().min(1), port: z.number().int().min(1).max(65535)}),
  ]).default('sink').describe('sink: a receiver the toolkit starts on the other end of the target\'s network; or an allowed host:port'),
  direction: z.enum(['send', 'receive']).default('send').describe('send: the target floods the sink; receive: a source the toolkit starts in the sink\'s place floods a receiver in the target (its box, its namespace), so the target\'s receive path is the one saturated'),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  rate: bitRate('fault.rate').optional().describe('send at this rate; default: unbounded'),
  connections: z.number().int().min(1).max(64).default(4),
})

const ProcessExhaustion = z.strictObject({
  type: z.literal('process-exhaustion'),
  count: z.number().int().min(1).max(4_194_304).describe('processes (or threads) to create in the target\'s own box and hold until the fault is removed; capped by safety.maxProcesses'),
  rate: countRate('fault.rate').optional().describe('how fast they are created, e.g. 50/s; default: as fast as possible'),
  kind: z.enum(['processes', 'threads']).default('processes').describe('processes: forked children; threads: threads of one process (each may take a stack of 8Mi)'),
})

const blockSize = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const n = typeof value === 'string' ? parseBytes(value) : undefined
  if (n === undefined || n < 4096 || n > 16 * 1024 ** 2 || n % 4096 !== 0) {
    ctx.addIssue({code: 'custom', message: `fault.blockSize: expected a whole number of 4Ki blocks from 4Ki to 16Mi such as 1Mi, got ${JSON.stringify(value)}`})
    return z.NEVER
  }
  return n
})

const IoSaturation = z.strictObject({
  type: z.literal('io-saturation'),
  path: z.string().startsWith('/').optional().describe('a directory on a block-backed filesystem under safety.allowPaths; default: the run\'s own directory'),
  size: bytes('fault.size', {min: 1024 ** 2, max: 64 * 1024 ** 3}).prefault('256Mi').describe('the working file, written over and over; counts against safety.maxDisk'),
  blockSize: blockSize.prefault('1Mi').describe('bytes per write (O_DIRECT: a whole number of 4Ki blocks)'),
  depth: z.number().int().min(1).max(64).default(8).describe('writes in flight at once: the queue depth the disk sees'),
  rate: byteRate('fault.rate').optional().describe('read and write at this rate; default: as fast as the disk (or the target\'s throttle) takes it'),
  reads: percent('fault.reads').default(0).describe('the share of operations that are direct reads of blocks already written (the file is written through once first); default 0%: writes only'),
})

export const Fault = z.discriminatedUnion('type', [MemoryLeak, CpuHog, DiskFill, NetworkFlood, ProcessExhaustion, IoSaturation])

export const BUILTIN_SIGNALS = [
  'latency_p50', 'latency_p90', 'latency_p95', 'latency_p99', 'latency_mean',
  'error_rate', 'throughput',
  'cpu_usage', 'cpu_throttled', 'memory', 'oom_kills', 'restarts', 'unready',
  'cpu_pressure', 'memory_pressure', 'io_pressure',
] as const

export const Signal = z.enum(BUILTIN_SIGNALS)

export const HypothesisEntry = z.strictObject({
  signal: Signal,
  neighbor: name.optional().describe('only this neighbour; default: every neighbour'),
  max_increase: percent('max_increase', {min: 0, max: 100}).optional().describe('largest accepted rise over the baseline, e.g. 25%'),
  max_decrease: percent('max_decrease', {min: 0, max: 1}).optional().describe('largest accepted fall below the baseline'),
  max: threshold('max').optional().describe('largest accepted value during the fault: 1% for rates, 50ms for latencies, 256Mi for memory'),
  min: threshold('min').optional().describe('smallest accepted value during the fault'),
  promql: z.string().min(1).max(4000).optional().describe('with metrics.source prometheus: a PromQL query measuring this signal instead of the built-in one; $selector (the neighbour\'s label matchers, no braces), $container (its cAdvisor matchers) and $range (the rate window) expand'),
}).superRefine((h, ctx) => {
  if ([h.max_increase, h.max_decrease, h.max, h.min].every((v) => v === undefined)) {
    ctx.addIssue({code: 'custom', message: `hypothesis for ${h.signal} needs a threshold: max_increase, max_decrease, max or min`})
  }
})

export const Phases = z.strictObject({
  baseline: duration('phases.baseline', {min: 3000, max: 3_600_000}).default(10_000).describe('verdict.design windows: the one baseline window'),
  inject: duration('phases.inject', {min: 3000, max: 3_600_000}).default(15_000).describe('verdict.design windows: the one fault window; interleaved: the longest a fault that ends itself (a leak killed by its limit) may take'),
  recover: duration('phases.recover', {min: 0, max: 3_600_000}).default(5000),
  interval: duration('phases.interval', {min: 100, max: 60_000}).default(1000),
  warmup: duration('phases.warmup', {min: 0, max: 600_000}).default(10_000).describe('settling time after the workflows are ready, not measured: start-up transients (JIT, first page-outs) are not a baseline'),
})

/** How the verdict is reached: the measuring design, its budget and its error rates (docs/experiment-format.md, Verdicts). */
export const VerdictSettings = z.strictObject({
  design: z.enum(['interleaved', 'windows']).optional().describe('interleaved (default): fault-on and fault-off blocks alternate in pairs in a seeded order, looked at after every few pairs until decided or the budget is spent; windows: one baseline window, then one fault window (default with metrics.source prometheus, whose scrapes lag blocks of seconds)'),
  block: duration('verdict.block', {min: 1000, max: 600_000}).default(4000).describe('length of each fault-on and fault-off block; a fault-on block starts when the dose has landed. A fault that ends itself (a leak killed by its limit) is measured over its episode instead, and this is not used'),
  settle: duration('verdict.settle', {min: 0, max: 60_000}).default(1000).describe('after every block, fault-on or off, not measured before the next'),
  budget: duration('verdict.budget', {min: 5000, max: 3_600_000}).default(150_000).describe('most measuring time: an undecided run stops here and says inconclusive'),
  alpha: z.number().gt(0).max(0.25).default(0.05).describe('each wrong verdict (a breach at a change equal to the threshold, or containment there) at most this often'),
  firstLook: z.number().int().min(2).max(1000).default(4).describe('pairs before the first look'),
  lookEvery: z.number().int().min(1).max(1000).default(2).describe('pairs between looks'),
  spending: z.enum(['pocock', 'obrien-fleming']).default('pocock').describe('how alpha is spent over the looks: pocock decides clear cases early, obrien-fleming keeps most of it for the last look'),
})

export const Safety = z.strictObject({
  maxDuration: duration('safety.maxDuration', {max: 4 * 3_600_000}).default(30 * 60_000),
  maxMemory: bytes('safety.maxMemory').prefault('8Gi').describe('largest memory leak allowed'),
  maxDisk: bytes('safety.maxDisk').prefault('8Gi').describe('largest disk fill allowed'),
  maxProcesses: z.number().int().min(1).max(4_194_304).default(2000).describe('most processes or threads a process-exhaustion may create (also never above half of the kernel\'s pid_max)'),
  diskFloor: percent('safety.diskFloor').prefault('10%').describe('free space always left on a filesystem the experiment did not create'),
  allowPaths: z.array(z.string().startsWith('/')).default([]),
  allowHosts: z.array(z.string()).default([]).describe('flood destinations beyond loopback and the toolkit\'s own sink: addresses or CIDRs'),
  abort: z.array(z.lazy(() => AbortCondition)).default([]).describe('conditions checked every interval during injection; the first that holds removes the fault at once'),
  allowSystem: z.boolean().default(false).describe('OVERRIDE: target the machine itself on platform process: PID 1, the root cgroup, the toolkit\'s own processes and cgroups, system services\' cgroups (system.slice, init.scope, user.slice and the like)'),
  allowUnlabelled: z.boolean().default(false).describe('OVERRIDE: target an existing container (platform docker) or pods (platform kubernetes) that carry no chaos.allowed=true label'),
})

/** A condition that stops the injection early: harm beyond what the experiment may cause, whatever the verdict. */
export const AbortCondition = z.strictObject({
  signal: z.enum(['error_rate', 'latency_p50', 'latency_p95', 'latency_p99', 'restarts', 'oom_kills', 'host_memory_available']),
  neighbor: name.optional().describe('only this neighbour; default: any neighbour'),
  above: threshold('abort.above').optional(),
  below: threshold('abort.below').optional(),
  window: duration('abort.window', {min: 100, max: 600_000}).default(3000).describe('judged over this much recent time'),
}).superRefine((a, ctx) => {
  if ((a.above === undefined) === (a.below === undefined)) ctx.addIssue({code: 'custom', message: `abort condition on ${a.signal} needs exactly one of above or below`})
})

/** PromQL label matchers in braces, spliced into a neighbour's queries, e.g. {instance="127.0.0.1:19502"}. */
const labelSelector = z.string().regex(/^\{[^]*\}$/, 'expected PromQL label matchers in braces, such as {job="api"}')

export const PrometheusMetrics = z.strictObject({
  source: z.literal('prometheus'),
  url: z.url({protocol: /^https?$/}).refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'credentials do not belong in the experiment file: set CHAOS_PROMETHEUS_TOKEN, or CHAOS_PROMETHEUS_USER and CHAOS_PROMETHEUS_PASSWORD')
    .describe('the Prometheus HTTP API, e.g. http://127.0.0.1:9090 (a path prefix is kept)'),
  scrapeInterval: duration('metrics.scrapeInterval', {min: 100, max: 600_000}).default(15_000).describe('how often Prometheus scrapes the neighbours; the rate window is the larger of phases.interval and twice this'),
  timeout: duration('metrics.timeout', {min: 100, max: 120_000}).default(10_000).describe('per request to Prometheus'),
  retries: z.number().int().min(0).max(10).default(3).describe('retries of a failed request (unreachable, 5xx, 429), with exponential backoff'),
  caFile: z.string().min(1).optional().describe('PEM file of the CA that signed Prometheus\'s certificate'),
  neighbors: z.record(name, z.strictObject({
    selector: labelSelector.optional().describe('the neighbour\'s own series (HTTP metrics, up); default {job="NAME"}'),
    containerSelector: labelSelector.optional().describe('its cAdvisor series (CPU, memory, OOM, pressure); default {container="NAME"}'),
  })).default({}).describe('how each neighbour\'s series are found'),
  latency: z.enum(['probe', 'service']).default('probe').describe('where latency quantiles come from for a neighbour with a probe: probe (the toolkit\'s own histogram, scraped by this Prometheus from the toolkit: what the embedded source measures, queueing included) or service (the neighbour\'s own http_request_duration_seconds, which starts inside its handler and misses time spent waiting to be served)'),
  toolkit: z.strictObject({
    port: z.number().int().min(1).max(65_535).default(19_590).describe('127.0.0.1 port the toolkit serves its own metrics on during the run (as --metrics-port), for this Prometheus to scrape'),
    selector: labelSelector.default('{job="chaos"}').describe('the toolkit\'s series in this Prometheus'),
  }).default({port: 19_590, selector: '{job="chaos"}'}).describe('how this Prometheus finds the toolkit\'s own series (the probe\'s latency histogram)'),
})

export const MetricsSource = z.discriminatedUnion('source', [
  z.strictObject({source: z.literal('embedded')}),
  PrometheusMetrics,
])

/** The platforms an experiment can name; the one list (platforms/registry.ts has a case for each). */
export const PLATFORMS = ['process', 'docker', 'kubernetes', 'host'] as const
export type PlatformName = (typeof PLATFORMS)[number]

export const Experiment = z.strictObject({
  $schema: z.string().optional(),
  apiVersion: z.literal('chaos/v1'),
  kind: z.literal('Experiment'),
  metadata: z.strictObject({
    name,
    description: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  platform: z.enum(PLATFORMS).default('process').describe('process: workflows are local processes in cgroups; docker: containers of a local Docker engine (docs/docker.md); kubernetes: pods (docs/kubernetes.md); host: processes on hosts reached over SSH (docs/host.md)'),
  target: Target,
  neighbors: z.array(Neighbor).min(1).max(500),
  volumes: z.record(name, Volume).optional(),
  shared: IsolationFields.omit({level: true}).superRefine(idleOrWeighted).optional().describe('limits of the shared box; default: the sum of the limits of the workflows in it'),
  fault: Fault,
  phases: Phases.prefault({}),
  verdict: VerdictSettings.prefault({}),
  hypothesis: z.array(HypothesisEntry).min(1),
  expect: z.enum(['contained', 'breach']).default('contained'),
  safety: Safety.prefault({}),
  hosts: z.record(name, z.lazy(() => SshHost)).optional().describe('platform host: the hosts the workflows run on, by name, and how to reach each over SSH (docs/host.md)'),
  kubernetes: z.lazy(() => KubeSettings).optional().describe('platform kubernetes: cluster access, injection mechanism and safety override (docs/kubernetes.md)'),
  metrics: MetricsSource.default({source: 'embedded'}).describe('where the neighbours\' signals come from: embedded (the toolkit\'s probe, scrape and cgroup readings) or prometheus (PromQL)'),
}).superRefine((e, ctx) => {
  const names = [e.target.name, ...e.neighbors.map((n) => n.name)]
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) ctx.addIssue({code: 'custom', path: i === 0 ? ['target', 'name'] : ['neighbors', i - 1, 'name'], message: `workflow name "${n}" is used twice`})
  })
  e.hypothesis.forEach((h, i) => {
    if (h.neighbor !== undefined && !e.neighbors.some((n) => n.name === h.neighbor)) {
      ctx.addIssue({code: 'custom', path: ['hypothesis', i, 'neighbor'], message: `no neighbour is named "${h.neighbor}" (neighbours: ${e.neighbors.map((n) => n.name).join(', ')})`})
    }
  })
  if (e.fault.type === 'disk-fill' && e.fault.volume !== undefined && !(e.volumes && e.fault.volume in e.volumes)) {
    ctx.addIssue({code: 'custom', path: ['fault', 'volume'], message: `no volume is named "${e.fault.volume}"; declare it under volumes:`})
  }
  if (e.fault.type === 'network-flood' && e.fault.direction === 'receive' && e.fault.destination !== 'sink') {
    ctx.addIssue({code: 'custom', path: ['fault', 'destination'], message: 'a receive flood comes from a source the toolkit starts in the sink\'s place, never from another host: destination must be sink'})
  }
  for (const [level, spec] of Object.entries(e.kubernetes?.levels ?? {})) {
    for (const neighbor of Object.keys(spec.neighbors ?? {})) {
      if (!e.neighbors.some((n) => n.name === neighbor)) ctx.addIssue({code: 'custom', path: ['kubernetes', 'levels', level, 'neighbors', neighbor], message: `no neighbour is named "${neighbor}" (neighbours: ${e.neighbors.map((n) => n.name).join(', ')})`})
    }
  }
  if (e.kubernetes?.levels && e.platform !== 'kubernetes') ctx.addIssue({code: 'custom', path: ['kubernetes', 'levels'], message: 'kubernetes.levels is for platform kubernetes'})
  checkPlatformFields(e, ctx)
})

/** Each platform's own workflow keys and isolation levels: docker's image/container/ports and level container, process's pid/cgroup/unit and level cgroup. */
function checkPlatformFields(e: {platform: PlatformName, hosts?: Record<string, unknown>, target: z.output<typeof Target>, neighbors: z.output<typeof Neighbor>[]}, ctx: z.RefinementCtx) {
  const workflows = [e.target, ...e.neighbors]
  if (e.platform === 'host') checkHostFields(e.hosts, workflows, ctx)
  else {
    if (e.hosts !== undefined) ctx.addIssue({code: 'custom', path: ['hosts'], message: 'hosts is for platform host (platform: host)'})
    workflows.forEach((w, i) => {
      if (w.host !== undefined) ctx.addIssue({code: 'custom', path: i === 0 ? ['target', 'host'] : ['neighbors', i - 1, 'host'], message: 'host is for platform host (platform: host)'})
    })
  }
  if (e.platform === 'kubernetes') return checkKubernetesFields(workflows, ctx)
  workflows.forEach((w, i) => {
    const at = (key: string) => (i === 0 ? ['target', key] : ['neighbors', i - 1, key])
    if (w.pods !== undefined) ctx.addIssue({code: 'custom', path: at('pods'), message: 'pods is for platform kubernetes (platform: kubernetes)'})
    if (e.platform === 'docker') {
      for (const key of ['pid', 'cgroup', 'unit'] as const) {
        if (w[key] !== undefined) ctx.addIssue({code: 'custom', path: at(key), message: `${key} is for platform process; on platform docker attach with container: NAME`})
      }
      if (w.run !== undefined && w.image === undefined) ctx.addIssue({code: 'custom', path: at('run'), message: 'on platform docker, run: is the command of a container: give image: too'})
      if (w.isolation.level === 'cgroup') ctx.addIssue({code: 'custom', path: [...at('isolation'), 'level'], message: 'on platform docker the levels are none, shared and container (a container with its own limits)'})
    } else {
      for (const key of ['image', 'container', 'selector', 'ports'] as const) {
        if (w[key] !== undefined) ctx.addIssue({code: 'custom', path: at(key), message: `${key} is for platform docker (platform: docker)`})
      }
      if (w.isolation.level === 'container') ctx.addIssue({code: 'custom', path: [...at('isolation'), 'level'], message: `level container is for platform docker; on platform ${e.platform} a box of its own is level cgroup`})
    }
  })
}

// ---- platform host (docs/host.md) ------------------------------------------------------------------------------

/** platform host: how one host is reached over SSH. Keys and agents only: a password never belongs in the file. */
export const SshHost = z.strictObject({
  address: z.string().min(1).max(253).regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or an IP address').describe('host name or IP address, as the toolkit reaches it (also where its probe sends)'),
  port: z.number().int().min(1).max(65_535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a user name').default('root').describe('the user the toolkit logs in as: root, or one that may write the host\'s cgroups'),
  identityFile: z.string().min(1).optional().describe('private key file (OpenSSH or PEM); with agent: true the agent\'s keys are offered too'),
  agent: z.boolean().default(false).describe('offer the keys of the SSH agent at $SSH_AUTH_SOCK'),
  knownHosts: z.string().min(1).default('~/.ssh/known_hosts').describe('known_hosts file that must hold the host\'s key (the run refuses an unknown or changed key)'),
  toolkit: z.string().startsWith('/').optional().describe('where this toolkit is installed on the host (its package directory); default: the same path as here'),
  node: z.string().min(1).default('node').describe('the Node.js the toolkit runs with on the host'),
  connectTimeout: duration('hosts.connectTimeout', {min: 100, max: 120_000}).default(10_000),
}).superRefine((h, ctx) => {
  if (h.identityFile === undefined && !h.agent) ctx.addIssue({code: 'custom', path: ['identityFile'], message: 'a host needs identityFile, or agent: true (a password never belongs in the experiment)'})
})

function checkHostFields(hosts: Record<string, unknown> | undefined, workflows: (z.output<typeof Target> | z.output<typeof Neighbor>)[], ctx: z.RefinementCtx) {
  const names = Object.keys(hosts ?? {})
  if (names.length === 0) {
    ctx.addIssue({code: 'custom', path: ['hosts'], message: 'platform host needs hosts: at least one host, by name, with its address and key'})
    return
  }
  workflows.forEach((w, i) => {
    const at = (key: string) => (i === 0 ? ['target', key] : ['neighbors', i - 1, key])
    if (w.host === undefined && names.length > 1) ctx.addIssue({code: 'custom', path: at('name'), message: `with several hosts each workflow names its host: (one of ${names.join(', ')})`})
    if (w.host !== undefined && !names.includes(w.host)) ctx.addIssue({code: 'custom', path: at('host'), message: `no host is named "${w.host}" (hosts: ${names.join(', ')})`})
    if (w.unit !== undefined) ctx.addIssue({code: 'custom', path: at('unit'), message: 'on platform host, attach by pid or cgroup (systemd units are not yet supported there)'})
  })
}

// ---- platform kubernetes (docs/kubernetes.md) ----------------------------------------------------------------

const dns1123Label = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a Kubernetes name (lowercase letters, digits, dashes)')

/**
 * platform kubernetes: the isolation the experiment says these pods have. The toolkit does not make it (the
 * cluster did): it checks each statement against the cluster in the plan and refuses the run when one is false,
 * so a verdict is never filed under a boundary that was not there.
 */
export const KubeIsolation = z.strictObject({
  qos: z.enum(['Guaranteed', 'Burstable', 'BestEffort']).optional().describe('the pods\' QoS class (status.qosClass)'),
  limits: z.boolean().optional().describe('true: the chosen container sets both cpu and memory limits; false: it sets neither'),
  quota: z.boolean().optional().describe('true: the namespace has a ResourceQuota; false: it has none'),
  limitRange: z.boolean().optional().describe('true: the namespace has a LimitRange; false: it has none'),
  node: z.enum(['dedicated', 'shared']).optional().describe('dedicated: no pod of another workflow of the experiment runs on these pods\' nodes; shared: at least one does'),
  nodeSelector: z.record(z.string(), z.string()).optional().describe('the pods\' spec.nodeSelector includes these labels (a node pool)'),
})

/** platform kubernetes: which pods a workflow is, and how many of them. */
const kubePodsShape = {
  namespace: dns1123Label.describe('the namespace the pods are in'),
  selector: z.string().min(1).max(4000).optional().describe('label selector in kubectl syntax, e.g. "app=api,tier in (web),!canary"'),
  fieldSelector: z.string().min(1).max(4000).optional().describe('field selector, e.g. "spec.nodeName=node-1"'),
  container: dns1123Label.optional().describe('the container the fault is charged to (and whose limits size the dose); default: the pod\'s first container'),
  allContainers: z.boolean().describe('target only: inject into every container of each chosen pod, each dosed against its own limits'),
  pick: z.union([
    z.enum(['one', 'all']),
    z.strictObject({count: z.number().int().min(1).max(10_000)}),
    z.strictObject({percent: percent('pods.pick.percent', {min: 0.0001, max: 1})}),
  ]).optional().describe('how many of the matching pods: one, all, {count: N} or {percent: 25%} (a seeded random choice, printed in the plan); default: one for the target, all for a neighbour'),
  isolation: KubeIsolation.optional().describe('the isolation these pods are said to have, checked against the cluster before anything starts'),
}

export const KubePods = z.strictObject({
  ...kubePodsShape,
  namespace: kubePodsShape.namespace.default('default'),
  allContainers: kubePodsShape.allContainers.default(false),
})

/** What a level changes in a workflow's pods: only the keys given (no defaults, which would undo the experiment's). */
const KubePodsOverride = z.strictObject(kubePodsShape).partial()

/** A level of `chaos matrix` on platform kubernetes: the same workflows as other pods (another deployment), each with its own stated isolation. */
export const KubeLevel = z.strictObject({
  description: z.string().optional(),
  target: KubePodsOverride.optional().describe('what changes in the target\'s pods: selection, stated isolation'),
  neighbors: z.record(name, KubePodsOverride).optional().describe('per neighbour name, what changes in its pods'),
})

export const KubeSettings = z.strictObject({
  kubeconfig: z.string().min(1).optional().describe('kubeconfig file; default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account'),
  context: z.string().min(1).optional().describe('kubeconfig context; default: $CHAOS_KUBE_CONTEXT, else the current context'),
  mechanism: z.enum(['ephemeral-container', 'helper-pod']).default('ephemeral-container').describe('ephemeral-container: the stressor runs in the target pod (no privileges; it stays in the pod spec until the pod restarts); helper-pod: a short-lived privileged pod on the target\'s node joins the target container\'s cgroup and network namespace'),
  image: z.string().min(1).max(255).default('chaos-toolkit:0.1.0').describe('the toolkit image the stressor runs from (docs/kubernetes.md builds it)'),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional().describe('seed of the random choice of pods; default: a fresh one, printed in the plan'),
  allowSystem: z.boolean().default(false).describe('OVERRIDE: target the machine itself on platform process: PID 1, the root cgroup, the toolkit\'s own processes and cgroups, system services\' cgroups (system.slice, init.scope, user.slice and the like)'),
  allowUnlabelled: z.boolean().default(false).describe('OVERRIDE: target pods that neither carry chaos.allowed=true nor live in a namespace labelled so'),
  requestTimeout: duration('kubernetes.requestTimeout', {min: 100, max: 120_000}).default(10_000).describe('per request to the API server'),
  level: name.default('stated').describe('the name, in chaos matrix and reports, of the isolation level the workflows\' own pods: embody'),
  levels: z.record(name, KubeLevel).optional().describe('other isolation levels for chaos matrix / chaos run --level: the same workflows as other pods, e.g. a BestEffort and a Guaranteed deployment of the worker'),
}).superRefine((k, ctx) => {
  if (k.levels && k.level in k.levels) ctx.addIssue({code: 'custom', path: ['levels', k.level], message: `level ${k.level} is the experiment's own pods (kubernetes.level); give the other levels other names`})
})

function checkKubernetesFields(workflows: (z.output<typeof Target> | z.output<typeof Neighbor>)[], ctx: z.RefinementCtx) {
  workflows.forEach((w, i) => {
    const at = (key: string) => (i === 0 ? ['target', key] : ['neighbors', i - 1, key])
    for (const key of ['run', 'pid', 'cgroup', 'unit', 'image', 'container', 'selector', 'ports', 'env', 'cwd', 'ready'] as const) {
      if (w[key] !== undefined) ctx.addIssue({code: 'custom', path: at(key), message: `${key} is not for platform kubernetes: a workflow is the pods that pods: selects`})
    }
    const {level, ...limits} = w.isolation
    if (level !== 'none' || Object.values(limits).some((v) => v !== undefined)) {
      ctx.addIssue({code: 'custom', path: at('isolation'), message: 'on platform kubernetes the pods keep the isolation the cluster gave them (limits, QoS class, quotas); the plan prints it. Leave isolation out'})
    }
    if (i > 0 && w.pods?.allContainers) ctx.addIssue({code: 'custom', path: [...at('pods'), 'allContainers'], message: 'allContainers is for the target'})
  })
}

export type KubePodsSpec = z.output<typeof KubePods>
export type KubeSettingsSpec = z.output<typeof KubeSettings>
export type SshHostSpec = z.output<typeof SshHost>
export type Experiment = z.output<typeof Experiment>
export type ExperimentInput = z.input<typeof Experiment>
export type Workflow = z.output<typeof Target> | z.output<typeof Neighbor>
export type NeighborSpec = z.output<typeof Neighbor>
export type TargetSpec = z.output<typeof Target>
export type IsolationSpec = z.output<typeof Isolation>
/** The keys of an isolation that set something (every key but level): what an attached workflow may not ask for. */
export const ISOLATION_SETTINGS = Object.keys(Isolation.shape).filter((key) => key !== 'level') as Array<Exclude<keyof IsolationSpec, 'level'>>
/** The settings the workflow's isolation asks for. */
export const isolationSettingsOf = (isolation: IsolationSpec) => ISOLATION_SETTINGS.filter((key) => isolation[key] !== undefined)
export type FaultSpec = z.output<typeof Fault>
export type FaultType = FaultSpec['type']
export type HypothesisSpec = z.output<typeof HypothesisEntry>
export type SignalName = (typeof BUILTIN_SIGNALS)[number]
export type PhasesSpec = z.output<typeof Phases>
export type VerdictSettingsSpec = z.output<typeof VerdictSettings>
export type SafetySpec = z.output<typeof Safety>
export type AbortConditionSpec = z.output<typeof AbortCondition>
export type MetricsSpec = z.output<typeof MetricsSource>
export type PrometheusMetricsSpec = z.output<typeof PrometheusMetrics>
