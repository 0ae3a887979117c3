// The run's clock: a phase waited out interval by interval, cut short the moment the run is interrupted.
/** Waits out a phase, sampling every interval; ends early when the run is interrupted. */
export async function waitPhase(durationMs: number, intervalMs: number, signal: AbortSignal | undefined, onTick: (elapsedMs: number, durationMs: number) => void): Promise<void> {
  const start = Date.now()
  let next = start + intervalMs
  while (!signal?.aborted) {
    const now = Date.now()
    if (now >= start + durationMs) break
    await sleep(Math.max(0, Math.min(next, start + durationMs) - now), signal)
    if (Date.now() >= next) {
      onTick(Date.now() - start, durationMs)
      next += intervalMs
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}
