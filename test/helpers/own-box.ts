// Where a process sits in this machine's v1 cgroups, read mid-run: the instrument's own box, a workflow's box.
import {existsSync, readFileSync} from 'node:fs'

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

/** A box's CPU weight on v2's scale (1-10000), read from cpu.weight (v2) or cpu.shares (v1, weight x 10.24). */
export function boxCpuWeight(box: string): number {
  const v2 = `/sys/fs/cgroup${box}/cpu.weight`
  if (existsSync(v2)) return Number(readFileSync(v2, 'utf8'))
  return Math.round(Number(readFileSync(`/sys/fs/cgroup/cpu${box}/cpu.shares`, 'utf8')) / 10.24)
}
