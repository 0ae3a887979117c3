// io-saturation on real cgroups and this machine's real disk: the I/O stressor's direct writes are counted by the
// box it joined (cgroup v1 counts only on a disk where the box has a rule: the toolkit's never-binding rule makes it
// count), a write throttle on the box holds them to its rate, its file is gone after a stop or a kill -9, and the
// two experiments go through the run loop (shortened, on ports 19341/19342) with the dose proven in both.
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import {blockDeviceOf} from '../../src/host/blockdev.js'
import {Cgroup, detectCgroupLayout, V1_COUNTING_RULE_BPS} from '../../src/host/cgroupfs.js'
import {readCgroupSample} from '../../src/metrics/resources.js'
import {runExperiment} from '../../src/run/runner.js'
import {ioFileName} from '../../src/stressors/names.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'
import {sleep, stressorTracker, waitFor} from '../helpers/stressors.js'

const MiB = 1024 ** 2
const stressors = stressorTracker('io')
const layout = detectCgroupLayout()
const boxes: Cgroup[] = []
// a directory on this machine's disk (not /tmp, which may be a tmpfs), removed by the last test
const scratch = mkdtempSync('/var/tmp/chaos-io-test-')
const disk = blockDeviceOf(scratch)

/** A box of the test's own (chaos-test-*: never a run's), counting its I/O on the scratch disk. */
function box(writeBps?: number): Cgroup {
  const made = new Cgroup(layout, `chaos-test-io-${randomBytes(4).toString('hex')}`)
  made.create()
  if (writeBps !== undefined) made.applyLimits({io: {device: disk.id, writeBps}})
  made.countIo(disk.id)
  boxes.push(made)
  return made
}

const written = (where: Cgroup) => readCgroupSample(where.paths()).io?.[disk.id]?.writeBytes ?? 0

afterEach(async () => {
  await stressors.stopAll()
})

afterAll(async () => {
  for (const made of boxes) expect(await made.remove()).toEqual([])
  rmSync(scratch, {recursive: true, force: true})
})

describe('the I/O stressor', () => {
  it('writes directly, 8 in flight, and the box it joined counts every byte on the disk', async () => {
    const target = box()
    if (layout.version === 1) {
      // the rule that makes v1 count never binds: 1 PB/s
      expect(readFileSync(join(layout.mounts.blkio!, target.relativePath, 'blkio.throttle.write_bps_device'), 'utf8')).toContain(`${disk.id} ${V1_COUNTING_RULE_BPS}`)
    }
    const handle = stressors.launch('io', {dir: scratch, bytes: 64 * MiB, blockSize: MiB, depth: 8}, {cgroups: target.dirs()})
    await handle.ready
    expect(existsSync(ioFileName(scratch, handle.args.runId))).toBe(true)
    await sleep(2000)
    const own = handle.latest()!.bytes!
    const counted = written(target)
    console.log(`unthrottled: the stressor wrote ${(own / MiB).toFixed(0)} MiB in ~2 s, the box counted ${(counted / MiB).toFixed(0)} MiB on ${disk.name} (${disk.id})`)
    // far more than its 64 MiB file: it goes round and round
    expect(own).toBeGreaterThan(100 * MiB)
    expect(counted).toBeGreaterThanOrEqual(own * 0.9)
    expect(handle.latest()!.ops).toBeGreaterThan(100)
    const [stopped] = await stressors.stop()
    stressors.expectStopped([stopped])
    expect(existsSync(ioFileName(scratch, handle.args.runId)), 'the working file outlived the stressor').toBe(false)
  })

  it('is held to the box\'s write throttle', async () => {
    const target = box(10 * MiB)
    const handle = stressors.launch('io', {dir: scratch, bytes: 32 * MiB, blockSize: MiB, depth: 8}, {cgroups: target.dirs()})
    await handle.ready
    await sleep(1000)
    const from = written(target)
    await sleep(3000)
    const rate = (written(target) - from) / 3
    console.log(`throttled to 10 MiB/s: ${(rate / MiB).toFixed(1)} MiB/s over 3 s`)
    expect(rate).toBeGreaterThan(7 * MiB)
    expect(rate).toBeLessThan(13 * MiB)
  })

  it('paces itself to a rate', async () => {
    const target = box()
    const handle = stressors.launch('io', {dir: scratch, bytes: 16 * MiB, blockSize: MiB, depth: 2, rate: 8 * MiB}, {cgroups: target.dirs()})
    await handle.ready
    await sleep(3000)
    const own = handle.latest()!.bytes!
    expect(own / 3).toBeGreaterThan(6 * MiB)
    expect(own / 3).toBeLessThan(10 * MiB)
  })

  it('mixes direct reads into its writes once the file is written through, and the box counts both', async () => {
    const target = box()
    const readsOf = (where: Cgroup) => readCgroupSample(where.paths()).io?.[disk.id]?.readBytes ?? 0
    const handle = stressors.launch('io', {dir: scratch, bytes: 16 * MiB, blockSize: MiB, depth: 4, readShare: 0.5}, {cgroups: target.dirs()})
    await handle.ready
    await sleep(2000)
    const {bytes = 0, readBytes = 0} = handle.latest()!
    const [boxRead, boxWritten] = [readsOf(target), written(target)]
    console.log(`half reads: the stressor moved ${(bytes / MiB).toFixed(0)} MiB, ${(readBytes / MiB).toFixed(0)} MiB of it read; the box counted ${(boxRead / MiB).toFixed(0)} MiB read, ${(boxWritten / MiB).toFixed(0)} MiB written`)
    // the first 16 MiB are writes only; after that one operation in two reads
    expect(readBytes).toBeGreaterThan(0.4 * (bytes - 16 * MiB))
    expect(readBytes).toBeLessThan(0.6 * (bytes - 16 * MiB) + 8 * MiB)
    // direct reads reach the disk (no page cache answers them): the box counts them
    expect(boxRead).toBeGreaterThanOrEqual(readBytes * 0.9)
    expect(boxWritten).toBeGreaterThanOrEqual((bytes - readBytes) * 0.9)
  })

  it('leaves no file after a kill -9 (the handle removes what the stressor made)', async () => {
    const handle = stressors.launch('io', {dir: scratch, bytes: 16 * MiB, blockSize: MiB, depth: 4})
    await handle.ready
    const file = ioFileName(scratch, handle.args.runId)
    expect(existsSync(file)).toBe(true)
    process.kill(handle.pid!, 'SIGKILL')
    const exit = await handle.exited
    expect(exit.signal).toBe('SIGKILL')
    await waitFor('the file removed', () => !existsSync(file), 2000)
  })
})

/** An experiment of experiments/, on this file's ports, shortened as the suite's runs are. */
function onTestPorts(file: string) {
  const text = readFileSync(file, 'utf8').replaceAll('19161', '19341').replaceAll('19162', '19342')
  expect(text).toContain('19342')
  const experiment = parseExperiment(text, file)
  experiment.phases = {...experiment.phases, warmup: 2000, baseline: 4000, inject: 6000, recover: 0}
  experiment.verdict = {...experiment.verdict, design: 'windows'}
  return experiment
}

describe('the io-saturation experiments', () => {
  it('io-saturation.yaml: the worker\'s own throttle holds its writes, proven from its box\'s accounting', async () => {
    const journal = await runExperiment({experiment: onTestPorts('experiments/io-saturation.yaml'), file: 'experiments/io-saturation.yaml'})
    console.log(`io-saturation (contained expected): verdict ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    expect(journal.plan.join('\n')).toMatch(new RegExp(`io-saturation: direct writes of 1.0Mi, 2 in flight, over a 256Mi file in .*${journal.runId} \\(disk \\w+, ${disk.id}\\) as fast as the disk takes them, charged to .* \\(its throttle on ${disk.id}: write 5.0Mi/s\\)`))
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/pressing the target's own throttle \(write 5.0Mi\/s\), counted by cgroup/)
    const perSecond = journal.injection.efficacy!.achieved / 6
    expect(perSecond).toBeLessThan(7 * MiB)
  })

  it('io-saturation-none.yaml: unthrottled, the same writes go as fast as the disk takes them, all counted', async () => {
    const journal = await runExperiment({experiment: onTestPorts('experiments/io-saturation-none.yaml'), file: 'experiments/io-saturation-none.yaml'})
    console.log(`io-saturation-none (breach expected): verdict ${journal.verdict}; dose: ${journal.injection.efficacy?.note}; ${journal.neighbors[0].signals.map((s) => `${s.signal} ${s.baseline} -> ${s.fault} ${s.verdict}`).join('; ')}`)
    expect(journal.rollback.complete).toBe(true)
    expect(await waitForNoLeftovers(journal.runId, 2000)).toEqual([])
    expect(journal.injection.efficacy?.landed).toBe(true)
    expect(journal.injection.efficacy?.note).toMatch(/counted by cgroup/)
    expect(journal.injection.efficacy!.achieved / 6).toBeGreaterThan(50 * MiB)
  })
})

describe('an io-saturation run killed with SIGKILL mid-fault', () => {
  it('leaves no stressor and no working file 2 s later, and chaos cleanup finds nothing more to do with them', async () => {
    const state = mkdtempSync(join(tmpdir(), 'chaos-io-state-'))
    const outside = mkdtempSync('/var/tmp/chaos-io-allowed-')
    // the working file in an allowed directory of the machine's disk, not in the run's own (which cleanup removes anyway)
    const text = readFileSync('experiments/io-saturation.yaml', 'utf8').replaceAll('19161', '19343').replaceAll('19162', '19344')
      .replace('  depth: 2\n', `  depth: 2\n  path: ${outside}\n`) + `safety: {allowPaths: [${outside}]}\n`
    const file = join(state, 'io.yaml')
    writeFileSync(file, text)
    const env = {...process.env, CHAOS_STATE_DIR: state}
    const child = spawn(process.execPath, ['bin/run.js', 'run', file, '--warmup', '1s', '--baseline', '3s', '--inject', '30s', '--design', 'windows'], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/wrote [1-9][\d.]*\wi? in \d+ writes/.test(stderr)) resolve()
      })
      child.once('exit', () => reject(new Error(`the run ended before its fault wrote anything: ${stderr.slice(-800)}`)))
    })
    const runId = /run ([0-9a-f]{8})/.exec(stderr)![1]
    expect(readdirSync(outside)).toEqual([`chaos-${runId}-io`])
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    // the stressor's dead-man's switch: it ends on its own (its deadline is 30 s away) and removes its file
    expect((await waitForNoLeftovers(runId, 2000)).filter((l) => l.startsWith('process'))).toEqual([])
    expect(readdirSync(outside)).toEqual([])
    const report = JSON.parse(execFileSync(process.execPath, ['bin/run.js', 'cleanup', '--json'], {encoding: 'utf8', env})) as {runs: string[], failed: unknown[]}
    expect(report.runs).toContain(runId)
    expect(report.failed).toEqual([])
    expect(execFileSync(process.execPath, ['bin/run.js', 'cleanup'], {encoding: 'utf8', env})).toMatch(/nothing to clean up/)
    rmSync(outside, {recursive: true, force: true})
    rmSync(state, {recursive: true, force: true})
  })
})
