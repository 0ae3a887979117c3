// CPUs a workflow may use, from its box's limits: the basis of limit-relative CPU doses.
import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'

import type {Allowance} from '../platform.js'
import type {CgroupLimits} from './cgroupfs.js'

export function onlineCpus(): number[] {
  try {
    return expandCpuset(readFileSync('/sys/devices/system/cpu/online', 'utf8').trim())
  } catch {
    return Array.from({length: availableParallelism()}, (_, i) => i)
  }
}

export function expandCpuset(list: string): number[] {
  return list.split(',').filter(Boolean).flatMap((part) => {
    const [a, b] = part.split('-').map(Number)
    return b === undefined ? [a] : Array.from({length: b - a + 1}, (_, i) => a + i)
  })
}

export function allowanceOf(limits: CgroupLimits | undefined): Allowance {
  const host = onlineCpus().length
  if (limits?.cpus !== undefined) return {cpus: Math.min(limits.cpus, limits.cpuset ? expandCpuset(limits.cpuset).length : host), cpuSource: 'quota', memoryLimit: limits.memory}
  if (limits?.cpuset !== undefined) return {cpus: expandCpuset(limits.cpuset).length, cpuSource: 'cpuset', memoryLimit: limits.memory}
  return {cpus: host, cpuSource: 'host', memoryLimit: limits?.memory}
}
