// A container's cgroups as this machine sees them, found from its main process (/proc/PID/cgroup). Works for
// cgroup v1 (one path per hierarchy; the cgroupfs driver puts a container at /docker/ID or PARENT/ID, the
// systemd driver at /system.slice/docker-ID.scope) and cgroup v2 (one unified path), whatever the driver.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {CgroupLayout, V1Controller} from '../../host/cgroupfs.js'
import type {CgroupPaths} from '../../metrics/types.js'

export interface ContainerCgroup {
  /** the directories a process must join to be charged to the container: one per v1 hierarchy, or the v2 one */
  dirs: string[]
  /** where its accounting is read */
  paths: CgroupPaths
  /** the path as /proc shows it (the memory hierarchy's on v1) */
  path: string
}

/** Parses the text of /proc/PID/cgroup against the layout; undefined when nothing matches. */
export function parseProcCgroup(text: string, layout: CgroupLayout): ContainerCgroup | undefined {
  const lines = text.trim().split('\n').filter(Boolean).map((line) => {
    const first = line.indexOf(':')
    const second = line.indexOf(':', first + 1)
    return {id: line.slice(0, first), controllers: line.slice(first + 1, second).split(',').filter(Boolean), path: line.slice(second + 1)}
  })
  if (layout.version === 2) {
    const unified = lines.find((l) => l.id === '0' && l.controllers.length === 0)
    if (!unified) return undefined
    const dir = join(layout.root, unified.path)
    return {dirs: [dir], paths: {version: 2, dir}, path: unified.path}
  }
  const at: Partial<Record<V1Controller, string>> = {}
  for (const line of lines) {
    for (const controller of line.controllers) {
      const mount = layout.mounts[controller as V1Controller]
      if (mount) at[controller as V1Controller] = join(mount, line.path)
    }
  }
  if (at.memory === undefined && at.cpu === undefined) return undefined
  const dirs = [...new Set(Object.values(at))]
  const path = lines.find((l) => l.controllers.includes('memory'))?.path ?? lines.find((l) => l.controllers.includes('cpu'))!.path
  return {dirs, paths: {version: 1, ...at}, path}
}

export function containerCgroup(pid: number, layout: CgroupLayout): ContainerCgroup | undefined {
  try {
    return parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), layout)
  } catch {
    return undefined
  }
}
