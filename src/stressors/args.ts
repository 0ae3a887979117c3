// Reading a stressor's command line (the inverse of stressorArgv in protocol.ts). The toolkit validates an
// experiment long before it launches anything; this is the stressor's own check, so that a malformed launch
// fails loudly at once instead of burning the wrong amount of something.
import type {
  CpuParams, DiskParams, FloodParams, MemoryParams, SinkParams, StressorArgs, StressorKind, StressorParams,
} from './protocol.js'

export class UsageError extends Error {}

const KINDS: readonly StressorKind[] = ['memory', 'cpu', 'disk', 'flood', 'sink']

// The run id names files (`chaos-<run>-fill`) and shows in `ps`: no path separators, no spaces.
const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/

export function parseStressorArgv(argv: readonly string[]): StressorArgs {
  const [kind, ...rest] = argv
  if (!KINDS.includes(kind as StressorKind)) throw new UsageError(`unknown stressor kind ${JSON.stringify(kind)}; expected one of ${KINDS.join(', ')}`)
  let runId: string | undefined
  let deadline: number | undefined
  let parent: number | undefined
  let paramsText: string | undefined
  const cgroups: string[] = []
  for (let i = 0; i < rest.length; i += 2) {
    const flag = rest[i]
    const value = rest[i + 1]
    if (value === undefined) throw new UsageError(`${flag} needs a value`)
    switch (flag) {
      case '--run': runId = value; break
      case '--deadline': deadline = integer(flag, value, 0); break
      case '--parent': parent = integer(flag, value, 1); break
      case '--cgroup':
        if (!value.startsWith('/')) throw new UsageError(`--cgroup must be an absolute directory, got ${JSON.stringify(value)}`)
        cgroups.push(value)
        break
      case '--params': paramsText = value; break
      default: throw new UsageError(`unknown option ${JSON.stringify(flag)}`)
    }
  }
  if (runId === undefined) throw new UsageError('--run is required')
  if (!RUN_ID.test(runId)) throw new UsageError(`--run must be 1-64 of [A-Za-z0-9._-], got ${JSON.stringify(runId)}`)
  if (deadline === undefined) throw new UsageError('--deadline is required')
  if (parent === undefined) throw new UsageError('--parent is required')
  if (paramsText === undefined) throw new UsageError('--params is required')
  let raw: unknown
  try {
    raw = JSON.parse(paramsText)
  } catch {
    throw new UsageError(`--params is not JSON: ${paramsText}`)
  }
  return {kind: kind as StressorKind, runId, deadline, parent, cgroups, params: parseParams(kind as StressorKind, raw)}
}

export function parseParams(kind: 'memory', raw: unknown): MemoryParams
export function parseParams(kind: 'cpu', raw: unknown): CpuParams
export function parseParams(kind: 'disk', raw: unknown): DiskParams
export function parseParams(kind: 'flood', raw: unknown): FloodParams
export function parseParams(kind: 'sink', raw: unknown): SinkParams
export function parseParams(kind: StressorKind, raw: unknown): StressorParams
export function parseParams(kind: StressorKind, raw: unknown): StressorParams {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('--params must be a JSON object')
  const p = new Fields(kind, raw as Record<string, unknown>)
  switch (kind) {
    case 'memory':
      return {rate: p.number('rate', {min: 1}), limit: p.number('limit', {min: 1}), hold: p.boolean('hold', true)}
    case 'cpu':
      return {workers: p.number('workers', {min: 1, max: 1024, integer: true}), loadPerWorker: p.number('loadPerWorker', {min: 0, max: 1})}
    case 'disk': {
      const dir = p.string('dir')
      if (!dir.startsWith('/')) throw new UsageError(`disk: dir must be an absolute path, got ${JSON.stringify(dir)}`)
      const keepFree = p.optionalNumber('keepFree', {min: 0, max: 1})
      return {
        dir, bytes: p.number('bytes', {min: 0, integer: true}), rate: p.optionalNumber('rate', {min: 1}), mode: p.oneOf('mode', ['write', 'fallocate'] as const, 'write'),
        ...(keepFree === undefined ? {} : {keepFree}),
      }
    }
    case 'flood':
      return {
        host: p.string('host'),
        port: p.number('port', {min: 1, max: 65535, integer: true}),
        protocol: p.oneOf('protocol', ['tcp', 'udp'] as const, 'tcp'),
        rate: p.optionalNumber('rate', {min: 1}),
        connections: p.number('connections', {min: 1, max: 4096, integer: true}),
      }
    case 'sink':
      return {host: p.string('host'), port: p.number('port', {min: 0, max: 65535, integer: true}), protocol: p.oneOf('protocol', ['tcp', 'udp'] as const, 'tcp')}
  }
}

function integer(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(value)}`)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number >= ${min}, got ${value}`)
  return n
}

interface Bounds {min?: number, max?: number, integer?: boolean}

class Fields {
  constructor(private readonly kind: StressorKind, private readonly raw: Record<string, unknown>) {}

  number(name: string, bounds: Bounds): number {
    const value = this.optionalNumber(name, bounds)
    if (value === undefined) throw new UsageError(`${this.kind}: ${name} is required`)
    return value
  }

  optionalNumber(name: string, {min = -Infinity, max = Infinity, integer = false}: Bounds): number | undefined {
    const value = this.raw[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new UsageError(`${this.kind}: ${name} must be a number, got ${JSON.stringify(value)}`)
    if (integer && !Number.isInteger(value)) throw new UsageError(`${this.kind}: ${name} must be a whole number, got ${value}`)
    if (value < min || value > max) throw new UsageError(`${this.kind}: ${name} must be within [${min}, ${max}], got ${value}`)
    return value
  }

  string(name: string): string {
    const value = this.raw[name]
    if (typeof value !== 'string' || value === '') throw new UsageError(`${this.kind}: ${name} must be a non-empty string`)
    return value
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw[name]
    if (value === undefined) return fallback
    if (typeof value !== 'boolean') throw new UsageError(`${this.kind}: ${name} must be true or false`)
    return value
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw[name]
    if (value === undefined) return fallback
    if (!allowed.includes(value as T)) throw new UsageError(`${this.kind}: ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
    return value as T
  }
}
