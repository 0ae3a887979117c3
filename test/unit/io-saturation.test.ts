// io-saturation's parts that need no disk I/O: the file's keys, the dose's checks against this machine's real
// filesystems (/ is a disk here, /dev/shm a tmpfs), the device under a directory (a fake /sys/dev/block for the
// partition case), the box's I/O counters as both cgroup versions write them, and the rule that says a dose landed.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {Fault, Isolation} from '../../src/experiment/schema.js'
import {describeIoDose, ioEfficacy, ioSaturation, planIoDose} from '../../src/faults/io-saturation.js'
import {blockDeviceOf, existingAncestor, NotBlockBackedError, splitDev} from '../../src/host/blockdev.js'
import {IO_THROTTLE_KEYS} from '../../src/host/cgroupfs.js'
import {parseV1Io, parseV2IoStat} from '../../src/metrics/resources.js'
import {PlanError} from '../../src/platforms/platform.js'
import {fromYaml} from '../helpers/experiments.js'
import {fakePlatform} from '../helpers/fake-platform.js'
import {refusal} from '../helpers/refusal.js'

const MiB = 1024 ** 2
const safety = {maxDisk: 8 * 1024 ** 3, diskFloor: 0.1}
const dose = {size: 64 * MiB, blockSize: MiB, depth: 8}
const root = mkdtempSync(join(tmpdir(), 'chaos-io-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

/** A worker in a box of its own and a neighbour, with this io-saturation fault (YAML flow mapping). */
function ioExperiment(fault: string) {
  return fromYaml(`
apiVersion: chaos/v1
kind: Experiment
metadata: {name: io}
target: {name: worker, run: [sleep, "60"], isolation: {level: cgroup}}
neighbors: [{name: api, run: [sleep, "60"]}]
fault: ${fault}
hypothesis: [{signal: error_rate, max: 1%}]
`)
}

/** Whether / is on a disk here (the CI machine's is: /dev/vda); a container's overlay root is not. */
const rootIsDisk = (() => {
  try {
    blockDeviceOf('/')
    return true
  } catch {
    return false
  }
})()

describe('io-saturation: the file', () => {
  it('defaults to 1Mi writes, 8 in flight, over a 256Mi file in the run\'s own directory', () => {
    const fault = Fault.parse({type: 'io-saturation'})
    expect(fault).toEqual({type: 'io-saturation', size: 256 * MiB, blockSize: MiB, depth: 8, reads: 0})
  })

  it('refuses a block that is not a whole number of 4Ki (O_DIRECT), or is above 16Mi', () => {
    for (const blockSize of ['6Ki', '5000', '32Mi', 4096]) {
      const parsed = Fault.safeParse({type: 'io-saturation', blockSize})
      expect(parsed.success, String(blockSize)).toBe(false)
      expect(parsed.error?.issues[0].message).toMatch(/fault.blockSize: expected a whole number of 4Ki blocks from 4Ki to 16Mi/)
    }
    expect(Fault.parse({type: 'io-saturation', blockSize: '64Ki'})).toMatchObject({blockSize: 64 * 1024})
  })

  it('takes a read share as a percentage, refusing a bare number', () => {
    expect(Fault.parse({type: 'io-saturation', reads: '30%'})).toMatchObject({reads: 0.3})
    const bare = Fault.safeParse({type: 'io-saturation', reads: 0.3})
    expect(bare.error?.issues[0].message).toMatch(/fault.reads: 0.3 is a bare number: did you mean 0.3% or 30%/)
    expect(Fault.safeParse({type: 'io-saturation', reads: '120%'}).success).toBe(false)
  })

  it('takes a throttle in isolation.io, which must limit something', () => {
    expect(Isolation.parse({level: 'cgroup', io: {writeBps: '20Mi/s', readIops: 500}}).io).toEqual({writeBps: 20 * MiB, readIops: 500})
    const empty = Isolation.safeParse({level: 'cgroup', io: {path: '/var'}})
    expect(empty.error?.issues[0].message).toMatch(/isolation.io needs at least one of readBps, writeBps, readIops, writeIops/)
  })

  it('lists the four throttle keys once, with both versions\' names', () => {
    expect(IO_THROTTLE_KEYS.map((k) => k.key)).toEqual(['readBps', 'writeBps', 'readIops', 'writeIops'])
    expect(IO_THROTTLE_KEYS.map((k) => k.v2)).toEqual(['rbps', 'wbps', 'riops', 'wiops'])
    const schemaKeys = Object.keys((Isolation.shape.io.unwrap() as unknown as {shape?: object}).shape ?? {})
    if (schemaKeys.length > 0) expect(schemaKeys.filter((k) => k !== 'path')).toEqual(IO_THROTTLE_KEYS.map((k) => k.key))
  })
})

describe('io-saturation: the dose before anything starts', () => {
  it('refuses a filesystem with no disk under it (tmpfs), naming what to do instead', () => {
    const error = refusal(() => planIoDose(dose, '/dev/shm', '/dev/shm', safety))
    expect(error.message).toMatch(/io-saturation: \/dev\/shm is on a filesystem with no block device under it \(device 0:\d+: tmpfs, overlay or a network filesystem\).*name a directory on a disk/)
  })

  it.runIf(rootIsDisk)('finds the whole disk of a directory on one, as major:minor', () => {
    const plan = planIoDose(dose, '/var/tmp/x', '/var/tmp', safety)
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')!
    expect(plan.device.partition ?? plan.device.id).toBe(mountinfo.split(' ')[2])
    expect(plan.params).toEqual({dir: '/var/tmp/x', bytes: 64 * MiB, blockSize: MiB, depth: 8})
    const mixed = planIoDose({...dose, reads: 0.3}, '/var/tmp/x', '/var/tmp', safety)
    expect(mixed.params.readShare).toBe(0.3)
    expect(describeIoDose(mixed)).toMatch(/^direct reads and writes \(30% reads, once the file is written through\) of 1.0Mi, 8 in flight, over a 64.0Mi file in \/var\/tmp\/x/)
  })

  it.runIf(rootIsDisk)('caps the working file by safety.maxDisk and by the floor of free space, and a block by the file', () => {
    expect(refusal(() => planIoDose({...dose, size: 2 * 1024 ** 3}, '/var/tmp', '/var/tmp', {...safety, maxDisk: 1024 ** 3})).message)
      .toMatch(/a working file of 2.0Gi is above safety.maxDisk \(1.0Gi\); lower fault.size or raise safety.maxDisk/)
    expect(refusal(() => planIoDose(dose, '/var/tmp', '/var/tmp', {...safety, diskFloor: 0.9999})).message)
      .toMatch(/would leave less than safety.diskFloor \(100%\) of its filesystem free; at most .* fits/)
    expect(refusal(() => planIoDose({...dose, size: MiB, blockSize: 4 * MiB}, '/var/tmp', '/var/tmp', safety)).message)
      .toMatch(/blockSize 4.0Mi is larger than the working file \(1.0Mi\)/)
  })

  it('needs a platform that can count the target\'s disk I/O, and a path under safety.allowPaths', () => {
    const e = ioExperiment(`{type: io-saturation, path: ${root}}`)
    const without = fakePlatform({target: {boundary: 'container x'}})
    expect(refusal(() => ioSaturation.guard(e.fault as never, e, without)).message).toMatch(/io-saturation needs direct writes to a disk under the target/)
    const counting = fakePlatform({
      target: {boundary: 'cgroup /chaos-x/worker'},
      capabilities: {blockIo: {ioDirectory: () => ({dir: '/nowhere', existing: '/'}), ioThrottle: () => undefined, targetIo: () => undefined}},
    })
    expect(refusal(() => ioSaturation.guard(e.fault as never, e, counting)).message).toMatch(new RegExp(`io-saturation path ${root} .* is not under safety.allowPaths \\(empty\\)`))
  })
})

describe('a disk found where the target runs (a host\'s agent found it there)', () => {
  const e = ioExperiment('{type: io-saturation, size: 256Mi, blockSize: 1Mi, depth: 8}')
  const onHost = (availableBytes: number) => fakePlatform({
    target: {boundary: 'cgroup /chaos-x/worker on host app'},
    capabilities: {blockIo: {
      remoteIoDisk: () => ({dir: '/srv/chaos/x', existing: '/srv', device: {id: '8:16', name: 'sdb'}, totalBytes: 100 * 1024 ** 3, availableBytes}),
      ioThrottle: (device) => device === '8:16' ? {device, writeBps: 20 * MiB} : undefined,
      targetIo: () => undefined,
    }},
  })

  it('plans the dose on that disk, with the target\'s throttle there, not this machine\'s', () => {
    const platform = onHost(50 * 1024 ** 3)
    expect(ioSaturation.plan(e.fault as never, e, platform)).toBe('io-saturation: direct writes of 1.0Mi, 8 in flight, over a 256Mi file in /srv/chaos/x (disk sdb, 8:16) as fast as the disk takes them, charged to cgroup /chaos-x/worker on host app (its throttle on 8:16: write 20.0Mi/s)')
  })

  it('checks the floor against that filesystem\'s room', () => {
    // 10.2Gi free of 100Gi leaves 0.2Gi above a 10% floor: a 256Mi file does not fit
    const message = refusal(() => ioSaturation.guard(e.fault as never, e, onHost(10.2 * 1024 ** 3))).message
    expect(message).toMatch(/a working file of 256Mi in \/srv\/chaos\/x would leave less than safety.diskFloor \(10%\) of its filesystem free; at most 205Mi fits/)
  })

  it('passes on the refusal the platform gives for that host', () => {
    const refused = fakePlatform({target: {boundary: 'b'}, capabilities: {blockIo: {
      remoteIoDisk: () => {
        throw new PlanError('host app (root@10.0.0.1:22): io-saturation path /x (/x) is not under safety.allowPaths (empty)')
      },
      ioThrottle: () => undefined, targetIo: () => undefined,
    }}})
    expect(refusal(() => ioSaturation.guard(e.fault as never, e, refused)).message).toMatch(/^host app .*not under safety.allowPaths/)
  })
})

describe('the disk under a directory', () => {
  it('decodes dev_t as glibc does, large majors and minors included', () => {
    expect(splitDev(0xfe00n)).toEqual({major: 254, minor: 0})
    expect(splitDev(0x803n)).toEqual({major: 8, minor: 3})
    // major 259 (nvme partitions), minor 300
    const dev = (259n & 0xfffn) << 8n | (300n & 0xffn) | ((300n & ~0xffn) << 12n)
    expect(splitDev(dev)).toEqual({major: 259, minor: 300})
  })

  it('throws NotBlockBackedError for tmpfs', () => {
    expect(() => blockDeviceOf('/dev/shm')).toThrow(NotBlockBackedError)
  })

  it.runIf(rootIsDisk)('names the whole disk when the directory is on a partition (fake /sys/dev/block)', () => {
    const own = planIoDose(dose, '/', '/', safety).device
    const ownId = own.partition ?? own.id
    const sys = join(root, 'sys')
    mkdirSync(join(sys, 'devices', 'sdz', 'sdz1'), {recursive: true})
    writeFileSync(join(sys, 'devices', 'sdz', 'dev'), '8:16\n')
    writeFileSync(join(sys, 'devices', 'sdz', 'sdz1', 'partition'), '1\n')
    mkdirSync(join(sys, 'block'))
    symlinkSync(join(sys, 'devices', 'sdz', 'sdz1'), join(sys, 'block', ownId))
    expect(blockDeviceOf('/', join(sys, 'block'))).toEqual({id: '8:16', name: 'sdz', partition: ownId})
  })

  it('finds the nearest directory that exists, for a run directory made only at setup', () => {
    expect(existingAncestor(join(root, 'a', 'b', 'c'))).toBe(root)
  })
})

describe('a box\'s disk I/O counters', () => {
  it('reads v1\'s io_service_bytes and io_serviced per disk', () => {
    const bytes = '254:0 Read 20971520\n254:0 Write 41943040\n254:0 Sync 62914560\n254:0 Async 0\n254:0 Discard 0\n254:0 Total 62914560\n7:1 Write 4096\nTotal 62918656\n'
    const ops = '254:0 Read 20\n254:0 Write 40\n254:0 Total 60\n7:1 Write 1\nTotal 61\n'
    expect(parseV1Io(bytes, ops)).toEqual({
      '254:0': {readBytes: 20 * MiB, writeBytes: 40 * MiB, reads: 20, writes: 40},
      '7:1': {readBytes: 0, writeBytes: 4096, reads: 0, writes: 1},
    })
    // no rule on any disk yet: v1 prints only the Total line
    expect(parseV1Io('Total 0\n', 'Total 0\n')).toBeUndefined()
  })

  it('reads v2\'s io.stat', () => {
    expect(parseV2IoStat('254:0 rbytes=1048576 wbytes=2097152 rios=1 wios=2 dbytes=0 dios=0\n')).toEqual({'254:0': {readBytes: MiB, writeBytes: 2 * MiB, reads: 1, writes: 2}})
    expect(parseV2IoStat('')).toBeUndefined()
  })
})

describe('whether the dose landed', () => {
  const device = {id: '254:0', name: 'vda'}
  const counters = (writeBytes: number) => ({readBytes: 0, writeBytes, reads: 0, writes: writeBytes / MiB})

  it('unbounded and unthrottled: landed when the target\'s box counted what the stressor wrote', () => {
    const e = ioEfficacy({seconds: 4, written: 2000 * MiB, boxBefore: counters(100 * MiB), boxAfter: counters(2100 * MiB), depth: 8, device, boundary: 'cgroup /chaos-x/worker'})
    expect(e).toMatchObject({landed: true, asked: 2000 * MiB, achieved: 2000 * MiB, ratio: 1})
    expect(e.note).toMatch(/2.0Gi written in 4.0 s \(500Mi\/s, 8 in flight\), counted by cgroup \/chaos-x\/worker on vda \(254:0\)/)
  })

  it('not landed when the box counted less than 90% of it (writes that went elsewhere are not the target\'s dose)', () => {
    const e = ioEfficacy({seconds: 4, written: 2000 * MiB, boxBefore: counters(0), boxAfter: counters(1000 * MiB), depth: 8, device, boundary: 'b'})
    expect(e).toMatchObject({landed: false, achieved: 1000 * MiB, ratio: 0.5})
  })

  it('against the target\'s own throttle: asked is the throttle over the window, and pressing it lands', () => {
    const e = ioEfficacy({seconds: 4, written: 78 * MiB, boxBefore: counters(0), boxAfter: counters(78 * MiB), throttle: {device: '254:0', writeBps: 20 * MiB}, depth: 8, device, boundary: 'b'})
    expect(e).toMatchObject({landed: true, asked: 80 * MiB, achieved: 78 * MiB})
    expect(e.note).toMatch(/pressing the target's own throttle \(write 20.0Mi\/s\)/)
    // the box's other writers do not make up a dose the stressor did not write
    expect(ioEfficacy({seconds: 4, written: 10 * MiB, boxBefore: counters(0), boxAfter: counters(80 * MiB), throttle: {device: '254:0', writeBps: 20 * MiB}, depth: 8, device, boundary: 'b'}).landed).toBe(false)
  })

  it('paced: asked is the rate over the window', () => {
    expect(ioEfficacy({seconds: 4, written: 4 * MiB, boxBefore: counters(0), boxAfter: counters(4 * MiB), rate: MiB, depth: 1, device, boundary: 'b'})).toMatchObject({landed: true, asked: 4 * MiB})
  })

  it('a read/write mix: the box\'s reads count too, and a write throttle holds the whole mix to W / (1 - reads)', () => {
    const mixed = (writeBytes: number, readBytes: number) => ({readBytes, writeBytes, reads: readBytes / MiB, writes: writeBytes / MiB})
    // half reads, write throttle 20Mi/s: the mix moves up to 40Mi/s, 160Mi in 4 s
    const e = ioEfficacy({seconds: 4, written: 156 * MiB, readShare: 0.5, blockSize: MiB, boxBefore: mixed(0, 0), boxAfter: mixed(78 * MiB, 78 * MiB), throttle: {device: '254:0', writeBps: 20 * MiB}, depth: 8, device, boundary: 'b'})
    // less the 8 writes of 1Mi that may be in the throttle, uncounted, at the window's end
    expect(e).toMatchObject({landed: true, asked: 152 * MiB, achieved: 156 * MiB})
    expect(e.note).toMatch(/156Mi read and written in 4.0 s/)
    // a read limit too: 30% reads under read 6Mi/s hold the mix to 20Mi/s, below the write limit's 28.6Mi/s
    expect(ioEfficacy({seconds: 4, written: 80 * MiB, readShare: 0.3, blockSize: MiB, boxBefore: mixed(0, 0), boxAfter: mixed(56 * MiB, 24 * MiB), throttle: {device: '254:0', writeBps: 20 * MiB, readBps: 6 * MiB}, depth: 8, device, boundary: 'b'})).toMatchObject({landed: true, asked: 72 * MiB})
    // writes only: the box's reads (the workload's own) are not the dose
    expect(ioEfficacy({seconds: 4, written: 40 * MiB, boxBefore: mixed(0, 0), boxAfter: mixed(10 * MiB, 30 * MiB), depth: 8, device, boundary: 'b'}).landed).toBe(false)
  })

  it('paced: asked less the pipeline a writer at that pace cannot have finished (one block accruing, depth in flight)', () => {
    // 1Mi writes at 1Mi/s for 4 s, one in flight: the first write is issued at 1 s and the fourth may still be in
    // flight at 4 s, so 3Mi counted is the whole dose; the bare rate × time asked 4Mi and called it 75%
    const e = ioEfficacy({seconds: 4, written: 3 * MiB, boxBefore: counters(0), boxAfter: counters(3 * MiB), rate: MiB, blockSize: MiB, depth: 1, device, boundary: 'b'})
    expect(e).toMatchObject({landed: true, asked: 2 * MiB, achieved: 3 * MiB})
    expect(e.note).toMatch(/asked less 2.0Mi a paced writer cannot have finished by the window's end/)
    // one write done in the same 4 s is behind by more than its pipeline: not landed
    expect(ioEfficacy({seconds: 4, written: MiB, boxBefore: counters(0), boxAfter: counters(MiB), rate: MiB, blockSize: MiB, depth: 1, device, boundary: 'b'}).landed).toBe(false)
    // over a minute the allowance is a sliver of the dose: 60 s at 20Mi/s in 1Mi writes, 8 in flight
    const long = ioEfficacy({seconds: 60, written: 1100 * MiB, boxBefore: counters(0), boxAfter: counters(1100 * MiB), rate: 20 * MiB, blockSize: MiB, depth: 8, device, boundary: 'b'})
    expect(long).toMatchObject({landed: true, asked: 1191 * MiB})
    expect(ioEfficacy({seconds: 60, written: 1000 * MiB, boxBefore: counters(0), boxAfter: counters(1000 * MiB), rate: 20 * MiB, blockSize: MiB, depth: 8, device, boundary: 'b'}).landed).toBe(false)
    // a window shorter than the pipeline still asks for one finished block
    expect(ioEfficacy({seconds: 0.5, written: 0, boxBefore: counters(0), boxAfter: counters(0), rate: MiB, blockSize: MiB, depth: 1, device, boundary: 'b'})).toMatchObject({landed: false, asked: MiB})
  })

  it('without a box of its own, the stressor\'s own count, and says so', () => {
    const e = ioEfficacy({seconds: 4, written: 400 * MiB, depth: 8, device, boundary: 'b'})
    expect(e).toMatchObject({landed: true, achieved: 400 * MiB})
    expect(e.note).toMatch(/by the stressor's own count \(the target has no box of its own to count its I\/O\)/)
  })

  it('has a null dose small enough not to matter, through the same stressor', () => {
    const spec = Fault.parse({type: 'io-saturation'}) as Parameters<typeof ioSaturation.nullDose>[0]
    expect(ioSaturation.nullDose(spec)).toEqual({type: 'io-saturation', size: 4 * MiB, blockSize: 64 * 1024, depth: 1, rate: MiB, reads: 0})
  })
})

it('PlanError is what every refusal here is', () => {
  expect(refusal(() => planIoDose(dose, '/dev/shm', '/dev/shm', safety))).toBeInstanceOf(PlanError)
})
