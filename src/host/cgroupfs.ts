// cgroup boxes on this Linux host, for every platform that makes them here (process, Docker's shared boxes, the
// Kubernetes node helper), rollback and chaos stress: cgroup v1 (one hierarchy per controller, as on this
// project's CI machine) and cgroup v2 (one unified tree, as on most current distributions). The root is a
// parameter so the v2 path can be exercised against a fake cgroupfs tree in tests.
import {accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statfsSync, writeFileSync} from 'node:fs'
import {release} from 'node:os'
import {dirname, join} from 'node:path'

/**
 * Where a workflow's resource accounting lives: one directory per cgroup v1 hierarchy (controllers may share a
 * directory when co-mounted, e.g. cpu,cpuacct), or the single cgroup v2 directory.
 */
export type CgroupPaths =
  | {version: 1, cpu?: string, cpuacct?: string, memory?: string, blkio?: string, pids?: string, cpuset?: string}
  | {version: 2, dir: string}

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'cpuset', 'pids', 'blkio'] as const
export type V1Controller = (typeof V1_CONTROLLERS)[number]

export type CgroupLayout =
  | {version: 1, root: string, mounts: Partial<Record<V1Controller, string>>}
  | {version: 2, root: string}

export class CgroupUnavailableError extends Error {}

/** Which cgroup layout this machine has. A hybrid host (v1 controllers plus an empty unified tree) counts as v1. */
export function detectCgroupLayout(root = process.env.CHAOS_CGROUP_ROOT ?? '/sys/fs/cgroup'): CgroupLayout {
  if (existsSync(join(root, 'cgroup.controllers'))) return {version: 2, root}
  const mounts: Partial<Record<V1Controller, string>> = {}
  for (const controller of V1_CONTROLLERS) {
    const dir = join(root, controller)
    if (existsSync(join(dir, 'cgroup.procs'))) mounts[controller] = dir
  }
  if (mounts.memory === undefined && mounts.cpu === undefined) {
    throw new CgroupUnavailableError(`no cgroup filesystem found at ${root} (neither v2's cgroup.controllers nor v1's memory/cpu hierarchies)`)
  }
  return {version: 1, root, mounts}
}

export interface CgroupLimits {
  memory?: number
  cpus?: number
  cpuset?: string
  pids?: number
  ioWeight?: number
  /** v2 only: kill every process of the box when one is OOM-killed, as Kubernetes does for containers */
  oomGroup?: boolean
  /** CPU weight on v2's scale (1-10000, default 100); v1 cpu.shares gets weight x 10.24 */
  cpuWeight?: number
  /** the box runs only on CPU time nothing else wants (cpu.idle, v1 and v2, Linux 5.15+); excludes cpuWeight */
  cpuIdle?: boolean
  /** a throttle on one whole disk: v1 blkio.throttle.*_device, v2 io.max */
  io?: IoThrottle
}

/** Bytes and operations per second on one disk ("major:minor"); what is not given is not limited. */
export interface IoThrottle {
  device: string
  /** the disk's kernel name (vda): its node is /dev/NAME, which the Docker engine takes instead of major:minor */
  name?: string
  readBps?: number
  writeBps?: number
  readIops?: number
  writeIops?: number
}

/** The four throttle keys, with their v1 file and v2 io.max key: the one list both versions and the plan read. */
export const IO_THROTTLE_KEYS = [
  {key: 'readBps', v1: 'blkio.throttle.read_bps_device', v2: 'rbps'},
  {key: 'writeBps', v1: 'blkio.throttle.write_bps_device', v2: 'wbps'},
  {key: 'readIops', v1: 'blkio.throttle.read_iops_device', v2: 'riops'},
  {key: 'writeIops', v1: 'blkio.throttle.write_iops_device', v2: 'wiops'},
] as const

/**
 * A v1 rule no disk reaches (1 PB/s): cgroup v1's blk-throttle counts a box's I/O on a device only while the box
 * has a rule there (measured on 6.18: 20 MiB written with O_DIRECT read Total 0 without one), so a box the fault
 * must account for gets this where it has no rule of its own. It never throttles anything.
 */
export const V1_COUNTING_RULE_BPS = 1e15

const CFS_PERIOD_US = 100_000

/** A box's CPU weight when nothing sets one (v2 cpu.weight 100, v1 cpu.shares 1024). */
export const DEFAULT_CPU_WEIGHT = 100
export const MAX_CPU_WEIGHT = 10_000

/**
 * The weight of a run's own cgroup, the parent of its workflows' boxes: the sum of theirs. A weight counts only
 * against its siblings, so under a parent left at the default every box of a run together would weigh one process
 * of the host's, and a neighbour given weight 10000 to keep its core against the host's other work would have none
 * of it (measured: a pinned API at weight 10000 read p95 +71% beside a hog and stress-ng under a default parent,
 * +2% under this one). The sum makes the boxes weigh against the rest of the host about what they would as the
 * host's own children, up to the largest weight the kernel takes.
 */
/** Whether this user can make boxes in the layout (root, or a delegated subtree mounted writable). */
export function cgroupsWritable(layout: CgroupLayout): boolean {
  const dir = layout.version === 2 ? layout.root : (layout.mounts.memory ?? layout.mounts.cpu)
  if (!dir) return false
  try {
    accessSync(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}

export function runBoxWeight(boxWeights: readonly number[]): number {
  return Math.max(1, Math.min(MAX_CPU_WEIGHT, boxWeights.reduce((a, b) => a + b, 0)))
}

/** v2's cpu.weight (1-10000, default 100) on v1's cpu.shares scale (2-262144, default 1024), as runc maps them. */
export function v1CpuShares(weight: number): number {
  return Math.max(2, Math.round(weight * 10.24))
}

/** One box, at the same relative path in every hierarchy (v1) or once in the unified tree (v2). */
export class Cgroup {
  constructor(readonly layout: CgroupLayout, readonly relativePath: string) {}

  /** The directories a process must join: one per v1 hierarchy, or the v2 directory. */
  dirs(): string[] {
    if (this.layout.version === 2) return [join(this.layout.root, this.relativePath)]
    return Object.values(this.layout.mounts).map((mount) => join(mount, this.relativePath))
  }

  paths(): CgroupPaths {
    if (this.layout.version === 2) return {version: 2, dir: join(this.layout.root, this.relativePath)}
    const at = (c: V1Controller) => (this.layout.version === 1 && this.layout.mounts[c] ? join(this.layout.mounts[c]!, this.relativePath) : undefined)
    return {version: 1, cpu: at('cpu'), cpuacct: at('cpuacct'), memory: at('memory'), blkio: at('blkio'), pids: at('pids'), cpuset: at('cpuset')}
  }

  /**
   * The box's path in every hierarchy mounted beside ours, not only those it joins: other software given this path
   * (runc with a Docker CgroupParent) creates it in all of them, devices, freezer, name=systemd and the hybrid
   * unified tree included, and whatever was created must go.
   */
  everywhere(): string[] {
    return [...new Set([...this.dirs(), ...hierarchyRoots(this.layout).map((root) => join(root, this.relativePath))])]
  }

  exists(): boolean {
    return this.everywhere().some((d) => existsSync(d))
  }

  /** Creates the box (and its parents), enabling the controllers it needs on v2. */
  create(): void {
    if (this.layout.version === 2) {
      const parts = this.relativePath.split('/').filter(Boolean)
      let dir = this.layout.root
      for (const part of parts) {
        enableV2Controllers(dir)
        dir = join(dir, part)
        if (!existsSync(dir)) mkdirSync(dir)
      }
      return
    }
    for (const [controller, mount] of Object.entries(this.layout.mounts)) {
      const parts = this.relativePath.split('/').filter(Boolean)
      let dir = mount
      for (const part of parts) {
        const parent = dir
        dir = join(dir, part)
        if (!existsSync(dir)) {
          mkdirSync(dir)
          // a v1 cpuset box accepts no task until it has CPUs and memory nodes: start from its parent's
          if (controller === 'cpuset') {
            for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, file), readFileSync(join(parent, file), 'utf8').trim() || '0')
          }
        }
      }
    }
  }

  applyLimits(limits: CgroupLimits): void {
    const {layout} = this
    if (layout.version === 2) {
      const dir = join(layout.root, this.relativePath)
      if (limits.memory !== undefined) writeFileSync(join(dir, 'memory.max'), String(limits.memory))
      if (limits.cpus !== undefined) writeFileSync(join(dir, 'cpu.max'), `${Math.round(limits.cpus * CFS_PERIOD_US)} ${CFS_PERIOD_US}`)
      if (limits.cpuset !== undefined) writeFileSync(join(dir, 'cpuset.cpus'), limits.cpuset)
      if (limits.pids !== undefined) writeFileSync(join(dir, 'pids.max'), String(limits.pids))
      if (limits.ioWeight !== undefined) writeFileSync(join(dir, 'io.weight'), `default ${limits.ioWeight}`)
      if (limits.oomGroup !== undefined) writeFileSync(join(dir, 'memory.oom.group'), limits.oomGroup ? '1' : '0')
      if (limits.cpuWeight !== undefined) writeFileSync(join(dir, 'cpu.weight'), String(limits.cpuWeight))
      if (limits.cpuIdle !== undefined) writeFileSync(join(dir, 'cpu.idle'), limits.cpuIdle ? '1' : '0')
      if (limits.io !== undefined) {
        const io = limits.io
        const set = IO_THROTTLE_KEYS.filter(({key}) => io[key] !== undefined).map(({key, v2}) => `${v2}=${Math.round(io[key]!)}`)
        if (set.length > 0) writeFileSync(join(dir, 'io.max'), `${io.device} ${set.join(' ')}`)
      }
      return
    }
    const at = (c: V1Controller, file: string) => {
      const mount = layout.mounts[c]
      if (!mount) throw new CgroupUnavailableError(`the cgroup v1 ${c} controller is not mounted under ${layout.root}, so ${file} cannot be set`)
      return join(mount, this.relativePath, file)
    }
    if (limits.memory !== undefined) {
      writeFileSync(at('memory', 'memory.limit_in_bytes'), String(limits.memory))
      // without this a box on a host with swap would page out instead of hitting its limit
      const memsw = at('memory', 'memory.memsw.limit_in_bytes')
      if (existsSync(memsw)) writeFileSync(memsw, String(limits.memory))
    }
    if (limits.cpus !== undefined) {
      writeFileSync(at('cpu', 'cpu.cfs_period_us'), String(CFS_PERIOD_US))
      writeFileSync(at('cpu', 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * CFS_PERIOD_US)))
    }
    if (limits.cpuset !== undefined) writeFileSync(at('cpuset', 'cpuset.cpus'), limits.cpuset)
    if (limits.pids !== undefined) writeFileSync(at('pids', 'pids.max'), String(limits.pids))
    if (limits.ioWeight !== undefined) writeV1IoWeight(dirname(at('blkio', 'blkio.weight')), limits.ioWeight)
    if (limits.cpuWeight !== undefined) writeFileSync(at('cpu', 'cpu.shares'), String(v1CpuShares(limits.cpuWeight)))
    if (limits.cpuIdle !== undefined) writeCpuIdle(dirname(at('cpu', 'cpu.idle')), limits.cpuIdle)
    if (limits.io !== undefined) {
      for (const {key, v1} of IO_THROTTLE_KEYS) {
        const value = limits.io[key]
        if (value !== undefined) writeFileSync(at('blkio', v1), `${limits.io.device} ${Math.round(value)}`)
      }
    }
    if (limits.oomGroup) throw new CgroupUnavailableError('memory.oom.group exists only on cgroup v2; this host runs cgroup v1')
  }

  /**
   * Makes the box's I/O on this disk counted: on v1, a rule that never binds in each direction the box has no rule
   * for (see V1_COUNTING_RULE_BPS); v2's io.stat counts everything already. The rule goes with the box.
   */
  countIo(device: string): void {
    countIoIn(this.paths(), device)
  }

  addProcess(pid: number): void {
    for (const dir of this.dirs()) writeFileSync(join(dir, 'cgroup.procs'), String(pid))
  }

  /** The root of every hierarchy: where a process with no box of its own belongs. */
  static rootDirs(layout: CgroupLayout): string[] {
    return layout.version === 2 ? [layout.root] : Object.values(layout.mounts)
  }

  /** Moves a process back to the root of every hierarchy (out of any chaos box). */
  static moveToRoot(layout: CgroupLayout, pid: number): void {
    for (const root of Cgroup.rootDirs(layout)) writeFileSync(join(root, 'cgroup.procs'), String(pid))
  }

  pids(): number[] {
    const found = new Set<number>()
    for (const dir of this.dirs()) {
      for (const pid of readPids(dir)) found.add(pid)
    }
    return [...found]
  }

  /**
   * Removes the box and its sub-boxes. Processes still inside are killed first (SIGKILL: anything left in a
   * chaos box at teardown is ours and overdue). Returns the directories that could not be removed.
   */
  async remove(): Promise<string[]> {
    const left: string[] = []
    for (const dir of this.everywhere()) {
      if (!existsSync(dir)) continue
      for (const sub of subtreeBottomUp(dir)) {
        if (!(await killAndRmdir(sub))) left.push(sub)
      }
    }
    return left
  }
}

/**
 * Makes a box's I/O on this disk counted, whoever made the box (a container's, say): on v1, a rule that never binds
 * in each direction it has no rule for (see V1_COUNTING_RULE_BPS); v2's io.stat counts everything already.
 */
export function countIoIn(paths: CgroupPaths, device: string): void {
  if (paths.version === 2) return
  if (!paths.blkio) throw new CgroupUnavailableError('counting a box\'s disk I/O needs the cgroup v1 blkio controller, which is not mounted here')
  for (const file of ['blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device']) {
    const at = join(paths.blkio, file)
    const rules = readFileSync(at, 'utf8').split('\n').map((l) => l.trim().split(/\s+/)[0])
    if (!rules.includes(device)) writeFileSync(at, `${device} ${V1_COUNTING_RULE_BPS}`)
  }
}

/**
 * Every cgroup hierarchy under the layout's root: v2's one tree, or each mounted v1 hierarchy (with the named and
 * unified ones a hybrid system has), whether or not the toolkit uses its controller.
 */
export function hierarchyRoots(layout: CgroupLayout): string[] {
  if (layout.version === 2) return [layout.root]
  const found = new Set(Object.values(layout.mounts))
  let names: string[] = []
  try {
    names = readdirSync(layout.root)
  } catch { /* the known mounts are all there is */ }
  for (const name of names) {
    const dir = join(layout.root, name)
    if (isCgroupFs(dir) && !found.has(dir)) found.add(dir)
  }
  return [...found]
}

function enableV2Controllers(dir: string): void {
  const available = readText(join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean)
  const wanted = ['cpu', 'memory', 'cpuset', 'io', 'pids'].filter((c) => available.includes(c))
  const enabled = readText(join(dir, 'cgroup.subtree_control')).split(/\s+/)
  const missing = wanted.filter((c) => !enabled.includes(c))
  if (missing.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '))
}

const CGROUP_SUPER_MAGIC = 0x27e0eb
const CGROUP2_SUPER_MAGIC = 0x63677270

function isCgroupFs(dir: string): boolean {
  try {
    const {type} = statfsSync(dir)
    return type === CGROUP_SUPER_MAGIC || type === CGROUP2_SUPER_MAGIC
  } catch {
    return false
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

function readPids(dir: string): number[] {
  return readText(join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number)
}

function subtreeBottomUp(dir: string): string[] {
  const out: string[] = []
  let entries: string[] = []
  try {
    entries = readdirSync(dir, {withFileTypes: true}).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return [dir]
  }
  for (const name of entries) out.push(...subtreeBottomUp(join(dir, name)))
  out.push(dir)
  return out
}

/**
 * Why this machine cannot weigh a box's I/O, or undefined when it can: v1 needs CFQ's blkio.weight or bfq's
 * blkio.bfq.weight in the blkio hierarchy (a kernel with neither scheduler has only the throttle files), v2 the io
 * controller. Known before anything is created, so a plan can refuse an ioWeight it could not apply.
 */
export function ioWeightUnsupported(layout: CgroupLayout): string | undefined {
  if (layout.version === 2) {
    const controllers = readFileSync(join(layout.root, 'cgroup.controllers'), 'utf8').split(/\s+/)
    return controllers.includes('io') ? undefined : `ioWeight needs the cgroup v2 io controller, which ${layout.root} does not offer`
  }
  const blkio = layout.mounts.blkio
  if (blkio === undefined) return 'ioWeight needs the cgroup v1 blkio controller, which is not mounted here'
  if (existsSync(join(blkio, 'blkio.weight')) || existsSync(join(blkio, 'blkio.bfq.weight'))) return undefined
  return `ioWeight needs blkio.weight (CFQ) or blkio.bfq.weight (bfq), and ${blkio} has neither: this kernel has no I/O scheduler that weighs cgroups (load bfq, e.g. modprobe bfq, where the kernel has it)`
}

/**
 * Why this machine cannot make a box idle (cpu.idle), or undefined when it can. v1 shows cpu.idle at the root of
 * its cpu hierarchy; v2's root has no cpu.* files of its own, so there the kernel's release tells (5.15 added it).
 */
export function cpuIdleUnsupported(layout: CgroupLayout, kernelRelease = release()): string | undefined {
  const since = 'cpuIdle needs cpu.idle (Linux 5.15 on)'
  if (layout.version === 2) {
    const controllers = readFileSync(join(layout.root, 'cgroup.controllers'), 'utf8').split(/\s+/)
    if (!controllers.includes('cpu')) return `cpuIdle needs the cgroup v2 cpu controller, which ${layout.root} does not offer`
    const [major, minor] = kernelRelease.split(/[.-]/).map(Number)
    return major > 5 || (major === 5 && minor >= 15) ? undefined : `${since}; this kernel is ${kernelRelease}`
  }
  const cpu = layout.mounts.cpu
  if (cpu === undefined) return 'cpuIdle needs the cgroup v1 cpu controller, which is not mounted here'
  return existsSync(join(cpu, 'cpu.idle')) ? undefined : `${since}, and ${cpu} has none: this kernel is ${kernelRelease}`
}

/** cpu.idle into a box's cpu directory (a v1 cpu hierarchy's, or the v2 one), with a clear error where the kernel lacks it. */
export function writeCpuIdle(cpuDir: string, idle: boolean): void {
  const file = join(cpuDir, 'cpu.idle')
  if (!existsSync(file)) throw new CgroupUnavailableError(`cpuIdle needs cpu.idle (Linux 5.15 on), and ${cpuDir} has none`)
  writeFileSync(file, idle ? '1' : '0')
}

/**
 * An I/O weight into a v1 blkio directory. CFQ's blkio.weight is gone from kernels without CFQ (5.0 on); bfq offers
 * blkio.bfq.weight instead. Either only weighs I/O on a device whose scheduler honours it (bfq, or cfq), as
 * docs/experiment-format.md says. Returns whether the file already held the weight (nothing was written).
 */
export function writeV1IoWeight(blkioDir: string, weight: number): boolean {
  const file = [join(blkioDir, 'blkio.weight'), join(blkioDir, 'blkio.bfq.weight')].find((f) => existsSync(f))
  if (!file) throw new CgroupUnavailableError(`ioWeight needs blkio.weight or blkio.bfq.weight, and the cgroup v1 blkio controller here has neither (no CFQ or bfq I/O scheduler in this kernel)`)
  const value = Math.min(1000, Math.max(file.endsWith('bfq.weight') ? 1 : 10, weight))
  // v1 files read the number (bfq's here on 6.18 too); v2's io.bfq.weight reads "default N": either is understood
  const held = /(?:^|default )(\d+)/.exec(readFileSync(file, 'utf8'))?.[1]
  if (held === String(value)) return true
  writeFileSync(file, String(value))
  return false
}

/** The root of the hierarchy a box directory is in: the last ancestor that is a cgroup directory itself. */
function hierarchyRootOf(dir: string): string {
  let at = dir
  while (dirname(at) !== at && existsSync(join(dirname(at), 'cgroup.procs'))) at = dirname(at)
  return at
}

async function killAndRmdir(dir: string): Promise<boolean> {
  for (let attempt = 0; attempt < 40; attempt++) {
    let pids = readPids(dir)
    if (pids.includes(process.pid)) {
      // the toolkit itself, still in its instrument box when a forced exit cleans its run up: it leaves the box
      // rather than SIGKILL itself (v2's cgroup.kill takes every process of the box)
      try {
        writeFileSync(join(hierarchyRootOf(dir), 'cgroup.procs'), String(process.pid))
      } catch { /* then the box cannot be removed this attempt */ }
      pids = readPids(dir)
      if (pids.includes(process.pid)) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
    }
    if (pids.length > 0) {
      // v2 offers an atomic kill of the whole box
      if (existsSync(join(dir, 'cgroup.kill'))) {
        try {
          writeFileSync(join(dir, 'cgroup.kill'), '1')
        } catch { /* fall back to signalling each process */ }
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch { /* already gone */ }
      }
    }
    try {
      if (isCgroupFs(dir)) rmdirSync(dir)
      // a fake cgroupfs (tests) is a plain directory holding interface files the kernel would drop with it
      else rmSync(dir, {recursive: true, force: true})
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** The cgroup a running process lives in, as paths per v1 controller or its v2 directory. */
export function cgroupOfProcess(pid: number, layout: CgroupLayout): Cgroup | undefined {
  const text = readText(`/proc/${pid}/cgroup`)
  if (!text) return undefined
  const lines = text.trim().split('\n').map((l) => l.split(':'))
  if (layout.version === 2) {
    const unified = lines.find((l) => l[0] === '0')
    return unified ? new Cgroup(layout, unified[2].replace(/^\//, '')) : undefined
  }
  const memoryLine = lines.find((l) => l[1].split(',').includes('memory')) ?? lines.find((l) => l[1].split(',').includes('cpu'))
  return memoryLine ? new Cgroup(layout, memoryLine[2].replace(/^\//, '')) : undefined
}
