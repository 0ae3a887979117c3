// The measuring instrument's own box on this machine. The toolkit's probe runs where the CLI runs; its latency runs
// from a request's scheduled send to the last byte read back, so a probe that waits behind the fault charges that
// wait to the neighbour. Every platform whose fault shares this machine's kernel with the probe (process, docker,
// and host when a host is this machine) boxes the toolkit the same way, from here.
import {onlineCpus} from '../host/cpus.js'
import {Cgroup, type CgroupLayout} from '../host/cgroupfs.js'

/** The CPUs a run's workloads are pinned to: the target's (and whether its box is idle) and its neighbours'. */
export interface PinnedWorkloads {
  target: number[]
  /** the target's box is cpu.idle: anything else that wakes on its core preempts it at once */
  targetIdle?: boolean
  neighbours: number[]
}

/** Where the instrument runs: on these CPUs (absent: any), off those it avoids; idleTarget: the idle target's CPUs it may share. */
export interface InstrumentPlace {
  cpus?: string
  avoided: string
  idleTarget?: string
}

/**
 * The CPUs the instrument keeps to: this machine's, less those a neighbour is pinned to, and less those the
 * target's boundary pins it to unless the target's box is idle. A neighbour's pinned core is its boundary, and an
 * instrument kept there competes with it for that core alone: on cpu-hog (hog on core 1, API on core 0) under
 * stress-ng, the probe kept to core 0 read the API's p95 +46% and +54%, where free it read -9% to +39%. A probe
 * woken on a busy target's core waits there behind the fault's own work, and that wait is charged to the neighbour
 * (the main job before its leak's box was idle: +8% to +15% free, -1% to +9% kept off, 6 runs each). An idle
 * target's core is the opposite: the probe preempts the target there at once, and it is the core least likely to
 * be busy. Kept off it, the probe queued on the other core behind the load the rest of the machine put there: the
 * main job under stress-ng, interleaved, read the API's p95 +15% to +27% (0 of 4 decided) with the probe kept to
 * core 0 and +0.4% to +6.8% (4 of 4 contained) with it free; the probe's own run-queue wait in fault-on blocks
 * rose +51% to +132% above fault-off kept, +14% to +29% free. When no CPU is left, the instrument stays free, and its weight
 * keeps a userland hog from starving it. Undefined: the target is not pinned, so there is no core of its own to
 * keep off.
 */
export function instrumentPlace(pinned: PinnedWorkloads, online = onlineCpus()): InstrumentPlace | undefined {
  if (pinned.target.length === 0) return undefined
  const avoid = new Set([...pinned.targetIdle ? [] : pinned.target, ...pinned.neighbours])
  const rest = online.filter((cpu) => !avoid.has(cpu))
  const listed = (cpus: Iterable<number>) => [...new Set(cpus)].sort((a, b) => a - b).join(',')
  return {
    cpus: avoid.size > 0 && rest.length > 0 ? rest.join(',') : undefined,
    avoided: listed(avoid),
    ...pinned.targetIdle ? {idleTarget: listed(pinned.target)} : {},
  }
}

/** The plan's words for where the instrument runs. */
export function describeInstrumentPlace(place: InstrumentPlace | undefined): string {
  const idle = place?.idleTarget ? `; it may share ${place.idleTarget} with the target, whose box is idle there` : ''
  const where = !place ? ''
    : place.cpus ? `, on CPU ${place.cpus}, off ${place.avoided} where ${place.idleTarget ? 'a neighbour' : 'the target or a neighbour'} is pinned${idle}`
    : place.avoided === '' ? `, on any CPU${idle}`
    : `, on any CPU: the target and its neighbours are pinned to all of them (${place.avoided})`
  return `the toolkit's probe runs in a box of its own with a high CPU weight${where}`
}

/**
 * The toolkit gets a box of its own under the run's cgroup (which the caller made and put in the ledger), with a
 * high CPU weight, so a hog it injected cannot make the instrument the victim, kept to the place's CPUs. Its
 * children (the probe) inherit it.
 */
export function boxInstrument(layout: CgroupLayout, runId: string, place: InstrumentPlace | undefined): Cgroup {
  const box = new Cgroup(layout, `chaos-${runId}/toolkit`)
  box.create()
  box.applyLimits({cpuWeight: 1000, ...(place?.cpus ? {cpuset: place.cpus} : {})})
  box.addProcess(process.pid)
  return box
}

/**
 * The instrument leaves its box before the run's cgroup is removed, and so does every process still in it: the
 * toolkit's children inherited the box (its probe; whatever the program that embeds the runner started meanwhile,
 * such as a test restarting dockerd). None of them is a resource of the run, and removing the box would SIGKILL
 * them. Stressors are never here: each is moved to its target's box the moment it is spawned.
 */
export function unboxInstrument(layout: CgroupLayout, box: Cgroup): void {
  Cgroup.moveToRoot(layout, process.pid)
  for (const pid of box.pids()) {
    try {
      Cgroup.moveToRoot(layout, pid)
    } catch { /* it ended meanwhile */ }
  }
}
