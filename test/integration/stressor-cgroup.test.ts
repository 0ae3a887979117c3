// A stressor placed in real cgroup v1 directories is charged there: its CPU in cpuacct, its memory in memory.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {sleep, stressorTracker, waitFor} from '../helpers/stressors.js'

const {launch, stopAll} = stressorTracker('c')

const ROOT = '/sys/fs/cgroup'
const CONTROLLERS = ['cpu', 'cpuacct', 'memory'] as const
type Controller = typeof CONTROLLERS[number]
const cgroupsMade: string[] = []
let cgroupCount = 0

function makeCgroups(): Record<Controller, string> {
  const name = `chaos-test-${process.pid}-${cgroupCount++}`
  const dirs = {} as Record<Controller, string>
  for (const controller of CONTROLLERS) {
    dirs[controller] = join(ROOT, controller, name)
    mkdirSync(dirs[controller])
    cgroupsMade.push(dirs[controller])
  }
  return dirs
}
const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim()
const MiB = 1024 * 1024

const usable = CONTROLLERS.every((c) => existsSync(join(ROOT, c, 'cgroup.procs')))

describe.skipIf(!usable)('stressor in a cgroup v1', () => {
  beforeAll(() => {
    expect(process.getuid?.()).toBe(0)
  })

  afterEach(async () => {
    await stopAll()
    for (const dir of cgroupsMade.splice(0)) {
      // a process that just exited can keep a cgroup busy for a moment
      await waitFor(`rmdir ${dir}`, () => {
        try {
          rmdirSync(dir)
          return true
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === 'ENOENT'
        }
      }, 5000)
      expect(existsSync(dir)).toBe(false)
    }
  })

  it('charges CPU to cpuacct and memory to memory', async () => {
    const cgroups = makeCgroups()
    const cgroupList = CONTROLLERS.map((c) => cgroups[c])
    const cpu = launch('cpu', {workers: 1, loadPerWorker: 0.5}, {cgroups: cgroupList})
    const memory = launch('memory', {rate: 128 * MiB, limit: 48 * MiB, hold: true}, {cgroups: cgroupList})
    const [{pid: cpuPid}, {pid: memoryPid}] = await Promise.all([cpu.ready, memory.ready])
    for (const dir of cgroupList) {
      const members = read(dir, 'cgroup.procs').split('\n').map(Number)
      expect(members).toEqual(expect.arrayContaining([cpuPid, memoryPid]))
    }
    await waitFor('the leak', () => memory.latest()?.bytes === 48 * MiB, 5000)

    const usage0 = Number(read(cgroups.cpuacct, 'cpuacct.usage'))
    const t0 = performance.now()
    await sleep(2000)
    const cpuSeconds = (Number(read(cgroups.cpuacct, 'cpuacct.usage')) - usage0) / 1e9
    const wall = (performance.now() - t0) / 1000
    // the cpu stressor's half core (the memory one idles), loosely: this machine may be shared
    expect(cpuSeconds / wall).toBeGreaterThan(0.35)
    expect(cpuSeconds / wall).toBeLessThan(0.7)

    // the leak itself at least; the runtimes' start-up pages stayed charged where they began (v1 does not move charges)
    expect(Number(read(cgroups.memory, 'memory.usage_in_bytes'))).toBeGreaterThan(48 * MiB)
  })

  it('is in the box from its spawn, so that its start-up is charged there and not to the toolkit', async () => {
    const cgroups = makeCgroups()
    const cpu = launch('cpu', {workers: 1, loadPerWorker: 0.1}, {cgroups: CONTROLLERS.map((c) => cgroups[c])})
    // before Node has booted in the child, let alone joined by itself
    expect(cpu.pid).toBeGreaterThan(0)
    for (const controller of CONTROLLERS) expect(read(cgroups[controller], 'cgroup.procs').split('\n').map(Number)).toContain(cpu.pid)
    await cpu.ready
    // Node's own boot (tens of ms of CPU) is in the box's account, not only the work after ready
    expect(Number(read(cgroups.cpuacct, 'cpuacct.usage')) / 1e9).toBeGreaterThan(0.02)
  })

  it('is OOM-killed at the cgroup memory limit, and the handle says so', async () => {
    const cgroups = makeCgroups()
    writeFileSync(join(cgroups.memory, 'memory.limit_in_bytes'), String(48 * MiB))
    const memory = launch('memory', {rate: 256 * MiB, limit: 512 * MiB, hold: true}, {cgroups: [cgroups.memory]})
    await memory.ready
    const exit = await memory.exited
    expect(exit).toMatchObject({signal: 'SIGKILL', killedBy: 'oom-or-sigkill'})
    expect(exit.reason).toBeUndefined()
    expect(read(cgroups.memory, 'memory.oom_control')).toMatch(/oom_kill [1-9]/)
  })

  it('fails with exit code 3 when it cannot join a cgroup, and creates nothing there', async () => {
    const missing = launch('cpu', {workers: 1, loadPerWorker: 1}, {cgroups: [join(ROOT, 'cpu', `chaos-test-${process.pid}-missing`)]})
    await expect(missing.ready).rejects.toThrow(/cannot join cgroup/)
    expect(await missing.exited).toMatchObject({code: 3, reason: 'error'})

    const notACgroup = mkdtempSync(join(tmpdir(), 'chaos-stressor-test-'))
    try {
      const wrong = launch('cpu', {workers: 1, loadPerWorker: 1}, {cgroups: [notACgroup]})
      expect(await wrong.exited).toMatchObject({code: 3, reason: 'error', error: expect.stringMatching(/cannot join cgroup/)})
      expect(readdirSync(notACgroup)).toEqual([])
    } finally {
      rmSync(notACgroup, {recursive: true})
    }
  })
})
