// CPUs a workflow may use, from its box's limits: the basis of limit-relative CPU doses.
import {readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'

import type {IsolationSpec} from '../experiment/schema.js'
import {type CgroupLimits, MAX_CPU_WEIGHT} from './cgroupfs.js'

/** What a workflow may use: the basis of a limit-relative dose. Every platform's workflows answer with one. */
export interface Allowance {
  /** cores the workflow may use: its quota, else its cpuset's size, else the host's cores (Infinity: unknown, no limit) */
  cpus: number
  /** where the allowance comes from, for the plan; unlimited: a pod without a CPU limit, on a node not known here */
  cpuSource: 'quota' | 'cpuset' | 'host' | 'unlimited'
  /** for unlimited: why, for a refusal of a limit-relative dose */
  unlimitedWhy?: string
  /** memory limit of its box, if any */
  memoryLimit?: number
}

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

/**
 * A shared box's limits when the experiment states none: the sum of its members' limits, like a pod's (a limit
 * only when every member has one), and the union of their cpusets.
 */
export function summedLimits(members: readonly IsolationSpec[]): CgroupLimits {
  const sum = (pick: (i: IsolationSpec) => number | undefined) => {
    const values = members.map(pick).filter((v): v is number => v !== undefined)
    return values.length === members.length && values.length > 0 ? values.reduce((a, b) => a + b, 0) : undefined
  }
  const cpusets = members.map((m) => m.cpuset).filter((c): c is string => c !== undefined)
  return {
    memory: sum((i) => i.memory),
    cpus: sum((i) => i.cpus),
    cpuset: cpusets.length === members.length && cpusets.length > 0 ? [...new Set(cpusets.flatMap(expandCpuset))].sort((a, b) => a - b).join(',') : undefined,
    pids: sum((i) => i.pids),
    // a pod's cpu.shares is the sum of its containers' requests: the box weighs what its members would together
    cpuWeight: ((w) => (w === undefined ? undefined : Math.min(MAX_CPU_WEIGHT, w)))(sum((i) => i.cpuWeight)),
    // idle only when every member is: one member that is not would be starved by the others' idleness
    cpuIdle: members.length > 0 && members.every((m) => m.cpuIdle) ? true : undefined,
  }
}
