// Where a process sits in this machine's v1 cgroups, read mid-run: the instrument's own box, a workflow's box.
import {readFileSync} from 'node:fs'

/** A process's cgroup in one v1 hierarchy, or undefined once it has gone. */
export function cgroupLine(pid: number, controller: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller))?.split(':')[2]
  } catch {
    return undefined
  }
}

/** The CPUs of this process's (the toolkit's) cpuset box, read mid-run. */
export function ownCpuset(): string {
  const box = cgroupLine(process.pid, 'cpuset')
  return box ? readFileSync(`/sys/fs/cgroup/cpuset${box}/cpuset.cpus`, 'utf8').trim() : 'no cpuset box'
}

/** A box's cpu.shares in the v1 cpu hierarchy, read mid-run. */
export function boxCpuShares(box: string): number {
  return Number(readFileSync(`/sys/fs/cgroup/cpu${box}/cpu.shares`, 'utf8'))
}
