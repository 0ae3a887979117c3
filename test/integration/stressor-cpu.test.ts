// The cpu stressor delivers the asked load, as the kernel counts it (/proc/PID/stat). The goal is "within 2
// points when the CPU is free"; the test allows 5. This machine may be shared with other suites, so where cgroup
// v1 is available the stressor runs in a cpu cgroup of its own with the highest cpu.shares: the CPU is then free
// for it whatever else runs, and what is measured is the stressor, not the neighbours.
import {existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {sleep, stressorTracker} from '../helpers/stressors.js'

const {launch, stopAll} = stressorTracker('u')

const CPU_ROOT = '/sys/fs/cgroup/cpu'
const CPUSET_ROOT = '/sys/fs/cgroup/cpuset'
const cgroupsMade: string[] = []
let cgroupCount = 0

/** a cpu cgroup that outweighs everything else on the machine, or none where cgroup v1 is not there */
function priorityCgroup(): string[] {
  if (!existsSync(join(CPU_ROOT, 'cpu.shares'))) return []
  const dir = join(CPU_ROOT, `chaos-test-${process.pid}-${cgroupCount++}`)
  mkdirSync(dir)
  cgroupsMade.push(dir)
  writeFileSync(join(dir, 'cpu.shares'), '262144')
  return [dir]
}

afterEach(async () => {
  await stopAll()
  for (const dir of cgroupsMade.splice(0)) {
    for (let attempt = 0; existsSync(dir); attempt++) {
      try {
        rmdirSync(dir)
      } catch (error) {
        if (attempt > 100) throw error
        await sleep(20) // a process that just exited can keep a cgroup busy for a moment
      }
    }
  }
})

/** utime + stime of a process, in seconds */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function loadOver(pid: number, ms: number): Promise<number> {
  const cpu0 = cpuSecondsOf(pid)
  const t0 = performance.now()
  await sleep(ms)
  return (cpuSecondsOf(pid) - cpu0) / ((performance.now() - t0) / 1000)
}

describe('cpu stressor', () => {
  it.each([
    {workers: 1, loadPerWorker: 0.5},
    {workers: 1, loadPerWorker: 0.25},
    {workers: 1, loadPerWorker: 1},
    {workers: 2, loadPerWorker: 0.4},
  ])('delivers $workers × $loadPerWorker of a core, measured from /proc/PID/stat over 3 s', async (params) => {
    const stressor = launch('cpu', params, {cgroups: priorityCgroup()})
    const {pid} = await stressor.ready
    await sleep(500) // let the controller settle
    const asked = params.workers * params.loadPerWorker
    // Even a top-shares cgroup is not alone on a busy 2-core machine: up to three 3-s windows, the best one is
    // judged (a stressor that is off target is off in all of them).
    const windows: number[] = []
    for (let i = 0; i < 3; i++) {
      windows.push(await loadOver(pid, 3000))
      if (Math.abs(windows.at(-1)! - asked) / params.workers < 0.02) break
    }
    const errors = windows.map((cores) => Math.abs(cores - asked) / params.workers)
    expect(Math.min(...errors), `delivered ${windows.map((c) => c.toFixed(3)).join(', ')} cores for ${asked}`).toBeLessThan(0.05)
    expect(stressor.latest()?.cpuSeconds).toBeGreaterThan(asked * 3)
  })

  // Two workers at 50% pinned to one core: their periods must take turns. In step (both threads started together)
  // they spun side by side and slept side by side, the core idled half of each period, and the dose reached a full
  // core only once the controller had pushed both duties to 1, more than a second later: a 4 s fault block of
  // cpu-hog-spread.yaml got about 0.9 of the core it asked. Measured from the moment the stressor is ready, as a
  // fault block's dose is.
  it.runIf(existsSync(join(CPUSET_ROOT, 'cpuset.cpus')))('two workers at 50% on one pinned core deliver the whole core from the start', async () => {
    const [cpu] = priorityCgroup()
    const cpuset = join(CPUSET_ROOT, `chaos-test-${process.pid}-${cgroupCount++}`)
    mkdirSync(cpuset)
    cgroupsMade.push(cpuset)
    const last = readFileSync(join(CPUSET_ROOT, 'cpuset.cpus'), 'utf8').trim().split(/[-,]/).at(-1)!
    writeFileSync(join(cpuset, 'cpuset.cpus'), last)
    writeFileSync(join(cpuset, 'cpuset.mems'), readFileSync(join(CPUSET_ROOT, 'cpuset.mems'), 'utf8').trim())
    const stressor = launch('cpu', {workers: 2, loadPerWorker: 0.5}, {cgroups: [cpu, cpuset]})
    const {pid} = await stressor.ready
    // the first 1.5 s count: a controller winding up to make good what the workers' overlap lost would miss them
    const delivered = await loadOver(pid, 1500)
    expect(delivered, `delivered ${delivered.toFixed(3)} of the one core`).toBeGreaterThan(0.93)
  })

  it('with load 0 starts no burner and stays idle', async () => {
    const stressor = launch('cpu', {workers: 4, loadPerWorker: 0})
    const {pid} = await stressor.ready
    expect(await loadOver(pid, 1000)).toBeLessThan(0.05)
  })
})
