// Disk fill: creates `DIR/chaos-<run>-fill` (exclusively: never someone else's file), fills it with `bytes`,
// then holds it until the stressor ends, when it is deleted. ENOSPC/EDQUOT is an outcome ("the disk is full"),
// not an error: the stressor reports full and keeps holding what it wrote.
//
// Write path: 1 MiB writes with O_DIRECT from one page-aligned buffer, the same pattern as
// `dd bs=1M oflag=direct`: no page cache (whose dirty pages would be charged to the target's memory cgroup and
// make the figures a measure of memory, not disk), no allocation per write. Filesystems without O_DIRECT
// (tmpfs on older kernels) fall back to buffered writes with an fdatasync every 64 MiB, which bounds the dirty
// pages. Writes are synchronous in slices of ≤ 20 ms so that timers (progress, dead-man's switch) keep running.
import {spawn} from 'node:child_process'
import {constants, fdatasyncSync, fstatSync, openSync, statfsSync, writeSync} from 'node:fs'

import {fillFileName} from './names.js'
import {alignedBuffer, createOwnFile} from './own-file.js'
import type {DiskParams} from './protocol.js'
import {errorMessage, StressorError, type RunningStressor, type StressorContext} from './runtime.js'

const CHUNK = 1024 * 1024
// O_DIRECT needs offsets and lengths in whole logical blocks; 4 KiB covers every common device
const DIRECT_ALIGN = 4096
const SLICE_MS = 20
const SYNC_EVERY = 64 * 1024 * 1024

function isFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export function startDisk(params: DiskParams, ctx: StressorContext): Promise<RunningStressor> | RunningStressor {
  if (params.keepFree !== undefined) checkFloor(params)
  const {file, fd, alsoClose} = createOwnFile(params.dir, fillFileName(params.dir, ctx.runId), ctx)
  const directFd = params.mode === 'write' ? openDirect(file) : undefined
  alsoClose(directFd)
  return params.mode === 'fallocate' ? fallocate(params, file, fd, ctx) : writeFill(params, file, fd, directFd, ctx)
}

/** Refuses a fill that would leave less than keepFree of the filesystem free (the fill counts as written in full). */
function checkFloor(params: DiskParams): void {
  let stats
  try {
    stats = statfsSync(params.dir)
  } catch (error) {
    throw new StressorError(`cannot read the filesystem of ${params.dir}: ${errorMessage(error)}`)
  }
  const total = stats.blocks * stats.bsize
  const room = Math.max(0, stats.bavail * stats.bsize - Math.ceil(params.keepFree! * total))
  if (params.bytes > room) {
    const mib = (n: number) => `${Math.round(n / 1024 ** 2)} MiB`
    throw new StressorError(`a fill of ${mib(params.bytes)} in ${params.dir} would leave less than ${Math.round(params.keepFree! * 100)}% of its ${mib(total)} filesystem free; at most ${mib(room)} can be written there`)
  }
}

/** A second descriptor on the file with O_DIRECT, or undefined where the filesystem has none. */
function openDirect(file: string): number | undefined {
  try {
    return openSync(file, constants.O_WRONLY | constants.O_DIRECT)
  } catch {
    return undefined
  }
}

function writeFill(params: DiskParams, file: string, fd: number, directFdOrNone: number | undefined, ctx: StressorContext): RunningStressor {
  const state = {bytes: 0, full: false}
  const chunk = alignedBuffer(CHUNK, 0x5a)
  // dropped (not closed: the exit cleanup does that) if the filesystem turns out not to take these writes
  let directFd = directFdOrNone
  let sinceSync = 0
  const started = performance.now()

  // Returns how many bytes this write moved; throws ENOSPC/EDQUOT/others.
  const writeOnce = (length: number): number => {
    if (directFd !== undefined && length % DIRECT_ALIGN === 0 && state.bytes % DIRECT_ALIGN === 0) {
      try {
        return writeSync(directFd, chunk, 0, length, state.bytes)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
        // the filesystem accepted O_DIRECT at open but not these writes: go buffered for good
        directFd = undefined
      }
    }
    const written = writeSync(fd, chunk, 0, length, state.bytes)
    sinceSync += written
    if (sinceSync >= SYNC_EVERY) {
      fdatasyncSync(fd)
      sinceSync = 0
    }
    return written
  }

  const due = () => params.rate === undefined ? params.bytes : Math.min(params.bytes, Math.floor(params.rate * (performance.now() - started) / 1000))

  const slice = () => {
    const sliceEnd = performance.now() + SLICE_MS
    try {
      while (state.bytes < due() && performance.now() < sliceEnd) {
        const remaining = params.bytes - state.bytes
        // whole blocks while we can, so the O_DIRECT path carries all but a final sub-block tail
        const length = remaining >= CHUNK ? CHUNK : remaining >= DIRECT_ALIGN ? remaining - (remaining % DIRECT_ALIGN) : remaining
        const written = writeOnce(length)
        state.bytes += written
        // a short write means the disk filled up mid-chunk; the next write reports ENOSPC
        if (written < length) directFd = undefined
      }
    } catch (error) {
      if (isFull(error)) {
        state.full = true
        return
      }
      ctx.finish('error', `writing ${file}: ${errorMessage(error)}`)
      return
    }
    if (state.bytes >= params.bytes) return
    if (state.bytes < due()) {
      setImmediate(slice)
    } else {
      // paced: sleep until the next chunk is due
      const nextAt = (state.bytes + Math.min(CHUNK, params.bytes - state.bytes)) / params.rate! * 1000
      setTimeout(slice, Math.max(1, nextAt - (performance.now() - started)))
    }
  }
  setImmediate(slice)
  return {figures: () => ({bytes: state.bytes, full: state.full})}
}

async function fallocate(params: DiskParams, file: string, fd: number, ctx: StressorContext): Promise<RunningStressor> {
  const state = {bytes: 0, full: false}
  if (params.bytes === 0) return {figures: () => state}
  const child = spawn('fallocate', ['-l', String(params.bytes), file], {stdio: ['ignore', 'ignore', 'pipe']})
  ctx.onExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode) => resolve(exitCode))
  }).catch((error: unknown) => {
    throw new StressorError(`cannot run fallocate: ${errorMessage(error)}`)
  })
  const stat = fstatSync(fd)
  if (code !== 0) {
    if (!/No space left|quota exceeded/i.test(stderr)) throw new StressorError(`fallocate failed (exit ${code}): ${stderr.trim()}`)
    state.full = true
    state.bytes = stat.blocks * 512
    return {figures: () => state}
  }
  if (stat.size !== params.bytes) throw new StressorError(`fallocate left ${file} at ${stat.size} bytes, expected ${params.bytes}`)
  state.bytes = stat.size
  return {figures: () => state}
}
