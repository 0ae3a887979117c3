// Runs a task on a cron schedule (croner, with seconds: "*/2 * * * * *"), never two at once: a trigger that
// comes while a run is still going is skipped, not queued, so a slow suite cannot pile up behind itself.
import {Cron} from 'croner'

export interface ScheduleOptions {
  pattern: string
  /** end after this many finished runs; undefined: until the signal aborts */
  maxRuns?: number
  signal?: AbortSignal
  /** run `n` (1-based) */
  task: (n: number) => Promise<void>
  /** after each run (and at the start): when the next one is due */
  onWaiting?: (next: Date | null) => void
  /** a trigger skipped because the previous run is still going */
  onSkipped?: () => void
}

/** Throws a readable error for a pattern croner cannot read. */
export function checkSchedule(pattern: string): Date | null {
  try {
    const probe = new Cron(pattern, {paused: true})
    const next = probe.nextRun()
    probe.stop()
    return next
  } catch (error) {
    throw new Error(`--schedule ${JSON.stringify(pattern)}: ${(error as Error).message.replace(/^CronPattern: /, '')} (expected a cron pattern such as "0 3 * * *", or with seconds "*/30 * * * * *")`)
  }
}

export function runOnSchedule(options: ScheduleOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    let finished = 0
    let done = false
    let running = false
    const finish = () => {
      if (done) return
      done = true
      job.stop()
      options.signal?.removeEventListener('abort', onAbort)
      resolve(finished)
    }
    const onAbort = () => {
      // a run in progress sees the same signal and ends itself; the promise settles after it
      if (!running) finish()
    }
    const job = new Cron(options.pattern, {protect: () => options.onSkipped?.()}, async () => {
      if (done) return
      running = true
      try {
        await options.task(finished + 1)
      } catch (error) {
        done = true
        job.stop()
        reject(error)
        return
      } finally {
        running = false
      }
      finished++
      if ((options.maxRuns !== undefined && finished >= options.maxRuns) || options.signal?.aborted) finish()
      else options.onWaiting?.(job.nextRun())
    })
    options.signal?.addEventListener('abort', onAbort, {once: true})
    if (options.signal?.aborted) finish()
    else options.onWaiting?.(job.nextRun())
  })
}
