// CPU burn: `workers` threads each burning `loadPerWorker` of a core by a duty cycle (cpu-burner.ts). The
// open-loop duty is off by whatever the runtime itself spends and by sleep overshoot, so a controller on the
// main thread compares the whole process's CPU time (what /proc/PID/stat and cpuacct see) with the target,
// workers × loadPerWorker cores, and nudges the shared duty until the two agree.
import {once} from 'node:events'
import {Worker} from 'node:worker_threads'
import type {BurnerData} from './cpu-burner.js'
import type {CpuParams} from './protocol.js'
import {errorMessage, type RunningStressor, type StressorContext} from './runtime.js'

const PERIOD_MS = 50
const CONTROL_MS = 100
/** seconds over which the controller pays back what it owes; shorter reacts faster but jitters more */
export const DUTY_HORIZON_S = 0.5
/** the most the controller moves the duty away from the asked load: enough to win back CPU lost to neighbours
 * competing for the same cores, bounded so a throttled stressor cannot wind up */
export const MAX_DUTY_CORRECTION = 0.5

export interface DutyStep {
  load: number
  workers: number
  /** CPU seconds the whole process used since the previous step */
  usedCoreSeconds: number
  /** wall seconds since the previous step */
  elapsedSeconds: number
}

/**
 * One controller step. `debt` is the CPU time (core-seconds) the process still owes against the target; the
 * duty is the asked load plus what repays the debt over DUTY_HORIZON_S. A steady bias (runtime overhead, sleep
 * overshoot) settles as a constant debt, so the delivered rate converges to the target exactly.
 */
export function nextDuty(debt: number, step: DutyStep): {debt: number, duty: number} {
  if (step.load >= 1) return {debt: 0, duty: 1}
  if (step.load <= 0) return {debt: 0, duty: 0}
  const maxDebt = MAX_DUTY_CORRECTION * step.workers * DUTY_HORIZON_S
  const owed = clamp(debt + step.load * step.workers * step.elapsedSeconds - step.usedCoreSeconds, -maxDebt, maxDebt)
  const duty = clamp(step.load + owed / (step.workers * DUTY_HORIZON_S), 0, 1)
  return {debt: owed, duty}
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value))
}

export function cpuSecondsUsed(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

export async function startCpu(params: CpuParams, ctx: StressorContext): Promise<RunningStressor> {
  const running: RunningStressor = {figures: () => ({})}
  if (params.loadPerWorker <= 0) return running
  const shared = new SharedArrayBuffer(16)
  const stop = new Int32Array(shared, 0, 1)
  const duty = new Float64Array(shared, 8, 1)
  duty[0] = params.loadPerWorker
  // each worker's periods start at its own offset on one clock (burner i at i / workers of a period): two workers at
  // 50% pinned to one core take turns, where with their periods in step they spun side by side and slept side by
  // side, and the core idled half of each period until the controller had pushed both duties to 1 (a 4 s block then
  // got about 0.9 of the core it asked, and its dose was often judged not to have landed)
  const workers = Array.from({length: params.workers}, (_, i) => new Worker(new URL('./cpu-burner.js', import.meta.url), {
    workerData: {shared, periodMs: PERIOD_MS, phase: i / params.workers} satisfies BurnerData,
    resourceLimits: {maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2},
  }))
  ctx.onExit(() => {
    Atomics.store(stop, 0, 1)
    Atomics.notify(stop, 0)
  })
  for (const worker of workers) worker.on('error', (error) => ctx.finish('error', `cpu worker failed: ${errorMessage(error)}`))
  await Promise.all(workers.map((worker) => once(worker, 'online')))

  if (params.loadPerWorker < 1) {
    // measured from here, so the runtime's start-up is not paid back by burning less afterwards
    let debt = 0
    let lastCpu = cpuSecondsUsed()
    let lastWall = performance.now()
    setInterval(() => {
      const cpu = cpuSecondsUsed()
      const wall = performance.now()
      const step = nextDuty(debt, {
        load: params.loadPerWorker, workers: params.workers, usedCoreSeconds: cpu - lastCpu, elapsedSeconds: (wall - lastWall) / 1000,
      })
      debt = step.debt
      duty[0] = step.duty
      lastCpu = cpu
      lastWall = wall
    }, CONTROL_MS)
  }
  return running
}
