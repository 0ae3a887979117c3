// Abort conditions (safety.abort), checked every interval during injection: harm beyond what the experiment may
// cause stops the fault at once, whatever the verdict would have been.
import {readFileSync} from 'node:fs'

import type {AbortConditionSpec} from '../experiment/schema.js'
import type {WorkflowObserver} from './observe.js'

/** Too few requests in the window say nothing about a rate or a quantile. */
const MIN_REQUESTS = 10

export interface AbortState {
  /** each neighbour's exits and OOM kills when the injection began */
  exitsAtStart: Map<string, number>
  oomAtStart: Map<string, number>
}

export function abortState(neighbors: WorkflowObserver[]): AbortState {
  return {
    exitsAtStart: new Map(neighbors.map((o) => [o.workflow.name, o.workflow.unexpectedExits()])),
    oomAtStart: new Map(neighbors.map((o) => [o.workflow.name, o.samples.at(-1)?.oomKills ?? 0])),
  }
}

/** The first condition that holds, described for the journal, or undefined. */
export function firedCondition(conditions: AbortConditionSpec[], neighbors: WorkflowObserver[], state: AbortState, now = Date.now()): string | undefined {
  for (const condition of conditions) {
    if (condition.signal === 'host_memory_available') {
      const available = hostMemoryAvailable()
      if (available !== undefined && crosses(available, condition)) return describe(condition, 'host', available)
      continue
    }
    for (const observer of neighbors) {
      const name = observer.workflow.name
      if (condition.neighbor !== undefined && condition.neighbor !== name) continue
      const value = currentValue(condition, observer, state, now)
      if (value !== undefined && crosses(value, condition)) return describe(condition, name, value)
    }
  }
  return undefined
}

function currentValue(condition: AbortConditionSpec, observer: WorkflowObserver, state: AbortState, now: number): number | undefined {
  const name = observer.workflow.name
  switch (condition.signal) {
    case 'restarts': return observer.workflow.unexpectedExits() - (state.exitsAtStart.get(name) ?? 0)
    case 'oom_kills': return (observer.samples.at(-1)?.oomKills ?? 0) - (state.oomAtStart.get(name) ?? 0)
    default: {
      const records = observer.probe?.records(now - condition.window, now) ?? []
      if (records.length < MIN_REQUESTS) return undefined
      if (condition.signal === 'error_rate') return records.filter((r) => !r.ok).length / records.length
      const latencies = records.filter((r) => r.ok).map((r) => r.latencySeconds).sort((a, b) => a - b)
      if (latencies.length < MIN_REQUESTS) return undefined
      const q = condition.signal === 'latency_p50' ? 0.5 : condition.signal === 'latency_p95' ? 0.95 : 0.99
      return latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
    }
  }
}

function crosses(value: number, condition: AbortConditionSpec): boolean {
  return condition.above !== undefined ? value > condition.above : value < condition.below!
}

function describe(condition: AbortConditionSpec, who: string, value: number): string {
  const bound = condition.above !== undefined ? `above ${format(condition.signal, condition.above)}` : `below ${format(condition.signal, condition.below!)}`
  return `abort condition fired: ${who} ${condition.signal} was ${format(condition.signal, value)}, ${bound}${condition.signal.startsWith('latency') || condition.signal === 'error_rate' ? ` over the last ${condition.window / 1000}s` : ''}`
}

function format(signal: AbortConditionSpec['signal'], value: number): string {
  if (signal === 'error_rate' || signal === 'host_memory_available') return `${(value * 100).toFixed(1)}%`
  if (signal.startsWith('latency')) return `${(value * 1000).toFixed(1)}ms`
  return String(value)
}

/** MemAvailable / MemTotal, the kernel's own estimate of what can be had without swapping. */
export function hostMemoryAvailable(): number | undefined {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8')
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1])
    const ratio = field('MemAvailable') / field('MemTotal')
    return Number.isFinite(ratio) ? ratio : undefined
  } catch {
    return undefined
  }
}
