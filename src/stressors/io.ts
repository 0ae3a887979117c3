// Disk I/O saturation: direct writes, `depth` of them in flight, over one file `DIR/chaos-<run>-io` of `bytes`
// (created exclusively: never someone else's file; removed when the stressor exits), from start to end and round
// again, until the stressor is stopped. Unbounded, or paced to `rate` bytes a second.
//
// O_DIRECT or nothing: a buffered write lands in the page cache, is charged to the target's memory, and is written
// back later by the kernel's flusher threads, which cgroup v1 charges to the root, not to the target's box. Its
// dose would then be neither in the target's I/O accounting nor bounded by its throttle, and the experiment would
// measure the page cache. A filesystem that refuses O_DIRECT is refused here, with that reason.
//
// Several writes in flight are what make a disk's queue deep, which is how one writer starves another's fsync:
// each is an fs.write on libuv's thread pool, which this process sizes to `depth` before its first use.
import {constants, write} from 'node:fs'

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
  const {file, fd} = createOwnFile(params.dir, named, ctx, constants.O_DIRECT, (error) => error.code === 'EINVAL'
    ? `${params.dir} does not take direct I/O (O_DIRECT: EINVAL), and buffered writes would measure the page cache and, on cgroup v1, be written back on the root's account: refused`
    : undefined)

  const state = {bytes: 0, ops: 0, full: false, inFlight: 0, offset: 0}
  const buffer = alignedBuffer(params.blockSize, 0xa5)
  // a file shorter than one block is still one block
  const blocks = Math.max(1, Math.floor(params.bytes / params.blockSize))
  const bucket = params.rate === undefined ? undefined : new TokenBucket(params.rate, Math.max(params.blockSize, params.rate / 10), performance.now())
  let waiting: NodeJS.Timeout | undefined
  let failed = false

  const issue = (): void => {
    while (!failed && !state.full && state.inFlight < params.depth) {
      if (bucket) {
        const wait = bucket.take(params.blockSize, performance.now())
        if (wait > 0) {
          if (!waiting) waiting = setTimeout(() => { waiting = undefined; issue() }, Math.max(1, Math.ceil(wait)))
          return
        }
      }
      const position = state.offset * params.blockSize
      state.offset = (state.offset + 1) % blocks
      state.inFlight++
      write(fd, buffer, 0, params.blockSize, position, (error, written) => {
        state.inFlight--
        if (error) {
          if (isFull(error)) {
            // the filesystem is full: what was written stays, the file is as large as it gets
            state.full = true
            return
          }
          failed = true
          ctx.finish('error', `writing ${named}: ${errorMessage(error)}`)
          return
        }
        state.bytes += written
        state.ops++
        issue()
      })
    }
  }
  setImmediate(issue)
  return {figures: () => ({bytes: state.bytes, ops: state.ops, full: state.full})}
}
