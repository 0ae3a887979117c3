// A memory leak that grows at a steady rate up to a limit. Every page of every chunk is written so the memory
// is resident (charged to the cgroup), not just reserved address space; each page also gets a distinct value
// so that neither same-filled-page detection (zswap/zram) nor KSM can fold it away. If the cgroup's limit is
// lower than ours, the kernel OOM-kills this process: that is the experiment's outcome, not an error here.
import type {MemoryParams} from './protocol.js'
import type {RunningStressor, StressorContext} from './runtime.js'

const TICK_MS = 50
// the most one tick spends allocating, so a huge rate cannot starve the timers (progress, dead-man's switch);
// what is left over is caught up on the next tick, since each tick allocates what is due by then
const TICK_BUDGET_MS = 40
// larger leaks are cut into chunks this big so no single allocation approaches Buffer's size limit
const MAX_CHUNK = 16 * 1024 * 1024
const PAGE = 4096

/** Bytes the leak should hold after elapsedMs: the ramp, capped at the limit. */
export function leakTarget(params: Pick<MemoryParams, 'rate' | 'limit'>, elapsedMs: number): number {
  return Math.min(params.limit, Math.floor(params.rate * Math.max(0, elapsedMs) / 1000))
}

/** A buffer whose every page has been written. */
export function residentBuffer(size: number, serial: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(size)
  buffer.fill(0x5a)
  for (let offset = 0, page = serial; offset + 4 <= size; offset += PAGE, page++) buffer.writeUInt32LE(page >>> 0, offset)
  return buffer
}

export function startMemory(params: MemoryParams, ctx: StressorContext): RunningStressor {
  const chunks: Buffer[] = []
  let leaked = 0
  let pagesWritten = 0
  const started = performance.now()

  const grow = () => {
    const tickStart = performance.now()
    const due = leakTarget(params, tickStart - started)
    while (leaked < due && performance.now() - tickStart < TICK_BUDGET_MS) {
      const size = Math.min(MAX_CHUNK, due - leaked)
      chunks.push(residentBuffer(size, pagesWritten))
      pagesWritten += Math.ceil(size / PAGE)
      leaked += size
    }
    if (leaked >= params.limit) {
      clearInterval(timer)
      if (!params.hold) {
        // hold=false: the leak ends by giving everything back, and so does the stressor
        chunks.length = 0
        ctx.finish('done')
      }
    }
  }
  const timer = setInterval(grow, TICK_MS)

  return {figures: () => ({bytes: leaked})}
}
