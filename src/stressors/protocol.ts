// The contract between the toolkit and its stressor processes. A stressor is a child process of the toolkit
// (`node dist/stressors/main.js KIND --run ID ...`) so that it can be charged to the target's own cgroup and
// network namespace. It reports on stdout as JSON lines and dies by itself: at its deadline, when the toolkit
// that started it is gone (even after SIGKILL), or when its stdin closes.

export interface MemoryParams {
  /** bytes per second the leak grows */
  rate: number
  /** bytes at which it stops growing */
  limit: number
  /** keep the memory until stopped (true) or free it at the limit (false) */
  hold: boolean
}

export interface CpuParams {
  /** busy threads */
  workers: number
  /** CPU share each worker burns, 0..1 of one core */
  loadPerWorker: number
}

export interface DiskParams {
  /** directory to write into; the stressor creates `chaos-<run>-fill` there and removes it when it exits */
  dir: string
  /** bytes to write */
  bytes: number
  /** bytes per second, or undefined for as fast as possible */
  rate?: number
  mode: 'write' | 'fallocate'
  /**
   * fraction of the filesystem that must stay free: checked by the stressor itself before it writes (where the
   * toolkit cannot see the filesystem, as inside a pod); more than that leaves is refused
   */
  keepFree?: number
}

export interface FloodParams {
  host: string
  port: number
  protocol: 'tcp' | 'udp'
  /** bits per second over all connections, or undefined for unbounded */
  rate?: number
  connections: number
}

export interface SinkParams {
  host: string
  /** 0 picks a free port; the chosen one is reported in the ready message */
  port: number
  protocol: 'tcp' | 'udp'
}

export interface ForkParams {
  /** processes (or threads) to create and hold */
  count: number
  /** created per second, or undefined for as fast as possible */
  rate?: number
  kind: 'processes' | 'threads'
}

export interface IoParams {
  /** directory of the working file; the stressor creates `chaos-<run>-io` there and removes it when it exits */
  dir: string
  /** size of the working file, written over and over */
  bytes: number
  /** bytes per write, a whole number of 4 KiB blocks (O_DIRECT) */
  blockSize: number
  /** writes in flight at once */
  depth: number
  /** bytes per second, or undefined for as fast as the disk takes them */
  rate?: number
  /** share of operations that are reads (0..1), once the file has been written through; default 0 */
  readShare?: number
}

/** Each kind's parameters. The kinds themselves, with how each is read and run, are the table in kinds.ts. */
export interface StressorParamsByKind {
  cpu: CpuParams
  memory: MemoryParams
  disk: DiskParams
  flood: FloodParams
  sink: SinkParams
  fork: ForkParams
  io: IoParams
}

export type StressorKind = keyof StressorParamsByKind
export type StressorParams = StressorParamsByKind[StressorKind]

export interface StressorArgs {
  kind: StressorKind
  runId: string
  /** epoch milliseconds after which the stressor exits on its own */
  deadline: number
  /** pid of the toolkit process; the stressor exits when it is gone */
  parent: number
  /** cgroup directories (one per v1 hierarchy, or one v2 directory) the stressor moves itself into before working */
  cgroups: string[]
  params: StressorParams
}

/** Messages a stressor writes to stdout, one JSON object per line. */
export type StressorMessage =
  | {type: 'ready', pid: number, port?: number}
  /** cumulative figures since the start, at least every 250 ms */
  | {type: 'progress', t: number, bytes?: number, ops?: number, readBytes?: number, cpuSeconds?: number, rssBytes?: number, full?: boolean, tasks?: number, refused?: number}
  | {type: 'error', message: string}
  | {type: 'exit', reason: 'deadline' | 'parent-gone' | 'stdin-closed' | 'signal' | 'done' | 'error', t: number}

/** Command-line arguments for a stressor, in the order main.ts reads them. */
export function stressorArgv(args: StressorArgs): string[] {
  return [
    args.kind,
    '--run', args.runId,
    '--deadline', String(args.deadline),
    '--parent', String(args.parent),
    ...args.cgroups.flatMap((c) => ['--cgroup', c]),
    '--params', JSON.stringify(args.params),
  ]
}
