// A target that is the machine itself: PID 1, the root cgroup, the toolkit's own process (and those that started
// it) and cgroups, the cgroups of the machine's services and users. A fault charged there has no boundary to
// test: it lands on everything. Refused in the plan unless safety.allowSystem says the experiment means it.
import {readFileSync} from 'node:fs'
import {posix} from 'node:path'

import {type CgroupLayout, cgroupOfProcess} from '../../host/cgroupfs.js'

/** systemd's top-level units: the machine's services (system.slice), its init (init.scope), its users (user.slice), VMs and the like */
const SYSTEM_UNIT = /^(-|[\w.@-]+)\.(slice|scope)$/

/** An attached cgroup as a path relative to its hierarchy's root ('' is the root): the mount (and v1's controller directory) stripped, normalised. */
export function attachedCgroupPath(cgroup: string, layout: CgroupLayout | undefined): string {
  let path = posix.normalize(`/${cgroup}`)
  const root = layout?.root ?? '/sys/fs/cgroup'
  if (path === root || path.startsWith(`${root}/`)) {
    path = path.slice(root.length)
    // v1: the hierarchy's own directory (memory, cpu,cpuacct, systemd) comes first
    if (layout?.version !== 2) path = path.replace(/^\/[^/]+/, '')
  }
  return path.replace(/^\/+|\/+$/g, '')
}

/** A process's parent pid, from /proc; undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** The toolkit's pid and its ancestors up to (not including) PID 1. */
export function toolkitLineage(self = process.pid): number[] {
  const lineage: number[] = []
  for (let pid: number | undefined = self; pid !== undefined && pid > 1 && lineage.length < 256; pid = parentOf(pid)) lineage.push(pid)
  return lineage
}

/** Why a cgroup (relative path) is the machine's or the toolkit's, or undefined. */
export function systemCgroup(relative: string, toolkitCgroup: string | undefined): string | undefined {
  if (relative === '') return 'the root cgroup: the fault would be charged to the whole machine'
  const first = relative.split('/')[0]
  if (SYSTEM_UNIT.test(first)) return `the cgroup ${first} of the machine's own services and users (systemd's ${first})`
  if (first.startsWith('chaos-')) return `the cgroup ${first}, a box the toolkit made for one of its runs`
  if (toolkitCgroup !== undefined && (toolkitCgroup === relative || toolkitCgroup.startsWith(`${relative}/`))) {
    return `the toolkit's own cgroup (/${toolkitCgroup}) or one above it: the fault would be charged to the toolkit measuring it`
  }
  return undefined
}

/** Why the target {pid} or {cgroup} is the machine itself, or undefined. */
export function systemTarget(spec: {pid?: number, cgroup?: string}, layout: CgroupLayout | undefined, self = process.pid): string | undefined {
  const toolkitCgroup = layout ? cgroupOfProcess(self, layout)?.relativePath : undefined
  if (spec.pid !== undefined) {
    if (spec.pid === 1) return 'PID 1, the machine\'s init'
    if (spec.pid === self) return `pid ${spec.pid}, the toolkit itself`
    if (toolkitLineage(self).includes(spec.pid)) return `pid ${spec.pid}, a process that started the toolkit (its parent or above)`
    const box = layout ? cgroupOfProcess(spec.pid, layout) : undefined
    const why = box ? systemCgroup(box.relativePath, toolkitCgroup) : undefined
    return why && `pid ${spec.pid}, which lives in ${why}`
  }
  if (spec.cgroup !== undefined) return systemCgroup(attachedCgroupPath(spec.cgroup, layout), toolkitCgroup)
  return undefined
}
