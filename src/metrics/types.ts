// Types shared by the metrics layer and its consumers (platforms, the run loop, the verdict engine).

// where a workflow's resource accounting lives is the host layer's word (host/cgroupfs.ts)
export type {CgroupPaths} from '../host/cgroupfs.js'

/** One reading of a workflow's resource counters. Fields the source does not offer are undefined. */
export interface ResourceSample {
  /** epoch milliseconds of the reading */
  t: number
  /** cumulative CPU time, user + system */
  cpuSeconds?: number
  /** CFS bandwidth periods in which the group was throttled (cumulative) */
  throttledPeriods?: number
  /** CFS bandwidth periods elapsed (cumulative) */
  periods?: number
  /** total time throttled (cumulative) */
  throttledSeconds?: number
  /** current memory charged to the group, or the process's RSS */
  memoryBytes?: number
  /** highest memoryBytes seen (cgroup high-water mark or VmHWM) */
  memoryPeakBytes?: number
  /** processes in the group killed by the OOM killer (cumulative) */
  oomKills?: number
  /** times one of the workflow's pods went from Ready to not Ready (cumulative; platform kubernetes) */
  unready?: number
  /** tasks (processes and threads) in the group now: pids.current */
  tasks?: number
  /** the group's task limit, pids.max; undefined when it has none ("max") */
  tasksLimit?: number
  /** forks and clones the group's pids limit refused (cumulative): the max counter of pids.events */
  tasksRefused?: number
  /** disk I/O the group did, per whole disk ("major:minor"), cumulative (v1: only on disks where it has a throttle rule) */
  io?: Record<string, IoCounters>
  /** pressure stall information: the `some` line's total, in microseconds (cumulative) */
  psi?: {cpu?: number, memory?: number, io?: number}
}

/** Bytes and operations a group did on one disk, cumulative. */
export interface IoCounters {
  readBytes: number
  writeBytes: number
  reads: number
  writes: number
}
