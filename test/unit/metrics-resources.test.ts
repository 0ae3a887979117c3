import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {
  clockTicks,
  parsePressureSomeTotal,
  parseProcStatCpuSeconds,
  readCgroupSample,
  readProcessSample,
} from '../../src/metrics/resources.js'

const MiB = 1024 * 1024
const children: ChildProcess[] = []
const cgroupDirs: string[] = []
const tempDirs: string[] = []

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  // A cgroup can be removed once its last process has exited; the kernel may take a moment to notice.
  for (const dir of cgroupDirs.splice(0)) {
    for (let attempt = 0; existsSync(dir); attempt++) {
      try {
        rmdirSync(dir)
      } catch (error) {
        if (attempt >= 50) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }
  for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true})
})

/**
 * A node child that waits for "go" on stdin, then allocates `allocateMiB` (touching every page) and burns
 * `burnCpuMs` of CPU time, says "done" and idles until killed.
 */
function spawnWorker(allocateMiB: number, burnCpuMs: number): {child: ChildProcess, done: Promise<void>, go: () => void} {
  const script = `
    process.stdin.once('data', () => {
      const held = []
      for (let i = 0; i < ${allocateMiB}; i++) held.push(Buffer.alloc(${MiB}, 1))
      const start = process.cpuUsage()
      const spent = () => { const u = process.cpuUsage(start); return (u.user + u.system) / 1000 }
      while (spent() < ${burnCpuMs}) {}
      globalThis.held = held
      process.stdout.write('done\\n')
      setInterval(() => {}, 1000)
    })`
  const child = spawn(process.execPath, ['-e', script], {stdio: ['pipe', 'pipe', 'inherit']})
  children.push(child)
  const done = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (data) => String(data).includes('done') && resolve())
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal})`)))
  })
  done.catch(() => {})
  return {child, done, go: () => child.stdin!.write('go\n')}
}

function canUseCgroupV1(): boolean {
  try {
    for (const controller of ['cpu', 'cpuacct', 'memory']) accessSync(`/sys/fs/cgroup/${controller}/cgroup.procs`, constants.W_OK)
    return existsSync('/sys/fs/cgroup/cpuacct/cpuacct.usage') && existsSync('/sys/fs/cgroup/memory/memory.usage_in_bytes')
  } catch {
    return false
  }
}

function createCgroup(controller: string): string {
  const dir = `/sys/fs/cgroup/${controller}/chaos-test-${randomBytes(4).toString('hex')}`
  mkdirSync(dir)
  cgroupDirs.push(dir)
  return dir
}

describe.runIf(canUseCgroupV1())('readCgroupSample, cgroup v1 (real)', () => {
  it('reads CPU usage, throttling and memory of a process moved into fresh cgroups', async () => {
    const cpu = createCgroup('cpu')
    const cpuacct = createCgroup('cpuacct')
    const memory = createCgroup('memory')
    // 20% of one CPU, so a busy process is throttled in most periods.
    writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), '20000')
    const paths = {version: 1 as const, cpu, cpuacct, memory}
    const empty = readCgroupSample(paths)
    // nothing ran there: no CPU, no throttling, no memory. nr_periods may already count one: the kernel's period timer
    // can fire once right after the quota is set, with no task in the cgroup (seen once on a fresh clone's CI)
    expect(empty).toMatchObject({cpuSeconds: 0, throttledPeriods: 0, throttledSeconds: 0, memoryBytes: 0, oomKills: 0})
    expect(empty.periods).toBeLessThanOrEqual(1)

    const worker = spawnWorker(48, 300)
    for (const dir of [cpu, cpuacct, memory]) writeFileSync(path.join(dir, 'cgroup.procs'), String(worker.child.pid))
    worker.go()
    await worker.done

    const sample = readCgroupSample(paths)
    expect(sample.t).toBeGreaterThanOrEqual(empty.t)
    expect(sample.cpuSeconds).toBeGreaterThanOrEqual(0.29)
    expect(sample.cpuSeconds).toBeLessThan(2)
    expect(sample.periods).toBeGreaterThan(5)
    expect(sample.throttledPeriods).toBeGreaterThan(5)
    expect(sample.throttledPeriods).toBeLessThanOrEqual(sample.periods!)
    expect(sample.throttledSeconds).toBeGreaterThan(0.1)
    // only what the process allocated after it moved is charged here
    expect(sample.memoryBytes).toBeGreaterThanOrEqual(48 * MiB)
    expect(sample.memoryBytes).toBeLessThan(200 * MiB)
    expect(sample.memoryPeakBytes).toBeGreaterThanOrEqual(sample.memoryBytes!)
    expect(sample.oomKills).toBe(0)
  })

  it('counts an OOM kill in the memory cgroup', async () => {
    const memory = createCgroup('memory')
    writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(32 * MiB))
    const worker = spawnWorker(128, 0)
    writeFileSync(path.join(memory, 'cgroup.procs'), String(worker.child.pid))
    const exited = new Promise<NodeJS.Signals | null>((resolve) => worker.child.once('exit', (_code, signal) => resolve(signal)))
    worker.go()
    expect(await exited).toBe('SIGKILL')
    const sample = readCgroupSample({version: 1, memory})
    expect(sample.oomKills).toBe(1)
    expect(sample.memoryPeakBytes).toBeGreaterThanOrEqual(31 * MiB)
    expect(sample.memoryPeakBytes).toBeLessThanOrEqual(32 * MiB)
    // no cpu or cpuacct directory given: no CPU fields
    expect(sample.cpuSeconds).toBeUndefined()
    expect(sample.periods).toBeUndefined()
  })
})

describe('readCgroupSample, cgroup v2 (fake cgroupfs tree)', () => {
  function fakeCgroup(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-cgroup2-'))
    tempDirs.push(dir)
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content)
    return dir
  }

  // File formats as Documentation/admin-guide/cgroup-v2.rst and accounting/psi.rst show them.
  const fullTree = {
    'cgroup.controllers': 'cpu io memory pids\n',
    'cpu.stat': 'usage_usec 29328112\nuser_usec 19484342\nsystem_usec 9843770\nnr_periods 1092\nnr_throttled 98\nthrottled_usec 5730811\nnr_bursts 0\nburst_usec 0\n',
    'memory.current': '268435456\n',
    'memory.peak': '301989888\n',
    'memory.max': '536870912\n',
    'memory.events': 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n',
    'cpu.pressure': 'some avg10=12.50 avg60=4.02 avg300=1.13 total=8712043\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
    'memory.pressure': 'some avg10=0.00 avg60=0.31 avg300=0.09 total=312877\nfull avg10=0.00 avg60=0.24 avg300=0.07 total=251234\n',
    'io.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=48113\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=40021\n',
  }

  it('reads every field from a complete group', () => {
    const before = Date.now()
    const sample = readCgroupSample({version: 2, dir: fakeCgroup(fullTree)})
    expect(sample.t).toBeGreaterThanOrEqual(before)
    expect(sample).toEqual({
      t: sample.t,
      cpuSeconds: 29.328112,
      periods: 1092,
      throttledPeriods: 98,
      throttledSeconds: 5.730811,
      memoryBytes: 268435456,
      memoryPeakBytes: 301989888,
      oomKills: 1,
      psi: {cpu: 8712043, memory: 312877, io: 48113},
    })
  })

  it('leaves out what an older kernel or a group without the cpu controller does not offer', () => {
    // no cpu controller: cpu.stat has only the usage lines; no memory.peak before 5.19; no PSI without CONFIG_PSI
    const dir = fakeCgroup({
      'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n',
      'memory.current': '4096\n',
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    })
    const sample = readCgroupSample({version: 2, dir})
    expect(sample).toEqual({t: sample.t, cpuSeconds: 1.5, memoryBytes: 4096, oomKills: 0})
  })

  it('never throws for a group that is gone', () => {
    const sample = readCgroupSample({version: 2, dir: path.join(os.tmpdir(), `chaos-no-such-cgroup-${randomBytes(4).toString('hex')}`)})
    expect(Object.keys(sample)).toEqual(['t'])
    expect(readCgroupSample({version: 1})).toEqual({t: expect.any(Number)})
  })

  it('reads a v1 layout with co-mounted cpu,cpuacct and a kernel without oom_kill', () => {
    const dir = fakeCgroup({
      'cpuacct.usage': '2500000000\n',
      'cpu.stat': 'nr_periods 40\nnr_throttled 10\nthrottled_time 750000000\n',
      'memory.usage_in_bytes': '1048576\n',
      'memory.max_usage_in_bytes': '2097152\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\n',
      'cpu.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=77\n',
    })
    const sample = readCgroupSample({version: 1, cpu: dir, cpuacct: dir, memory: dir})
    expect(sample).toEqual({
      t: sample.t, cpuSeconds: 2.5, periods: 40, throttledPeriods: 10, throttledSeconds: 0.75,
      memoryBytes: 1048576, memoryPeakBytes: 2097152, psi: {cpu: 77},
    })
  })

  it('parses pressure lines', () => {
    expect(parsePressureSomeTotal('some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=9\n')).toBe(123)
    expect(parsePressureSomeTotal('full avg10=0.00 avg60=0.00 avg300=0.00 total=9\n')).toBeUndefined()
    expect(parsePressureSomeTotal(undefined)).toBeUndefined()
  })
})

describe('readProcessSample', () => {
  it('reads CPU time and memory of a live process', async () => {
    const worker = spawnWorker(64, 300)
    worker.go()
    await worker.done
    const sample = readProcessSample(worker.child.pid!)
    // the node start-up counts too
    expect(sample.cpuSeconds).toBeGreaterThanOrEqual(0.3)
    expect(sample.cpuSeconds).toBeLessThan(3)
    expect(sample.memoryBytes).toBeGreaterThanOrEqual(64 * MiB)
    expect(sample.memoryPeakBytes).toBeGreaterThanOrEqual(sample.memoryBytes!)
    expect(sample.oomKills).toBeUndefined()
    expect(sample.psi).toBeUndefined()
  })

  it('agrees with the process\'s own accounting', () => {
    const own = process.cpuUsage()
    const sample = readProcessSample(process.pid)
    // /proc counts in clock ticks (10 ms at 100 Hz)
    expect(Math.abs(sample.cpuSeconds! - (own.user + own.system) / 1e6)).toBeLessThan(0.1)
    expect(Math.abs(sample.memoryBytes! - process.memoryUsage().rss)).toBeLessThan(16 * MiB)
  })

  it('gives only the time for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', '0'])
    await new Promise((resolve) => child.once('exit', resolve))
    expect(readProcessSample(child.pid!)).toEqual({t: expect.any(Number)})
  })

  it('parses /proc/PID/stat whatever the command name holds', () => {
    const stat = '4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 2413 0 0 0 150 50 0 0 20 0 11 0 5353 1183539200 13000 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n'
    expect(parseProcStatCpuSeconds(stat, 100)).toBe(2)
    expect(clockTicks()).toBeGreaterThan(0)
  })
})
