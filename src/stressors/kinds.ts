// The stressor kinds, once: each kind's reader of its --params (the stressor's own check of a launch), the code it
// runs, whether `chaos stress` offers it ad hoc, and how its processes are named. The argument parser, the entry
// point (main.ts), the titles cleanup's sweep and the tests' leftover check look for, and the options of
// `chaos k8s helper` and `chaos stress` all derive from this table; protocol.ts's StressorParamsByKind makes the
// compiler hold the two to the same kinds. A new kind adds its params to protocol.ts, its row here and its module.
import {Fields, UsageError} from './fields.js'
import type {StressorKind, StressorParamsByKind} from './protocol.js'
import type {RunningStressor, StressorContext} from './runtime.js'

interface StressorKindEntry<P> {
  /** reads and checks the --params object */
  params(p: Fields): P
  /** the kind's work; its module is imported only here, inside the stressor process, after it joined its cgroups */
  start(params: P, ctx: StressorContext): Promise<RunningStressor>
  /** `chaos stress KIND` runs it ad hoc (a sink only ever serves an experiment's flood) */
  adhoc: boolean
}

export const STRESSOR_KINDS = {
  cpu: {
    params: (p) => ({workers: p.number('workers', {min: 1, max: 1024, integer: true}), loadPerWorker: p.number('loadPerWorker', {min: 0, max: 1})}),
    start: async (params, ctx) => (await import('./cpu.js')).startCpu(params, ctx),
    adhoc: true,
  },
  memory: {
    params: (p) => ({rate: p.number('rate', {min: 1}), limit: p.number('limit', {min: 1}), hold: p.boolean('hold', true)}),
    start: async (params, ctx) => (await import('./memory.js')).startMemory(params, ctx),
    adhoc: true,
  },
  disk: {
    params: (p) => {
      const dir = p.string('dir')
      if (!dir.startsWith('/')) throw new UsageError(`disk: dir must be an absolute path, got ${JSON.stringify(dir)}`)
      const keepFree = p.optionalNumber('keepFree', {min: 0, max: 1})
      return {
        dir, bytes: p.number('bytes', {min: 0, integer: true}), rate: p.optionalNumber('rate', {min: 1}), mode: p.oneOf('mode', ['write', 'fallocate'] as const, 'write'),
        ...(keepFree === undefined ? {} : {keepFree}),
      }
    },
    start: async (params, ctx) => (await import('./disk.js')).startDisk(params, ctx),
    adhoc: true,
  },
  flood: {
    params: (p) => ({
      host: p.string('host'),
      port: p.number('port', {min: 1, max: 65535, integer: true}),
      protocol: p.oneOf('protocol', ['tcp', 'udp'] as const, 'tcp'),
      rate: p.optionalNumber('rate', {min: 1}),
      connections: p.number('connections', {min: 1, max: 4096, integer: true}),
    }),
    start: async (params) => (await import('./flood.js')).startFlood(params),
    adhoc: true,
  },
  sink: {
    params: (p) => ({host: p.string('host'), port: p.number('port', {min: 0, max: 65535, integer: true}), protocol: p.oneOf('protocol', ['tcp', 'udp'] as const, 'tcp')}),
    start: async (params) => (await import('./sink.js')).startSink(params),
    adhoc: false,
  },
  fork: {
    params: (p) => ({
      count: p.number('count', {min: 1, max: 4_194_304, integer: true}),
      rate: p.optionalNumber('rate', {min: 0.001}),
      kind: p.oneOf('kind', ['processes', 'threads'] as const, 'processes'),
    }),
    start: async (params, ctx) => (await import('./fork.js')).startFork(params, ctx),
    adhoc: true,
  },
  io: {
    params: (p) => {
      const dir = p.string('dir')
      if (!dir.startsWith('/')) throw new UsageError(`io: dir must be an absolute path, got ${JSON.stringify(dir)}`)
      const blockSize = p.number('blockSize', {min: 4096, max: 16 * 1024 ** 2, integer: true})
      if (blockSize % 4096 !== 0) throw new UsageError(`io: blockSize must be a whole number of 4096-byte blocks (O_DIRECT), got ${blockSize}`)
      return {
        dir, blockSize,
        bytes: p.number('bytes', {min: 4096, integer: true}),
        depth: p.number('depth', {min: 1, max: 64, integer: true}),
        rate: p.optionalNumber('rate', {min: 1}),
        readShare: p.optionalNumber('readShare', {min: 0, max: 1}),
      }
    },
    start: async (params, ctx) => (await import('./io.js')).startIo(params, ctx),
    adhoc: true,
  },
} satisfies {readonly [K in StressorKind]: StressorKindEntry<StressorParamsByKind[K]>}

/** Every kind, in the table's order. */
export const STRESSOR_KIND_NAMES = Object.keys(STRESSOR_KINDS) as StressorKind[]

/** The kinds `chaos stress` runs. */
export type AdhocKind = {[K in StressorKind]: (typeof STRESSOR_KINDS)[K]['adhoc'] extends true ? K : never}[StressorKind]
export const ADHOC_KINDS = STRESSOR_KIND_NAMES.filter((kind): kind is AdhocKind => STRESSOR_KINDS[kind].adhoc)

export function isStressorKind(name: string): name is StressorKind {
  return Object.hasOwn(STRESSOR_KINDS, name)
}

/** The process title, as `ps` shows it. */
export function stressorTitle(kind: StressorKind, runId: string): string {
  return `chaos-stressor ${kind} --run ${runId}`
}

// how a stressor process is named: the same words for every kind, so cleanup finds each kind the table has
const KIND = `(${STRESSOR_KIND_NAMES.join('|')})`

/** Matches a stressor's /proc/PID/cmdline (NULs turned to spaces): kind in group 1, run id in group 2. */
export const STRESSOR_TITLE = new RegExp(`^chaos-stressor ${KIND} --run (\\S+)`)

/**
 * Matches a stressor process anywhere in a cmdline, also in the moment before it gives itself its title
 * (`node .../stressors/main.js KIND --run ID`): kind in group 1, run id in group 2. Cleanup's sweep and the tests'
 * leftover check look for this.
 */
export const STRESSOR_PROCESS = new RegExp(`(?:chaos-stressor|stressors/main\\.js) ${KIND} --run (\\S+)`)
