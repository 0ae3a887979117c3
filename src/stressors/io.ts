// Disk I/O saturation: direct writes, `depth` of them in flight, over one file `DIR/chaos-<run>-io` of `bytes`
// (created exclusively: never someone else's file; removed when the stressor exits), from start to end and round
// again, until the stressor is stopped. Unbounded, or paced to `rate` bytes a second. With `readShare`, that share of
// the operations are direct reads of the file (once it has been written through), the read/write mix of a database
// or a build cache rather than a pure writer; reads and writes share the depth and the rate.
//
// O_DIRECT or nothing: a buffered write lands in the page cache, is charged to the target's memory, and is written
// back later by the kernel's flusher threads, which cgroup v1 charges to the root, not to the target's box. Its
// dose would then be neither in the target's I/O accounting nor bounded by its throttle, and the experiment would
// measure the page cache. A filesystem that refuses O_DIRECT is refused here, with that reason.
//
// Several writes in flight are what make a disk's queue deep, which is how one writer starves another's fsync:
// each is an fs.write on libuv's thread pool, which this process sizes to `depth` before its first use.
import {constants, read, write} from 'node:fs'

import {ioFileName} from './names.js'
import {alignedBuffer, createOwnFile} from './own-file.js'
import type {IoParams} from './protocol.js'
import {errorMessage, StressorError, type RunningStressor, type StressorContext} from './runtime.js'
import {TokenBucket} from './token-bucket.js'

function isFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export function startIo(params: IoParams, ctx: StressorContext): RunningStressor {
  // before the pool's first use, which creates it: one thread per write in flight (libuv's default is 4)
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, params.depth))
  const named = ioFileName(params.dir, ctx.runId)
  const {file, fd} = createOwnFile(params.dir, named, ctx, constants.O_RDWR | constants.O_DIRECT, (error) => error.code === 'EINVAL'
    ? `${params.dir} does not take direct I/O (O_DIRECT: EINVAL), and buffered writes would measure the page cache and, on cgroup v1, be written back on the root's account: refused`
    : undefined)

  const state = {bytes: 0, readBytes: 0, ops: 0, writes: 0, full: false, inFlight: 0, offset: 0, readOffset: 0, mixed: 0}
  const buffer = alignedBuffer(params.blockSize, 0xa5)
  const readShare = params.readShare ?? 0
  const readInto = readShare > 0 ? alignedBuffer(params.blockSize, 0) : buffer
  // a file shorter than one block is still one block
  const blocks = Math.max(1, Math.floor(params.bytes / params.blockSize))
  const bucket = params.rate === undefined ? undefined : new TokenBucket(params.rate, Math.max(params.blockSize, params.rate / 10), performance.now())
  let waiting: NodeJS.Timeout | undefined
  let failed = false

  /**
   * Whether the next operation reads. Only once every block has been written (a hole reads as zeros without touching
   * the disk); after that exactly `readShare` of the operations, spread evenly (the n-th is a read when
   * floor((n+1)·share) passes an integer), so the mix holds over any stretch, not only on average.
   */
  const nextIsRead = (): boolean => {
    if (readShare === 0 || state.writes < blocks) return false
    const n = state.mixed++
    return Math.floor((n + 1) * readShare) > Math.floor(n * readShare)
  }

  const done = (kind: 'read' | 'write') => (error: NodeJS.ErrnoException | null, bytes: number): void => {
    state.inFlight--
    if (error) {
      if (kind === 'write' && isFull(error)) {
        // the filesystem is full: what was written stays, the file is as large as it gets
        state.full = true
        return
      }
      failed = true
      ctx.finish('error', `${kind === 'read' ? 'reading' : 'writing'} ${named}: ${errorMessage(error)}`)
      return
    }
    state.bytes += bytes
    state.ops++
    if (kind === 'read') state.readBytes += bytes
    else state.writes++
    issue()
  }

  const issue = (): void => {
    while (!failed && !state.full && state.inFlight < params.depth) {
      if (bucket) {
        const wait = bucket.take(params.blockSize, performance.now())
        if (wait > 0) {
          if (!waiting) waiting = setTimeout(() => { waiting = undefined; issue() }, Math.max(1, Math.ceil(wait)))
          return
        }
      }
      state.inFlight++
      if (nextIsRead()) {
        const position = state.readOffset * params.blockSize
        state.readOffset = (state.readOffset + 1) % blocks
        read(fd, readInto, 0, params.blockSize, position, done('read'))
      } else {
        const position = state.offset * params.blockSize
        state.offset = (state.offset + 1) % blocks
        write(fd, buffer, 0, params.blockSize, position, done('write'))
      }
    }
  }
  setImmediate(issue)
  return {figures: () => ({bytes: state.bytes, ops: state.ops, full: state.full, ...(readShare > 0 ? {readBytes: state.readBytes} : {})})}
}
