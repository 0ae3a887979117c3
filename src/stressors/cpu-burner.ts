// One CPU-burning worker thread (started by cpu.ts). Each period it spins for duty × period, then sleeps to the
// end of the period. The duty is read from shared memory, where the process-level controller in cpu.ts keeps
// correcting it; the same memory carries the stop flag, which also wakes a sleeping worker at once.
import {workerData} from 'node:worker_threads'

export interface BurnerData {
  /** Int32 stop flag at byte 0, Float64 duty (0..1) at byte 8 */
  shared: SharedArrayBuffer
  periodMs: number
  /** where in the period this worker's busy part starts, 0..1: the workers of one stressor spread over the period */
  phase: number
}

const {shared, periodMs, phase} = workerData as BurnerData
const stop = new Int32Array(shared, 0, 1)
const duty = new Float64Array(shared, 8, 1)

// one clock for every worker thread (each thread's performance.now() has its own origin)
const clock = () => performance.timeOrigin + performance.now()
// the first period starts at this worker's offset in the shared grid of periods
let periodStart = (Math.ceil(clock() / periodMs - phase) + phase) * periodMs
const first = periodStart - clock()
if (first > 0) Atomics.wait(stop, 0, 0, first)
while (Atomics.load(stop, 0) === 0) {
  const busyUntil = periodStart + duty[0] * periodMs
  while (clock() < busyUntil) { /* burn */ }
  periodStart += periodMs
  const now = clock()
  if (now < periodStart) Atomics.wait(stop, 0, 0, periodStart - now)
  // descheduled for more than a period (a busy machine, a CPU quota): skip the periods missed rather than burst to
  // catch up, keeping this worker's place in the grid
  else if (now - periodStart > periodMs) periodStart += Math.floor((now - periodStart) / periodMs) * periodMs
}
