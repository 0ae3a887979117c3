// Reading a stressor's command line (the inverse of stressorArgv in protocol.ts). The toolkit validates an
// experiment long before it launches anything; this is the stressor's own check, so that a malformed launch
// fails loudly at once instead of burning the wrong amount of something.
import {Fields, UsageError} from './fields.js'
import {isStressorKind, STRESSOR_KIND_NAMES, STRESSOR_KINDS} from './kinds.js'
import type {StressorArgs, StressorKind, StressorParams, StressorParamsByKind} from './protocol.js'

export {UsageError}

// The run id names files (`chaos-<run>-fill`) and shows in `ps`: no path separators, no spaces.
const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/

export function parseStressorArgv(argv: readonly string[]): StressorArgs {
  const [kind, ...rest] = argv
  if (!isStressorKind(kind)) throw new UsageError(`unknown stressor kind ${JSON.stringify(kind)}; expected one of ${STRESSOR_KIND_NAMES.join(', ')}`)
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
  return {kind, runId, deadline, parent, cgroups, params: parseParams(kind, raw)}
}

export function parseParams<K extends StressorKind>(kind: K, raw: unknown): StressorParamsByKind[K]
export function parseParams(kind: StressorKind, raw: unknown): StressorParams {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('--params must be a JSON object')
  return STRESSOR_KINDS[kind].params(new Fields(kind, raw as Record<string, unknown>))
}

function integer(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(value)}`)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number >= ${min}, got ${value}`)
  return n
}
