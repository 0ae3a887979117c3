// The measuring instrument's own box on this machine. The toolkit's probe runs where the CLI runs; its latency runs
// from a request's scheduled send to the last byte read back, so a probe that waits behind the fault charges that
// wait to the neighbour. Every platform whose fault shares this machine's kernel with the probe (process, docker,
// and host when a host is this machine) boxes the toolkit the same way, from here.
import {onlineCpus} from '../host/cpus.js'
import {Cgroup, type CgroupLayout} from '../host/cgroupfs.js'

/** Where the instrument runs: on these CPUs (absent: any), off those the workloads are pinned to. */
export interface InstrumentPlace {
  cpus?: string
  avoided: string
}

/**
 * The CPUs the instrument keeps to: this machine's, less those the target's boundary pins it to, and less those a
 * neighbour is pinned to. A probe woken on the target's core waits there behind the fault's own work (a leak's page
 * faults and OOM teardown in the kernel), and that wait is charged to the neighbour. Measured on the main job (2
 * cores, the leak pinned to core 1, the API free): the API's p95 read +8% to +15% with the probe free to run on core
 * 1, -1% to +9% kept to core 0 (6 runs each, interleaved). A neighbour's pinned core is its boundary, and an
 * instrument kept there competes with it for that core alone: on cpu-hog (hog on core 1, API on core 0) under
 * stress-ng, the probe kept to core 0 read the API's p95 +46% and +54%, where free it read -9% to +39%. When no CPU
 * is left, the instrument stays free, and its weight keeps a userland hog from starving it. Undefined: the target is
 * not pinned, so there is no core of its own to keep off.
 */
export function instrumentPlace(targetPinned: readonly number[], neighboursPinned: readonly number[], online = onlineCpus()): InstrumentPlace | undefined {
  if (targetPinned.length === 0) return undefined
  const taken = new Set([...targetPinned, ...neighboursPinned])
  const rest = online.filter((cpu) => !taken.has(cpu))
  return {cpus: rest.length > 0 ? rest.join(',') : undefined, avoided: [...taken].sort((a, b) => a - b).join(',')}
}

/** The plan's words for where the instrument runs. */
export function describeInstrumentPlace(place: InstrumentPlace | undefined): string {
  const where = !place ? '' : place.cpus
    ? `, on CPU ${place.cpus}, off ${place.avoided} where the target or a neighbour is pinned`
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
