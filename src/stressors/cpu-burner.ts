// One CPU-burning worker thread (started by cpu.ts). Each period it spins for duty × period, then sleeps to the
// end of the period. The duty is read from shared memory, where the process-level controller in cpu.ts keeps
// correcting it; the same memory carries the stop flag, which also wakes a sleeping worker at once.
import {workerData} from 'node:worker_threads'

export interface BurnerData {
  /** Int32 stop flag at byte 0, Float64 duty (0..1) at byte 8 */
  shared: SharedArrayBuffer
  periodMs: number
}

const {shared, periodMs} = workerData as BurnerData
const stop = new Int32Array(shared, 0, 1)
const duty = new Float64Array(shared, 8, 1)

let periodStart = performance.now()
while (Atomics.load(stop, 0) === 0) {
  const busyUntil = periodStart + duty[0] * periodMs
  while (performance.now() < busyUntil) { /* burn */ }
  periodStart += periodMs
  const now = performance.now()
  if (now < periodStart) Atomics.wait(stop, 0, 0, periodStart - now)
  // descheduled for more than a period (a busy machine, a CPU quota): start afresh rather than burst to catch up
  else if (now - periodStart > periodMs) periodStart = now
}
