// cgroup v2 cannot be mounted with controllers on this v1 host, so the v2 path is exercised against a fake
// cgroupfs tree: plain directories holding the interface files in the kernel's formats.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {Cgroup, cgroupOfProcess, cpuIdleUnsupported, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {readCgroupSample} from '../../src/metrics/resources.js'

let root: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fake-cgroup2-'))
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n')
  writeFileSync(join(root, 'cgroup.subtree_control'), '')
  writeFileSync(join(root, 'cgroup.procs'), '')
})

afterEach(() => rmSync(root, {recursive: true, force: true}))

describe('cgroup v2 (fake tree)', () => {
  it('detects v2 from cgroup.controllers', () => {
    expect(detectCgroupLayout(root)).toEqual({version: 2, root})
  })

  it('enables controllers on the way down and writes limits in v2 formats', () => {
    const layout = detectCgroupLayout(root)
    const box = new Cgroup(layout, 'chaos-abcd1234/worker')
    // the kernel would create these interface files in the new directory; the fake tree needs them for enabling below
    box.create()
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+cpu +memory +cpuset +io +pids')
    box.applyLimits({memory: 256 * 1024 ** 2, cpus: 0.5, cpuset: '1', pids: 100, ioWeight: 200, oomGroup: true, cpuWeight: 10})
    const dir = join(root, 'chaos-abcd1234', 'worker')
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(String(256 * 1024 ** 2))
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000')
    expect(readFileSync(join(dir, 'cpuset.cpus'), 'utf8')).toBe('1')
    expect(readFileSync(join(dir, 'pids.max'), 'utf8')).toBe('100')
    expect(readFileSync(join(dir, 'io.weight'), 'utf8')).toBe('default 200')
    expect(readFileSync(join(dir, 'memory.oom.group'), 'utf8')).toBe('1')
    expect(readFileSync(join(dir, 'cpu.weight'), 'utf8')).toBe('10')
    expect(box.dirs()).toEqual([dir])
    expect(box.paths()).toEqual({version: 2, dir})
  })

  it('makes a box idle with cpu.idle, and knows from the controllers and the kernel release whether it can', () => {
    const layout = detectCgroupLayout(root)
    const box = new Cgroup(layout, 'chaos-abcd1234/worker')
    box.create()
    box.applyLimits({cpuIdle: true})
    expect(readFileSync(join(root, 'chaos-abcd1234', 'worker', 'cpu.idle'), 'utf8')).toBe('1')
    expect(cpuIdleUnsupported(layout, '6.1.0-28-amd64')).toBeUndefined()
    expect(cpuIdleUnsupported(layout, '5.15.0')).toBeUndefined()
    expect(cpuIdleUnsupported(layout, '5.10.0-33-amd64')).toMatch(/Linux 5\.15 on\); this kernel is 5\.10\.0-33-amd64/)
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset io memory pids\n')
    expect(cpuIdleUnsupported(layout, '6.1.0')).toMatch(/v2 cpu controller/)
  })

  it('reads the box accounting from v2 files', () => {
    const layout = detectCgroupLayout(root)
    const box = new Cgroup(layout, 'chaos-abcd1234/api')
    box.create()
    const dir = join(root, 'chaos-abcd1234', 'api')
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 10\nthrottled_usec 300000\n')
    writeFileSync(join(dir, 'memory.current'), '104857600\n')
    writeFileSync(join(dir, 'memory.peak'), '209715200\n')
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n')
    writeFileSync(join(dir, 'cpu.pressure'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')
    const sample = readCgroupSample(box.paths())
    expect(sample.cpuSeconds).toBeCloseTo(2.5)
    expect(sample.periods).toBe(40)
    expect(sample.throttledPeriods).toBe(10)
    expect(sample.memoryBytes).toBe(104857600)
    expect(sample.memoryPeakBytes).toBe(209715200)
    expect(sample.oomKills).toBe(1)
    expect(sample.psi?.cpu).toBe(12345)
  })

  it('removes the box and its parents bottom-up', async () => {
    const layout = detectCgroupLayout(root)
    const parent = new Cgroup(layout, 'chaos-abcd1234')
    new Cgroup(layout, 'chaos-abcd1234/worker').create()
    new Cgroup(layout, 'chaos-abcd1234/api').create()
    expect(parent.exists()).toBe(true)
    expect(await parent.remove()).toEqual([])
    expect(existsSync(join(root, 'chaos-abcd1234'))).toBe(false)
  })

  it('finds the v2 cgroup of a process from its /proc/PID/cgroup "0::" line', () => {
    const layout = detectCgroupLayout(root)
    // this host is v1, so its own /proc/self/cgroup has a "0::/" line for the (empty) unified tree
    const box = cgroupOfProcess(process.pid, layout)
    expect(box?.relativePath).toBe(readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(4))
  })

  it('refuses memory.oom.group on v1 with a reason', () => {
    const v1root = mkdtempSync(join(tmpdir(), 'fake-cgroup1-'))
    try {
      for (const c of ['memory', 'cpu']) {
        mkdirSync(join(v1root, c, 'chaos-x'), {recursive: true})
        writeFileSync(join(v1root, c, 'cgroup.procs'), '')
      }
      const box = new Cgroup(detectCgroupLayout(v1root), 'chaos-x')
      expect(() => box.applyLimits({oomGroup: true})).toThrow(/only on cgroup v2/)
    } finally {
      rmSync(v1root, {recursive: true, force: true})
    }
  })
})
