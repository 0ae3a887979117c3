// An I/O weight on cgroup v1 goes to whichever weight file the kernel has (CFQ's blkio.weight, else bfq's
// blkio.bfq.weight), and the writer says when the file already held it: how the Docker platform learns that the
// engine discarded BlkioWeight on a kernel without CFQ, and writes it itself.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ioWeightUnsupported, writeV1IoWeight} from '../../src/host/cgroupfs.js'

const made: string[] = []
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, {recursive: true, force: true})
})

function blkio(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-blkio-'))
  made.push(dir)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

describe('writeV1IoWeight', () => {
  it('writes bfq\'s weight where CFQ\'s is gone, and says whether it was already there', () => {
    const dir = blkio({'blkio.bfq.weight': '100\n'})
    expect(writeV1IoWeight(dir, 300)).toBe(false)
    expect(readFileSync(join(dir, 'blkio.bfq.weight'), 'utf8')).toBe('300')
    expect(writeV1IoWeight(dir, 300)).toBe(true)
    // bfq takes 1-1000
    expect(writeV1IoWeight(dir, 5000)).toBe(false)
    expect(readFileSync(join(dir, 'blkio.bfq.weight'), 'utf8')).toBe('1000')
  })

  it('prefers CFQ\'s blkio.weight (10-1000) where the kernel has it', () => {
    const dir = blkio({'blkio.weight': '500\n', 'blkio.bfq.weight': '100\n'})
    expect(writeV1IoWeight(dir, 500)).toBe(true)
    expect(writeV1IoWeight(dir, 1)).toBe(false)
    expect(readFileSync(join(dir, 'blkio.weight'), 'utf8')).toBe('10')
    expect(readFileSync(join(dir, 'blkio.bfq.weight'), 'utf8')).toBe('100\n')
  })

  it('refuses where the blkio controller has no weight at all', () => {
    expect(() => writeV1IoWeight(blkio({}), 100)).toThrow(/ioWeight needs blkio.weight or blkio.bfq.weight/)
  })
})

describe('ioWeightUnsupported: known before anything is created', () => {
  it('v1: a blkio hierarchy with a weight file weighs; one with only the throttle files (no CFQ, no bfq) does not, and says how to fix it', () => {
    expect(ioWeightUnsupported({version: 1, root: '/x', mounts: {blkio: blkio({'blkio.bfq.weight': '100\n'})}})).toBeUndefined()
    expect(ioWeightUnsupported({version: 1, root: '/x', mounts: {blkio: blkio({'blkio.weight': '500\n'})}})).toBeUndefined()
    expect(ioWeightUnsupported({version: 1, root: '/x', mounts: {blkio: blkio({'blkio.throttle.read_bps_device': ''})}})).toMatch(/has neither: this kernel has no I\/O scheduler that weighs cgroups \(load bfq/)
    expect(ioWeightUnsupported({version: 1, root: '/x', mounts: {}})).toMatch(/blkio controller, which is not mounted/)
  })

  it('v2: the io controller at the root', () => {
    expect(ioWeightUnsupported({version: 2, root: blkio({'cgroup.controllers': 'cpuset cpu io memory pids\n'})})).toBeUndefined()
    expect(ioWeightUnsupported({version: 2, root: blkio({'cgroup.controllers': 'cpuset cpu memory pids\n'})})).toMatch(/io controller/)
  })
})
