// `chaos calibrate` end to end, as a user runs it (dist/ must be built): a short cpu-hog experiment, one A/A run at
// the null dose and one spike-in holding the API's own box to a CPU quota, through the real runner, real cgroups and
// real processes. The printout and the JSON agree with the runs' own journals; chaos run --dry-run then reads the
// calibration; nothing is left behind.
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {clopperPearson, noiseSamples, poolNoise} from '../../src/calibrate/report.js'
import type {Calibration} from '../../src/calibrate/store.js'
import type {Journal} from '../../src/report/journal.js'
import {waitForNoLeftovers} from '../helpers/leftovers.js'
import {freePort} from '../helpers/prometheus-server.js'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'run.js')
const dir = mkdtempSync(join(tmpdir(), 'chaos-calibrate-it-'))
const state = join(dir, 'state')
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function chaos(args: string[], timeout = 110_000): Promise<{code: number, stdout: string, stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd: ROOT, timeout, killSignal: 'SIGINT', env: {...process.env, NO_COLOR: '1', CHAOS_STATE_DIR: state}}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr})
    })
  })
}

/** A refusal of bad usage: exit 2 and the message, before anything starts. */
async function expectRefusal(args: string[], message: string): Promise<void> {
  const result = await chaos(args)
  expect(result.code, result.stderr).toBe(2)
  expect(result.stderr).toContain(message)
}

async function experimentFile(name: string, neighbourLevel = 'cgroup'): Promise<string> {
  const [worker, api] = [await freePort(), await freePort()]
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, `apiVersion: chaos/v1
kind: Experiment
metadata: {name: ${name}}
platform: process
target:
  name: worker
  run: [chaos, workload, --port, "${worker}", --data-dir, "\${run.dir}/worker"]
  isolation: {level: cgroup, memory: 256Mi}
neighbors:
  - name: api
    run: [chaos, workload, --port, "${api}", --data-dir, "\${run.dir}/api"]
    isolation: {level: ${neighbourLevel}, memory: 256Mi}
    probe: {http: {url: "http://127.0.0.1:${api}/work", rate: 100}}
fault: {type: cpu-hog, load: 50%}
phases: {warmup: 1s}
verdict: {block: 1s, settle: 500ms, budget: 8s, firstLook: 2, lookEvery: 1}
hypothesis:
  - {signal: error_rate, max: 1%}
  - {signal: latency_p95, max_increase: 50%}
expect: contained
`)
  return file
}

describe('chaos calibrate', () => {
  let file: string
  beforeAll(async () => {
    file = await experimentFile('calibrate-it')
  })

  it('refuses a spike-in it cannot make, or a quota that is not one, with exit 2 and starts nothing', async () => {
    const shared = await experimentFile('calibrate-it-shared', 'shared')
    await expectRefusal(['calibrate', shared, '--runs', '1'], 'refused: calibrate: the spike-in needs neighbour api in a box of its own that the run creates')
    await expectRefusal(['calibrate', file, '--quota', 'lots'], '--quota: expected a number of cores such as 0.2, got "lots"')
    await expectRefusal(['calibrate', file, '--quota', '0'], 'refused: calibrate: --quota 0 is not a number of cores between 0 and 64')
    await expectRefusal(['calibrate', file, '--spikes', '0', '--shift', 'lots'], '--shift: expected a percentage such as 25%, got "lots"')
    await expectRefusal(['calibrate', file, '--spikes', '0', '--shift', '0%'], 'refused: calibrate: --shift 0% is not a rise between 0% and 1000%')
    // a duration flag that is not one is bad usage too (exit 2), in calibrate as in run, whose flags share its type
    await expectRefusal(['calibrate', file, '--spikes', '0', '--budget', '2s'], 'expected a duration such as 15s or 1m (at least 5s), got "2s"')
    await expectRefusal(['run', file, '--budget', 'lots'], 'expected a duration such as 15s or 1m (at least 5s), got "lots"')
    await expectRefusal(['run', file, '--inject', '0s'], 'expected a duration such as 15s or 1m (more than 0s), got "0s"')
    expect(existsSync(join(state, 'runs'))).toBe(false)
  })

  it('a shift reads the neighbour\'s fault-on latencies × (1 + shift) at the null dose: the run sees a change of that size', async () => {
    const journalsDir = join(dir, 'journals-shift')
    const output = join(dir, 'shift.json')
    const result = await chaos(['calibrate', file, '--runs', '1', '--spikes', '0', '--shift', '900%', '--shift-runs', '1', '--journals', journalsDir, '-o', output])
    expect(result.code, result.stderr).toBe(0)
    const calibration = JSON.parse(readFileSync(output, 'utf8')) as Calibration
    expect(calibration.shift).toHaveLength(1)
    const [summary] = calibration.shift!
    expect(summary).toMatchObject({neighbor: 'api', shift: 9, runs: 1})
    const shifted = JSON.parse(readFileSync(join(journalsDir, `${summary.runIds[0]}.json`), 'utf8')) as Journal
    // the fault is the null dose, not a slowdown; only the reading is shifted, and the plan says so
    expect(shifted.injection.fault).toEqual(calibration.nullDose)
    expect(shifted.plan.join('\n')).toContain('shift: every latency of neighbour api in the fault-on blocks read ×10 (+900%, exact, on the run\'s own noise)')
    // ×10 on every fault-on latency: the run's estimate is the A/A's noise times 10, far beyond what an unshifted
    // A/A run reads (within ±30% here, and once −43% over a short run's 4 pairs, which ×4 left at +114%), and never
    // called contained
    const p95 = shifted.neighbors[0].signals.find((s) => s.signal === 'latency_p95')!
    expect(p95.change).toBeGreaterThan(1.5)
    expect(p95.verdict).not.toBe('contained')
    // the error rate is not a latency: left as measured
    const errors = shifted.neighbors[0].signals.find((s) => s.signal === 'error_rate')!
    expect(errors.verdict).not.toBe('breach')
    const line = summary.signals.find((g) => g.signal === 'latency_p95')!
    expect(line.verdicts[p95.verdict as 'breach' | 'inconclusive']).toBe(1)
    // one run gives no realised change with an interval (that needs two): the shift is rated where it was asked
    expect(line.realised).toBeNull()
    expect(result.stdout).toMatch(/^shift \+900% \(neighbour api's fault-on latencies read ×10, exact, at the null dose\): 1 runs: /m)
    expect(result.stdout).toMatch(/^  latency_p95 \(max_increase 50%: 18× the threshold\): .*; contained \(wrong\) 0\/1, 95% CI 0% … 97\.5%/m)
    expect(await waitForNoLeftovers(shifted.runId, 2000)).toEqual([])
  })

  it('--shift-dose none starts nothing in the fault-on blocks: no stressor, and the shift is the whole change', async () => {
    const journalsDir = join(dir, 'journals-shift-none')
    const output = join(dir, 'shift-none.json')
    const result = await chaos(['calibrate', file, '--runs', '1', '--spikes', '0', '--shift', '900%', '--shift-runs', '1', '--shift-dose', 'none', '--budget', '6s', '--journals', journalsDir, '-o', output])
    expect(result.code, result.stderr).toBe(0)
    const calibration = JSON.parse(readFileSync(output, 'utf8')) as Calibration
    const [summary] = calibration.shift!
    expect(summary).toMatchObject({neighbor: 'api', shift: 9, runs: 1, dose: 'none'})
    const shifted = JSON.parse(readFileSync(join(journalsDir, `${summary.runIds[0]}.json`), 'utf8')) as Journal
    expect(shifted.plan.join('\n')).toContain('fault-on blocks start nothing (--shift-dose none)')
    // --budget replaces the file's 8 s for every run, and the calibration records the design its runs had
    expect(shifted.design!.budgetMs).toBe(6000)
    expect(calibration.design.budgetMs).toBe(6000)
    expect(shifted.plan.join('\n')).toContain('read ×10 (+900%, exact, on the run\'s own noise); nothing started in them, so the shift is the whole change')
    // the blocks still alternate, but no stressor was launched in any of them (the A/A run above launched one per block)
    expect(shifted.design!.blocks.filter((b) => b.arm === 'on').length).toBeGreaterThanOrEqual(2)
    expect(shifted.design!.blocks.filter((b) => b.arm === 'on').every((b) => b.landed === true)).toBe(true)
    expect(shifted.injection.events).toEqual([])
    expect(shifted.injection.efficacy?.note).toMatch(/^landed in (\d+) of \1 fault blocks \(nothing injected \(a calibration's shift alone\)\)$/)
    // a settle (500 ms here) follows every block, fault-off as well as fault-on, so each arm holds a pair's first or
    // second block by the coin alone; with a settle after removals only, an off-then-on pair ran its blocks back to back
    const blocks = shifted.design!.blocks.map((b) => ({arm: b.arm, from: Date.parse(b.start), to: Date.parse(b.end)})).sort((a, b) => a.from - b.from)
    const gaps = blocks.slice(1).map((b, i) => ({after: blocks[i].arm, ms: b.from - blocks[i].to}))
    expect(gaps.some((g) => g.after === 'off')).toBe(true)
    for (const gap of gaps) expect(gap.ms, JSON.stringify(gaps)).toBeGreaterThanOrEqual(480)
    const p95 = shifted.neighbors[0].signals.find((s) => s.signal === 'latency_p95')!
    expect(p95.change).toBeGreaterThan(1.5)
    expect(p95.verdict).not.toBe('contained')
    expect(result.stdout).toMatch(/^shift \+900% \(neighbour api's fault-on latencies read ×10, exact, nothing injected\): 1 runs: /m)
    expect(await waitForNoLeftovers(shifted.runId, 2000)).toEqual([])
  })

  it('runs an A/A run and a spike-in, prints and writes the calibration, and chaos run --dry-run reads it', async () => {
    const journalsDir = join(dir, 'journals')
    const result = await chaos(['calibrate', file, '--runs', '1', '--spikes', '1', '--quota', '0.1', '--journals', journalsDir])
    expect(result.code, result.stderr).toBe(0)
    const written = join(state, 'calibration', 'calibrate-it.json')
    expect(result.stdout).toContain(`calibration written to ${written}`)
    const calibration = JSON.parse(readFileSync(written, 'utf8')) as Calibration
    const journal = (id: string) => JSON.parse(readFileSync(join(journalsDir, `${id}.json`), 'utf8')) as Journal

    // the A/A run: the experiment's own fault at its null dose, through the real runner
    expect(calibration.nullDose).toEqual({type: 'cpu-hog', load: 0.5, cores: 0.01, workers: 1})
    expect(calibration.aa.runIds).toHaveLength(1)
    const aa = journal(calibration.aa.runIds[0])
    expect(aa.injection.fault).toEqual(calibration.nullDose)
    expect(aa.injection.efficacy?.note).toMatch(/of 0\.01 cores asked/)
    expect(aa.design?.blocks.filter((b) => b.arm === 'on').length).toBeGreaterThanOrEqual(2)
    expect(calibration.aa.verdicts[aa.verdict]).toBe(1)
    const breaches = aa.verdict === 'breach' ? 1 : 0
    expect(calibration.aa.falseBreach).toEqual({count: breaches, of: 1, interval: clopperPearson(breaches, 1), level: 0.95})
    expect(result.stdout).toContain(`false breaches: ${breaches} of 1 (95% CI`)
    expect(result.stdout).toContain(`A/A runs: 1: ${calibration.aa.verdicts.contained} contained, ${calibration.aa.verdicts.breach} breach, ${calibration.aa.verdicts.inconclusive} inconclusive`)

    // the noise is the A/A journal's last look's, and the pairs needed follow from it
    const samples = noiseSamples(aa)
    expect(samples.size).toBeGreaterThan(0)
    for (const noise of calibration.aa.noise) {
      const pooled = poolNoise([samples.get(`${noise.neighbor}/${noise.signal}`)!])!
      expect(noise.sd).toBeCloseTo(pooled.sd, 12)
      expect(noise.margin).toBeCloseTo(pooled.margin, 12)
      expect(result.stdout).toMatch(new RegExp(`^  ${noise.neighbor} ${noise.signal} +sd ${noise.sd.toFixed(3)}  margin ${noise.margin.toFixed(3)}`, 'm'))
    }
    expect(calibration.aa.secondsPerPair).toBeGreaterThan(2)
    expect(result.stdout).toMatch(/^needs: (contained at no change after \d+ pairs, \d+ s of measuring|no number of pairs)/m)
    if (calibration.needs.median) expect(calibration.needs.median.seconds).toBeCloseTo(calibration.needs.median.pairs * calibration.aa.secondsPerPair!, 6)

    // the spike-in: the API's own box held to 0.1 CPU in each fault-on block, the experiment's fault not started
    expect(calibration.spike).toMatchObject({neighbor: 'api', quota: 0.1})
    const spike = journal(calibration.spike!.runs[0].runId)
    expect(spike.plan.join('\n')).toContain('spike-in: each fault-on block holds neighbour api to 0.1 CPU')
    expect(spike.injection.efficacy?.note).toMatch(/neighbour api held to 0\.10 CPU \(10000\/100000 us\)/)
    expect(spike.injection.events.join('\n')).not.toMatch(/cpu/)
    const p95 = spike.neighbors[0].signals.find((s) => s.signal === 'latency_p95')!
    expect(calibration.spike!.runs[0].signals.find((s) => s.signal === 'latency_p95')?.change).toBe(p95.change)
    expect(result.stdout).toMatch(new RegExp(`^  run ${spike.runId}: ${spike.verdict}; realised at quota 0\\.1 CPU: .*latency_p95 `, 'm'))

    // every run cleaned up after itself
    for (const id of [...calibration.aa.runIds, spike.runId]) {
      expect(await waitForNoLeftovers(id, 2000)).toEqual([])
      expect(existsSync(join(state, 'runs', `${id}.json`))).toBe(false)
    }

    const dry = await chaos(['run', file, '--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/^expected time to a decision \(calibrated .* 1 A\/A runs, \d false breach\(es\)\): /m)
  })
})
