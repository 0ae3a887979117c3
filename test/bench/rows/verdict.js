// Row 8: verdict quality, on the run's own engine. A real demo workload (`chaos workload --slowdown-file F`) is
// probed open-loop at 100 req/s by the toolkit's RemoteProbe (the probe in a process of its own, as a run's
// observer starts it) for one long recording with nothing changed. Sequential trials are then laid on that
// recording exactly as the runner measures them: the design from planDesign (blocks, seeded on/off order in pairs,
// settle after every block, the runner's start-up allowance, budget, looks at planned pair counts with
// Lan-DeMets boundaries); at each planned look every block is cut by extractSignal (failures counted as taking the
// whole timeout) and judged by look() (judgeBlocks' three-way rule); a trial stops when decided, when every look
// was made or when the budget is spent. Each trial takes a disjoint stretch of the recording, the next starts
// where it stopped.
// - A/A: nothing differs between the arms: a breach is a false breach.
// - Spike-ins at the threshold L and at 2L: the same stretches with every fault-on block's samples × (1 + L) or
//   × (1 + 2L). The block statistic (a quantile) is then exactly (1 + L) times what the A/A trial saw, so the true
//   change is exactly L (2L), on real noise. At L both wrong verdicts are measured (breach, and contained); at 2L
//   the power.
// What this is not: the whole runner. No stressor starts or stops, no toolkit work stalls the machine at block
// edges; those are measured by `chaos calibrate` and by A/A runs of the experiments themselves.
// CHAOS_BENCH_LOAD=1: the same with `stress-ng --cpu 1 --cpu-load 50` running beside it the whole time (its lines
// are reported as row "8 loaded"). CHAOS_BENCH_RECORD_S: the recording's length (more trials, narrower intervals).
// Live (full mode; CHAOS_BENCH_LIVE_S): trials in which the workload really runs slower in the fault-on blocks, at
// a factor searched for +100% p99, the realised change measured. CHAOS_BENCH_SAVE=FILE keeps the recording,
// CHAOS_BENCH_REPLAY=FILE judges a kept one again without measuring.
// On the real runner (full mode; CHAOS_BENCH_RUNNER_RUNS=N, 0 for none): `chaos calibrate` on the main job's own file
// (experiments/memory-leak.yaml), N A/A runs at its null dose and N runs at each exact shift of the API's fault-on
// latencies (+25%, +50%, +100%: each hypothesis's threshold and twice it), every one a whole run of the runner
// with its stressors, looks and stopping rule; its lines are row "8 runner" ("8 runner loaded" with the load).
// CHAOS_BENCH_RUNNER_ONLY=1 runs that part alone (no recording: it takes hours at the counts the goals need);
// CHAOS_BENCH_RUNNER_AA=M makes its A/A arm M runs instead of N.
// CHAOS_BENCH_RUNNER_FROM=PATH summarises a calibration made by that command instead of running one: a directory
// as this row leaves it (calibration.json, journals/), or a calibration file alone (rates only: the measuring
// times are read from the journals); CHAOS_BENCH_LOAD=1 beside it says the calibration was made under the load.
// PATH,PATH... reads several as one: their A/A runs pooled, their shifts side by side, a shift counted in several
// (a count made in parts) one family, its runs pooled (with their journals: its realised change is over their pairs).
// CHAOS_BENCH_RUNNER_AA_FROM=FILE,FILE... adds a false-breach line from the A/A calibrations of the experiments' own
// files (scripts/calibrate-experiments.js), pooled: the goal's 5% needs 72 runs without a breach, more than one file's.
// CHAOS_BENCH_RUNNER_SIGNAL=latency_p99 (or latency_p95) rates that hypothesis alone: the calibration is of a copy
// of the main job's file with the other latency hypothesis left out, so that no other signal's breach stops a run
// first, shifted to that threshold and twice it; its lines are row "8 runner p99" (and "... loaded").
// CHAOS_BENCH_RUNNER_KEEP=DIR keeps the calibration the part makes (calibration.json, journals/) in DIR, to be
// reported again with CHAOS_BENCH_RUNNER_FROM=DIR. CHAOS_BENCH_RUNNER_SHIFTS=20,25,44,50 asks those shifts (percent) instead
// of each threshold and twice it: on a busy machine the null dose adds its own harm, and a family is rated where
// its change was realised. CHAOS_BENCH_RUNNER_SHIFT_DOSE=none starts nothing in the shifted runs' fault-on blocks
// (`chaos calibrate --shift-dose none`): the shift is then the whole change, which is how the rule's errors at a
// threshold are counted where the null dose's own cost moves from run to run (the busy machine).
// CHAOS_BENCH_RUNNER_BUDGET=2m30s measures each run for at most that (`chaos calibrate --budget`) instead of the main
// job's own verdict.budget: a count made in parts and read as one (CHAOS_BENCH_RUNNER_FROM=A,B) must be made alike,
// and a run at the threshold mostly goes on to its budget.
import {existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parse as parseYaml, stringify as stringifyYaml} from 'yaml'
import {VerdictSettings} from '../../../dist/experiment/schema.js'
import {packRecord, unpackRecord} from '../../../dist/metrics/probe-protocol.js'
import {RemoteProbe} from '../../../dist/metrics/remote-probe.js'
import {planDesign} from '../../../dist/run/design.js'
import {look} from '../../../dist/run/judging.js'
import {extractSignal} from '../../../dist/run/signals.js'
import {blockValue} from '../../../dist/verdict/judge-blocks.js'
import {studentTQuantile} from '../../../dist/verdict/sequential.js'
import {clopperPearson as exactInterval, poolAa, ratedShift, realisedChange as realisedOverRuns} from '../../../dist/calibrate/report.js'
import {SHIFT_DOSES} from '../../../dist/calibrate/shift.js'
import {wilsonInterval} from '../../../dist/verdict/stats.js'
import {PORTS, sleep, verdictRowId, waitFor, waitHttp} from '../lib.js'

const RATE = 100
const TIMEOUT_MS = 2000
const INTERVAL_MS = 1000
/** the runner's allowance for a stressor to start, per pair (design.ts pairMs): a fault-on block starts after it */
const STARTUP_MS = 500
const HYPOTHESES = [
  {signal: 'latency_p99', max_increase: 0.5},
  {signal: 'latency_p95', max_increase: 0.25},
]
const LOAD = ['--cpu', '1', '--cpu-load', '50']

export async function run({tracker, pick, mode, root, log}) {
  const loaded = process.env.CHAOS_BENCH_LOAD === '1'
  const runnerRuns = process.env.CHAOS_BENCH_RUNNER_RUNS !== undefined ? Number(process.env.CHAOS_BENCH_RUNNER_RUNS) : pick({smoke: 0, quick: 0, full: 20})
  if (process.env.CHAOS_BENCH_RUNNER_ONLY === '1') {
    if (!(runnerRuns > 0) && !process.env.CHAOS_BENCH_RUNNER_FROM) throw new Error('CHAOS_BENCH_RUNNER_ONLY=1 needs CHAOS_BENCH_RUNNER_RUNS=N (N > 0) or CHAOS_BENCH_RUNNER_FROM')
    const runner = await runnerTrials({tracker, root, runs: runnerRuns, loaded, log})
    // reported under the runner's own id, which the notes' prefix would repeat
    return {lines: runner.lines, notes: runner.notes.map((note) => note.replace(/^row 8 runner: /, '')), id: runner.id}
  }
  const recordMs = process.env.CHAOS_BENCH_RECORD_S ? Number(process.env.CHAOS_BENCH_RECORD_S) * 1000 : pick({smoke: 30_000, quick: 95_000, full: 1_800_000})
  // the live part, the workload slowed on purpose in the fault-on blocks (0: none; quick mode has no time for it)
  const liveMs = process.env.CHAOS_BENCH_LIVE_S ? Number(process.env.CHAOS_BENCH_LIVE_S) * 1000 : pick({smoke: 15_000, quick: 0, full: 600_000})
  // the experiment's defaults; quick and smoke spend less, so that a trial fits their short recording
  const settings = {...VerdictSettings.parse({}), ...pick({smoke: {block: 1000, settle: 0, budget: 12_000}, quick: {budget: 60_000}, full: {}})}
  // a fault that does not end itself (a CPU hog): fixed blocks, which the spike-in scales exactly
  const experiment = {verdict: settings, metrics: {source: 'embedded'}, fault: {type: 'cpu-hog', cores: 1}}

  // CHAOS_BENCH_REPLAY=FILE judges a recording saved by CHAOS_BENCH_SAVE=FILE (no workload, no live part):
  // the engine re-judged on the same noise, e.g. after a change to the rule
  const saved = process.env.CHAOS_BENCH_REPLAY ? JSON.parse(readFileSync(process.env.CHAOS_BENCH_REPLAY, 'utf8')) : await measure()
  const {recording, lagged, live} = saved
  const recorded = saved.records.map(unpackRecord)
  if (process.env.CHAOS_BENCH_SAVE) writeFileSync(process.env.CHAOS_BENCH_SAVE, JSON.stringify({recording, lagged, records: recorded.map(packRecord)}))
  const observer = recordedObserver(recorded)
  const failed = recorded.filter((r) => !r.ok)

  async function measure() {
    const file = join(tracker.tempDir(), 'slowdown')
    writeFileSync(file, '1\n')
    const base = `http://127.0.0.1:${PORTS.workload}`
    const load = loaded ? tracker.child('stress-ng', [...LOAD, '--quiet']) : undefined
    const workload = tracker.child(process.execPath, [join(root, 'bin/run.js'), 'workload', '--port', String(PORTS.workload), '--slowdown-file', file])
    const probe = new RemoteProbe({url: `${base}/work`, rate: RATE, timeoutMs: TIMEOUT_MS, neighbor: 'demo', intervalMs: INTERVAL_MS})
    const setFactor = async (factor) => {
      writeFileSync(file, `${factor}\n`)
      // the dose has landed when the workload says it runs at this factor (it re-reads the file every second)
      await waitFor(`the workload to take slowdown ${factor}`, async () => {
        const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => '')
        return Math.abs(Number(/^workload_slowdown_factor (\S+)$/m.exec(text)?.[1]) - factor) < 1e-9
      }, 5000, 100)
    }
    let recording
    let live
    try {
      await waitHttp(`${base}/healthz`)
      probe.start()
      await sleep(pick({smoke: 1000, quick: 3000, full: 5000})) // JIT warm-up, as a run's warm-up phase
      const from = Date.now()
      log(`recording ${recordMs / 1000} s of A/A${loaded ? ` beside stress-ng ${LOAD.join(' ')}` : ''}...`)
      await sleep(recordMs)
      recording = {from, to: Date.now()}
      if (liveMs > 0) live = await liveTrials({experiment, settings, probe, setFactor, liveMs, log, steps: pick({smoke: 1, quick: 3, full: 5})})
    } finally {
      await probe.stop()
      await tracker.stopChild(workload, 3000)
      if (load) await tracker.stopChild(load, 2000)
    }
    if (load && load.exitCode !== null && load.exitCode !== 0 && load.signalCode === null) throw new Error(`stress-ng ended early (exit ${load.exitCode})`)

    const records = probe.records(recording.from, recording.to).map(packRecord)
    return {recording, lagged: probe.lag(recording.from, recording.to).filter((i) => i.lagged).length, live, records}
  }
  const families = []
  for (const h of HYPOTHESES) {
    const L = h.max_increase
    for (const [kind, factor] of [['aa', 1], ['threshold', 1 + L], ['twice', 1 + 2 * L]]) {
      families.push({h, kind, factor, trials: await tile(experiment, recording, observer, h, factor, `${h.signal}/${kind}`)})
    }
  }
  for (const f of families) log(`${f.h.signal} +${f.h.max_increase * 100}%, ${f.kind} (×${f.factor}): ${describe(f.trials)}`)

  const suffix = loaded ? ` — beside stress-ng ${LOAD.join(' ')}` : ''
  const id = verdictRowId({loaded})
  const lines = []
  for (const h of HYPOTHESES) {
    const L = h.max_increase
    const [aa, atL, at2L] = ['aa', 'threshold', 'twice'].map((kind) => families.find((f) => f.h === h && f.kind === kind).trials)
    const name = `${h.signal} max_increase ${L * 100}%`
    lines.push(
      rateLine(`A/A, ${name}: false breach${suffix}`, aa, 'breach', {atMost: 5}),
      rateLine(`spike-in ×${1 + L} (exactly at the threshold), ${name}: breach (wrong)${suffix}`, atL, 'breach', {atMost: 10}),
      rateLine(`spike-in ×${1 + L} (exactly at the threshold), ${name}: contained (wrong)${suffix}`, atL, 'contained', {atMost: 10}),
      rateLine(`spike-in ×${1 + 2 * L} (twice the threshold), ${name}: power (breach)${suffix}`, at2L, 'breach', {atLeast: 90}),
    )
    if (h === HYPOTHESES[0]) {
      lines.push(
        {what: `A/A, ${name}: measuring time to a decision (decided trials)${suffix}`, unit: 's', ours: decidedSeconds(aa), peer: '-', goal: '-'},
        {what: `spike-in ×${1 + 2 * L}, ${name}: measuring time to a breach${suffix}`, unit: 's', ours: decidedSeconds(at2L, 'breach'), peer: '-', goal: '-'},
      )
    }
  }
  if (live) {
    const target = 2 * HYPOTHESES[0].max_increase
    const realised = `realised p99 change ${pctSigned(live.realised.change)} (95% CI ${pctSigned(live.realised.low)} … ${pctSigned(live.realised.high)}, ${live.realised.n} pairs)`
    const line = rateLine(`the workload slowed on purpose (×${live.factor}, calibrated for +${target * 100}% p99; ${realised}), latency_p99 max_increase 50%: breach${suffix}`, live.trials, 'breach', {atLeast: 90})
    // the power goal holds at twice the threshold: judged only when the realised shift got there
    if (!(live.realised.change >= target)) Object.assign(line, {goal: '-', check: undefined})
    lines.push(line)
  }
  for (const line of lines) line.id = id
  const runner = (runnerRuns > 0 || process.env.CHAOS_BENCH_RUNNER_FROM) && !process.env.CHAOS_BENCH_REPLAY ? await runnerTrials({tracker, root, runs: runnerRuns, loaded, log}) : undefined
  if (runner) lines.push(...runner.lines)

  const noise = pairNoise(observer, recording, settings, 'latency_p99')
  const notes = [
    `${mode} mode: ${((recording.to - recording.from) / 1000).toFixed(0)} s ${process.env.CHAOS_BENCH_REPLAY ? 'replayed from a saved recording' : 'recorded'} at ${RATE} req/s (${recorded.length} requests, ${failed.length} failed, ${failed.filter((r) => r.error === 'timeout').length} of them timed out; ${lagged} of ${Math.round((recording.to - recording.from) / INTERVAL_MS)} one-second intervals with the instrument lagging > 25 ms)${suffix}; trials as the runner measures: blocks of ${settings.block / 1000} s, settle ${settings.settle / 1000} s, ${STARTUP_MS / 1000} s start-up allowance, first look after ${settings.firstLook} pairs then every ${settings.lookEvery}, ${settings.spending} spending at alpha ${settings.alpha}, budget ${settings.budget / 1000} s (${planDesign(experiment, 'x').maxPairs} pairs)`,
    `each trial a disjoint stretch of the one A/A recording; spike-ins are the same recording with the fault-on blocks' samples × (1 + L): an exact, known shift on real noise, not a slowed workload; not the whole runner (no stressor starts or stops); the runner's own A/A is \`chaos calibrate\``,
    `per pair, ln(on p99 / off p99) in A/A: sd ${noise.sd.toFixed(3)} over ${noise.n} pairs${noise.n > 0 ? `; the p99 threshold is ln 1.5 = ${Math.log(1.5).toFixed(3)}` : ''}`,
    ...(live ? [`live: ${live.note}; ${describe(live.trials)}`] : []),
    ...(runner ? runner.notes : []),
    ...families.map((f) => `${f.h.signal} +${f.h.max_increase * 100}% ×${f.factor} (${f.kind === 'aa' ? 'A/A' : f.kind === 'threshold' ? 'at the threshold' : 'at twice it'}): ${describe(f.trials)}`),
  ]
  return {lines, notes, id}
}

// ---------------------------------------------------------------------------------------------------------------
// Trials on the real runner

const RUNNER_FILE = 'experiments/memory-leak.yaml'

/**
 * What the runner part rates: the main job's latency hypotheses, or the one CHAOS_BENCH_RUNNER_SIGNAL names alone;
 * the shifts are each one's threshold and twice it, and the id names the signal when it is rated alone.
 */
function runnerScope(loaded) {
  const only = process.env.CHAOS_BENCH_RUNNER_SIGNAL
  const hypotheses = only ? HYPOTHESES.filter((h) => h.signal === only) : HYPOTHESES
  if (hypotheses.length === 0) throw new Error(`CHAOS_BENCH_RUNNER_SIGNAL must be one of ${HYPOTHESES.map((h) => h.signal).join(', ')} (got ${only})`)
  // CHAOS_BENCH_RUNNER_SHIFTS=20,25,44,50 (percent): shifts asked off the thresholds, to make up for the null
  // dose's own effect on a busy machine; a family is rated where its change was realised (calibrate's ratedShift)
  const asked = process.env.CHAOS_BENCH_RUNNER_SHIFTS?.split(',').map((x) => Number(x) / 100)
  if (asked?.some((x) => !(x > 0))) throw new Error(`CHAOS_BENCH_RUNNER_SHIFTS must be positive percentages, comma-separated (got ${process.env.CHAOS_BENCH_RUNNER_SHIFTS})`)
  const shifts = asked ?? [...new Set(hypotheses.flatMap((h) => [h.max_increase, 2 * h.max_increase]))].sort((a, b) => a - b)
  const id = verdictRowId({runner: true, signal: only, loaded})
  return {only, hypotheses, shifts, id}
}

async function runnerTrials({tracker, root, runs, loaded, log}) {
  const scope = runnerScope(loaded)
  const {hypotheses} = scope
  const made = process.env.CHAOS_BENCH_RUNNER_FROM ? readRunnerCalibration(process.env.CHAOS_BENCH_RUNNER_FROM, scope, log) : await runCalibration({tracker, root, runs, loaded, scope, log})
  const {calibration} = made
  // a run's journal: in the directory of the calibration it came from, when that one kept them
  const hasJournals = (family) => journaled(family, made.journalDirs)
  const journal = (id) => JSON.parse(readFileSync(join(made.journalDirs.get(id), `${id}.json`), 'utf8'))
  /** the counts of a family as trials, when its journals are not at hand: no measuring time */
  const fromCounts = ({contained = 0, breach = 0, inconclusive = 0, aborted = 0}) =>
    [...Array(contained).fill('contained'), ...Array(breach).fill('breach'), ...Array(inconclusive + aborted).fill('inconclusive')].map((verdict) => ({verdict}))
  /** one trial per run: the run's verdict (signal undefined) or one signal's of the shifted neighbour */
  const trialsOf = (family, signal) => {
    if (!hasJournals(family)) return fromCounts(signal === undefined ? family.verdicts : family.signals.find((x) => x.signal === signal).verdicts)
    return family.runIds.map((id) => {
      const j = journal(id)
      const blocks = j.design?.blocks ?? []
      const verdict = signal === undefined ? j.verdict : j.neighbors.find((n) => n.name === 'api')?.signals.find((x) => x.signal === signal)?.verdict
      return {
        verdict: verdict === 'breach' || verdict === 'contained' ? verdict : 'inconclusive',
        pairs: j.design?.looks?.at(-1)?.pairs ?? 0,
        seconds: blocks.length ? (Date.parse(blocks.at(-1).end) - Date.parse(blocks[0].start)) / 1000 : 0,
      }
    })
  }
  /** the change the runs of a family really saw on a signal (src/calibrate/report.ts realisedChange), from its journals */
  const realisedOf = (family, signal) => hasJournals(family) ? realisedOverRuns(family.runIds.map(journal), 'api', signal) : family.signals?.find((x) => x.signal === signal)?.realised ?? undefined
  const signed1 = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
  const describeRealised = (r) => r ? `realised ${signed1(r.change)} (95% CI ${signed1(r.low)} … ${signed1(r.high)}, ${r.pairs} pairs of ${r.runs} runs)` : undefined
  const suffix = loaded ? ` — beside stress-ng ${LOAD.join(' ')}` : ''
  const aa = trialsOf(calibration.aa)
  const lines = [
    rateLine(`runner, ${RUNNER_FILE} A/A (null dose): false breach (the run's verdict)${suffix}`, aa, 'breach', {atMost: 5}),
    ...(hasJournals(calibration.aa) ? [{what: `runner, A/A: measuring time to a decision (decided runs)${suffix}`, unit: 's', ours: decidedSeconds(aa), peer: '-', goal: '-'}] : []),
  ]
  // the false-breach goal carried by the A/A runs of every experiment's own file, pooled (no one file's runs can)
  const pooledAa = process.env.CHAOS_BENCH_RUNNER_AA_FROM ? readPooledAa(process.env.CHAOS_BENCH_RUNNER_AA_FROM, log) : undefined
  if (pooledAa) {
    const {pooled, names} = pooledAa
    // an aborted run judged nothing: out of the count, as in each calibration's own false-breach rate
    lines.push(rateLine(`runner, A/A of ${names.length} experiments' own files at their null doses, pooled (${names.join(', ')}): false breach (the run's verdict)${suffix}`,
      fromCounts({...pooled.verdicts, aborted: 0}), 'breach', {atMost: 5}))
  }
  const shifted = (x, dose) => calibration.shift.find((s) => Math.abs(s.shift - x) < 1e-9 && doseOf(s) === dose)
  /**
   * The runs of a signal at `target` (its threshold, or twice it): those of the shift asked there with nothing
   * injected (the change is the shift, whatever the null dose costs), else those of a shift asked off it whose
   * change was realised there (made up for the null dose's own effect on a busy machine), else those asked there
   */
  const familyAt = (target, h) => shifted(target, 'none') ??
    calibration.shift.find((s) => Math.abs(s.shift - target) > 1e-9 && ratedShift(s.shift, realisedOf(s, h.signal) ?? null, h.max_increase) === target) ?? shifted(target, 'null')
  const asked = (family) => `×${+(1 + family.shift).toFixed(4)}${doseOf(family) === 'none' ? ', nothing injected' : ''}`
  const missing = []
  for (const h of hypotheses) {
    const L = h.max_increase
    const name = `${h.signal} max_increase ${L * 100}%`
    const [familyL, family2L] = [familyAt(L, h), familyAt(2 * L, h)]
    // a calibration of one shift (a count added at one threshold) rates what it holds; the rest is said, not thrown:
    // a throw made the bench retry the row, and the retry refused the kept calibration it had just made
    if (!familyL) missing.push(`${h.signal}: no runs at or realised at its threshold (+${L * 100}%)`)
    if (!family2L) missing.push(`${h.signal}: no runs at or realised at twice its threshold (+${2 * L * 100}%)`)
    const at = (r) => r ? `, ${describeRealised(r)}` : ''
    // a rate is of the change the runs really saw: when it is off the target (the null dose's own harm under load
    // added to the shift; calibrate's own rule, ratedShift), the lines are reported, not judged
    const off = (family, realised, target) => ratedShift(family.shift, realised ?? null, L) !== target
    if (familyL) {
      const atL = trialsOf(familyL, h.signal)
      const realisedL = realisedOf(familyL, h.signal)
      const threshold = [
        rateLine(`runner, shift ${asked(familyL)} (at the threshold${at(realisedL)}), ${name}: breach (wrong)${suffix}`, atL, 'breach', {atMost: 10}),
        rateLine(`runner, shift ${asked(familyL)} (at the threshold${at(realisedL)}), ${name}: contained (wrong)${suffix}`, atL, 'contained', {atMost: 10}),
      ]
      if (off(familyL, realisedL, L)) for (const line of threshold) Object.assign(line, {goal: '- (the realised change is not at the threshold)', check: undefined})
      lines.push(...threshold)
    }
    if (family2L) {
      // a run stops at its first breach, on any signal: at twice this signal's threshold the user is told of the harm
      // by the run's verdict, which another latency signal (beyond its own threshold by then too) may have given first
      const realised2L = realisedOf(family2L, h.signal)
      const power = rateLine(`runner, shift ${asked(family2L)} (twice the threshold${at(realised2L)}), ${name}: power (the run's verdict breach)${suffix}`, trialsOf(family2L), 'breach', {atLeast: 90})
      if (off(family2L, realised2L, 2 * L)) Object.assign(power, {goal: '- (the realised change is not twice the threshold)', check: undefined})
      lines.push(power)
    }
    // the other families whose runs realised a change below this signal's threshold (a shift asked to make up for
    // the null dose that fell short of it): their verdicts are shown where they were realised, not judged
    for (const family of calibration.shift) {
      if (family === familyL || family === family2L) continue
      const realised = realisedOf(family, h.signal)
      if (!realised || ratedShift(family.shift, realised, L) >= L) continue
      const trials = trialsOf(family, h.signal)
      const where = `below the threshold${at(realised)}`
      lines.push(
        Object.assign(rateLine(`runner, shift ${asked(family)} (${where}), ${name}: breach (wrong)${suffix}`, trials, 'breach', {atMost: 10}), {goal: '- (below the threshold)', check: undefined}),
        Object.assign(rateLine(`runner, shift ${asked(family)} (${where}), ${name}: contained (right)${suffix}`, trials, 'contained', {atLeast: 0}), {goal: '- (below the threshold)', check: undefined}),
      )
    }
  }
  const runnerId = scope.id
  for (const line of lines) line.id = runnerId
  const notes = [
    `row 8 runner: ${made.how}${suffix}: each trial a whole run of the runner (the leak's null dose started and stopped in every fault-on block, the looks, the stopping rule, Holm's correction); a shift multiplies the API's latencies in the fault-on blocks by exactly 1 + shift on the run's own noise, on top of what the null dose itself does (the realised change, on each line, is what the runs saw)${calibration.shift.some((f) => doseOf(f) === 'none') ? '; a family "nothing injected" (--shift-dose none) starts nothing in its fault-on blocks, so its change is the shift alone' : ''}`,
    `row 8 runner: A/A ${describe(aa)}`,
    ...(missing.length ? [`row 8 runner: not rated, the calibration holds no such runs: ${missing.join('; ')}`] : []),
    ...(pooledAa ? [`row 8 runner: A/A pooled over the experiments' own files (CHAOS_BENCH_RUNNER_AA_FROM; each \`chaos calibrate FILE --runs N --spikes 0\`, as scripts/calibrate-experiments.js runs it): ${pooledAa.each.join('; ')}; the final interval held no change in ${pooledAa.pooled.coverage.map((c) => `${c.covered}/${c.of} (${c.signal})`).join(', ')}`] : []),
    ...calibration.shift.flatMap((family) => [
      `row 8 runner: shift +${+(family.shift * 100).toFixed(2)}%${doseNote(family)}, the run's verdict: ${describe(trialsOf(family))}`,
      ...hypotheses.map((h) => `row 8 runner: shift +${+(family.shift * 100).toFixed(2)}%${doseNote(family)}, ${h.signal} (max_increase ${h.max_increase * 100}%): ${describe(trialsOf(family, h.signal))}`),
    ]),
  ]
  return {lines, notes, id: runnerId}
}

/** What a family's fault-on blocks started: the null dose, or nothing (calibrations before --shift-dose: the null dose). */
const doseOf = (family) => family.dose ?? 'null'
const doseNote = (family) => (doseOf(family) === 'none' ? ' (nothing injected)' : '')

/** CHAOS_BENCH_RUNNER_SHIFT_DOSE: what the shifted runs' fault-on blocks start (chaos calibrate --shift-dose) */
function shiftDoseAsked() {
  const dose = process.env.CHAOS_BENCH_RUNNER_SHIFT_DOSE ?? 'null'
  if (!SHIFT_DOSES.includes(dose)) throw new Error(`CHAOS_BENCH_RUNNER_SHIFT_DOSE must be one of ${SHIFT_DOSES.join(', ')} (got ${dose})`)
  return dose
}

/** `chaos calibrate` on the main job's file as row 8's runner part asks: its calibration and journals */
async function runCalibration({tracker, root, runs, loaded, scope, log}) {
  // the A/A arm may be smaller (CHAOS_BENCH_RUNNER_AA): the false-breach line is carried sooner by the pooled A/A
  // runs of every experiment's own file (scripts/calibrate-experiments.js), and a run here is 45 s of the machine
  const aaRuns = process.env.CHAOS_BENCH_RUNNER_AA !== undefined ? Number(process.env.CHAOS_BENCH_RUNNER_AA) : runs
  if (!Number.isInteger(aaRuns) || aaRuns < 1) throw new Error(`CHAOS_BENCH_RUNNER_AA must be a whole number of runs, at least 1 (got ${process.env.CHAOS_BENCH_RUNNER_AA})`)
  const RUNNER_SHIFTS = scope.shifts
  const dose = shiftDoseAsked()
  const keep = process.env.CHAOS_BENCH_RUNNER_KEEP
  if (keep && existsSync(join(keep, 'calibration.json'))) throw new Error(`CHAOS_BENCH_RUNNER_KEEP: ${keep} holds a calibration already; name a new directory`)
  const dir = keep ?? tracker.tempDir()
  if (keep) mkdirSync(keep, {recursive: true})
  const output = join(dir, 'calibration.json')
  const journals = join(dir, 'journals')
  const file = scope.only ? singleSignalCopy(root, dir, scope.only) : join(root, RUNNER_FILE)
  const load = loaded ? tracker.child('stress-ng', [...LOAD, '--quiet']) : undefined
  const args = [join(root, 'bin/run.js'), 'calibrate', file, '--runs', String(aaRuns), '--spikes', '0',
    ...RUNNER_SHIFTS.flatMap((x) => ['--shift', `${x * 100}%`]), '--shift-runs', String(runs), '--shift-dose', dose, '-o', output, '--journals', journals,
    ...(process.env.CHAOS_BENCH_RUNNER_BUDGET ? ['--budget', process.env.CHAOS_BENCH_RUNNER_BUDGET] : [])]
  log(`the real runner: ${aaRuns} A/A runs of ${scope.only ? `a copy of ${RUNNER_FILE} rating ${scope.only} alone` : RUNNER_FILE} and ${runs} at each of ${RUNNER_SHIFTS.map((x) => `+${x * 100}%`).join(', ')} (about ${Math.round((aaRuns * 45 + runs * (RUNNER_SHIFTS.length * 45 + 120)) / 60)} min: a run at a threshold goes on to the budget)${keep ? `, kept in ${keep}` : ''}...`)
  let result
  try {
    result = await tracker.child(process.execPath, args, {env: {NO_COLOR: '1'}}).done
  } finally {
    if (load) await tracker.stopChild(load, 2000)
  }
  if (result.code !== 0) throw new Error(`chaos calibrate exited ${result.code}: ${result.stderr.slice(-2000)}`)
  const how = `\`chaos calibrate ${scope.only ? `COPY` : RUNNER_FILE} --runs ${aaRuns} --spikes 0 ${RUNNER_SHIFTS.map((x) => `--shift ${x * 100}%`).join(' ')} --shift-runs ${runs}${dose === 'none' ? ' --shift-dose none' : ''}\`${scope.only ? `, COPY ${RUNNER_FILE} with ${scope.only} its only latency hypothesis` : ''}${keep ? `, kept in ${keep}` : ''}`
  const calibration = JSON.parse(readFileSync(output, 'utf8'))
  return {calibration, journalDirs: journalDirsOf(calibration, journals), how}
}

/**
 * The main job's file with `signal` its only latency hypothesis (the others, error rate and restarts, kept), written
 * into `dir` under the main job's own name: a run then stops at that signal's breach and no other's.
 */
function singleSignalCopy(root, dir, signal) {
  const experiment = parseYaml(readFileSync(join(root, RUNNER_FILE), 'utf8'))
  const latency = new Set(HYPOTHESES.map((h) => h.signal))
  experiment.hypothesis = experiment.hypothesis.filter((h) => !latency.has(h.signal) || h.signal === signal)
  const wanted = HYPOTHESES.find((h) => h.signal === signal)
  const kept = experiment.hypothesis.find((h) => h.signal === signal)
  // the bench rates the threshold it knows: a main job whose threshold moved must move HYPOTHESES with it
  if (!kept || parseFloat(kept.max_increase) / 100 !== wanted.max_increase) throw new Error(`${RUNNER_FILE}: ${signal} is not max_increase ${wanted.max_increase * 100}% as row 8 rates it`)
  const file = join(dir, 'memory-leak.yaml')
  writeFileSync(file, `# ${RUNNER_FILE} with ${signal} its only latency hypothesis (bench row 8's runner part)\n${stringifyYaml(experiment)}`)
  return file
}

/** Whether every run of a family has its journal at hand (journalDirs: run id to directory). */
function journaled(family, journalDirs) {
  return family.runIds?.length > 0 && family.runIds.every((id) => journalDirs.has(id))
}

/** Where each run's journal lies: every run id of a calibration (A/A and shifts) to its journals directory, if any. */
function journalDirsOf(calibration, journals) {
  if (!journals) return new Map()
  return new Map([calibration.aa, ...(calibration.shift ?? [])].flatMap((family) => (family.runIds ?? []).map((id) => [id, journals])))
}

/**
 * Calibrations made earlier by the same command (CHAOS_BENCH_RUNNER_FROM, comma-separated): each a directory holding
 * calibration.json and journals/, or a calibration file alone. Refused unless each is of the main job's file and
 * judged the latency signals rated. Several are one calibration: their A/A runs pooled and their shifts side by
 * side (on a busy machine, a shift made up for the null dose at the threshold in one, twice it in another); the
 * same shift counted in several (a count too long for one sitting, made in parts) is one family, its runs pooled,
 * which needs their journals: its realised change is pooled over the runs' pairs, not over two summaries.
 */
function readRunnerCalibration(paths, scope, log) {
  const read = paths.split(',').filter(Boolean).map((path) => readOneCalibration(path, scope, log))
  const journalDirs = new Map(read.flatMap(({calibration, journals}) => [...journalDirsOf(calibration, journals)]))
  if (read.length === 1) return {calibration: read[0].calibration, journalDirs, how: read[0].how}
  const aas = read.map((r) => r.calibration.aa)
  const aa = {...poolFamilies(aas), runs: aas.reduce((a, x) => a + x.runs, 0)}
  const byShift = new Map()
  // one family per shift and dose: runs with the null dose and with nothing injected did not see the same change
  for (const family of read.flatMap((r) => r.calibration.shift)) {
    const key = `+${+(family.shift * 100).toFixed(6)}%${doseNote(family)}`
    byShift.set(key, [...(byShift.get(key) ?? []), family])
  }
  const shift = [...byShift.entries()].map(([percent, families]) => {
    if (families.length === 1) return families[0]
    if (!families.every((f) => journaled(f, journalDirs))) {
      throw new Error(`CHAOS_BENCH_RUNNER_FROM: shift ${percent} is counted in ${families.length} calibrations; they are read as one only with their journals (its realised change is pooled over the runs' pairs)`)
    }
    const merged = poolFamilies(families)
    // per signal: the counts summed; the realised change is read again from the journals of all the runs
    const signals = families[0].signals.map((g) => ({signal: g.signal, threshold: g.threshold, verdicts: poolFamilies(families.map((f) => f.signals.find((x) => x.signal === g.signal))).verdicts, realised: null}))
    return {...families[0], ...merged, runs: families.reduce((a, f) => a + f.runs, 0), signals}
  })
  const calibration = {...read[0].calibration, aa, shift}
  return {calibration, journalDirs, how: read.map((r) => r.how).join('; and ')}
}

/** Several counts of one family (A/A, one shift, one signal of it) as one: verdicts summed, run ids joined. */
function poolFamilies(families) {
  const verdicts = Object.fromEntries(['contained', 'breach', 'inconclusive', 'aborted'].map((v) => [v, families.reduce((a, f) => a + (f.verdicts?.[v] ?? 0), 0)]))
  return {verdicts, runIds: families.flatMap((f) => f.runIds ?? [])}
}

/**
 * A/A calibrations of the experiments' own files (CHAOS_BENCH_RUNNER_AA_FROM, comma-separated calibration files),
 * pooled as scripts/pool-calibrations.js pools them. Refused when one has no A/A runs or is given twice.
 */
function readPooledAa(paths, log) {
  const files = paths.split(',').filter(Boolean)
  if (new Set(files).size !== files.length) throw new Error('CHAOS_BENCH_RUNNER_AA_FROM: a calibration named twice would count its runs twice')
  const read = files.map((path) => {
    const calibration = JSON.parse(readFileSync(path, 'utf8'))
    if (!(calibration.aa?.runs > 0)) throw new Error(`CHAOS_BENCH_RUNNER_AA_FROM: no A/A runs in ${path}`)
    return calibration
  })
  log(`the real runner's A/A: ${files.length} calibrations pooled (${files.join(', ')})`)
  const names = [...new Set(read.map((c) => c.experiment.name))]
  const each = read.map((c, i) => `${c.experiment.name} ${c.aa.falseBreach.count}/${c.aa.falseBreach.of} (${files[i]}, ${c.createdAt.slice(0, 16).replace('T', ' ')}, load average at its end ${c.machine.loadAverage.map((x) => x.toFixed(2)).join(' ')})`)
  return {pooled: poolAa(read.map((c) => c.aa)), names, each}
}

function readOneCalibration(path, scope, log) {
  const dir = statSync(path).isDirectory() ? path : undefined
  const calibration = JSON.parse(readFileSync(dir ? join(dir, 'calibration.json') : path, 'utf8'))
  const file = calibration.experiment?.file ?? ''
  const copy = scope.only && file.endsWith('/memory-leak.yaml') && calibration.experiment?.name === 'memory-leak'
  if (!file.endsWith(RUNNER_FILE) && !copy) throw new Error(`CHAOS_BENCH_RUNNER_FROM: a calibration of ${file || calibration.experiment?.name}, not of ${RUNNER_FILE}`)
  if (!calibration.shift?.length) throw new Error(`CHAOS_BENCH_RUNNER_FROM: no shifted runs in ${path}`)
  // the latency signals the runs judged: all of the main job's, or the one rated alone
  const judged = new Set(calibration.shift.flatMap((s) => s.signals.map((x) => x.signal)).filter((x) => HYPOTHESES.some((h) => h.signal === x)))
  const asked = scope.hypotheses.map((h) => h.signal)
  if (judged.size !== asked.length || asked.some((x) => !judged.has(x))) {
    throw new Error(`CHAOS_BENCH_RUNNER_FROM: ${path} judged ${[...judged].join(', ')}; ${scope.only ? `rating ${scope.only} alone needs a calibration of the copy with it the only latency hypothesis` : 'the main job rates both latency hypotheses (CHAOS_BENCH_RUNNER_SIGNAL for one alone)'}`)
  }
  const journals = dir && existsSync(join(dir, 'journals')) ? join(dir, 'journals') : undefined
  const runs = calibration.shift.map((s) => s.runs)
  const load = calibration.machine.loadAverage.map((x) => x.toFixed(2)).join(' ')
  log(`the real runner: the calibration in ${path} (${calibration.createdAt}), ${journals ? 'with' : 'without'} its journals`)
  const how = `the calibration finished ${calibration.createdAt.slice(0, 16).replace('T', ' ')} on ${calibration.machine.hostname} (load average at its end ${load}) by ` +
    `\`chaos calibrate ${copy ? 'COPY' : RUNNER_FILE} --runs ${calibration.aa.runs} --spikes 0 ${calibration.shift.map((s) => `--shift ${+(s.shift * 100).toFixed(2)}%`).join(' ')} --shift-runs ${Math.max(...runs)}${calibration.shift.some((f) => doseOf(f) === 'none') ? ' --shift-dose none' : ''}\`${copy ? `, COPY ${RUNNER_FILE} with ${scope.only} its only latency hypothesis` : ''}, read from ${path}${journals ? '' : calibration.shift.some((f) => f.signals.some((g) => g.realised)) ? ' (no journals: rates and realised changes, no measuring times)' : ' (no journals: rates only)'}`
  return {calibration, journals, how}
}

// ---------------------------------------------------------------------------------------------------------------
// Trials on the recording

/** An observer as extractSignal reads it, over the recorded requests (kept sorted; cut by binary search). */
// exported, with tile(), to re-judge a recording saved with CHAOS_BENCH_SAVE trial by trial
export function recordedObserver(records) {
  const sorted = [...records].sort((a, b) => a.t - b.t)
  const times = sorted.map((r) => r.t)
  const firstAtOrAfter = (t) => {
    let low = 0
    let high = times.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (times[middle] < t) low = middle + 1
      else high = middle
    }
    return low
  }
  return {probe: {timeoutMs: TIMEOUT_MS, records: (from, to) => sorted.slice(firstAtOrAfter(from), firstAtOrAfter(to))}}
}

/** Trials one after another over the recording, each from where the last stopped, until it runs out. */
export async function tile(experiment, recording, observer, hypothesis, factor, name) {
  const trials = []
  let t = recording.from
  for (let i = 0; ; i++) {
    const result = await trial(planDesign(experiment, `bench8/${name}/${i}`), recordedPairs(t, recording.to), observer, hypothesis, factor)
    if (!result) break
    trials.push(result)
    t = result.end
  }
  return trials
}

/** The pairs of a stretch of the recording, laid out from `start` as the runner measures them. */
function recordedPairs(start, end) {
  let t = start
  return {
    /** the next pair in this order (a fault-on block after the start-up allowance; a settle after every block), or undefined past the end */
    next(design, arms) {
      const blocks = {}
      let at = t
      for (const arm of arms) {
        if (arm === 'on') {
          blocks.on = {from: at + STARTUP_MS, to: at + STARTUP_MS + design.blockMs}
          at = blocks.on.to + design.settleMs
        } else {
          blocks.off = {from: at, to: at + design.blockMs}
          at = blocks.off.to + design.settleMs
        }
      }
      if (at > end) return undefined
      t = at
      return blocks
    },
    elapsed: () => t - start,
    end: () => t,
  }
}

/**
 * One sequential trial, as runner.ts runs the interleaved design: pairs in the design's seeded order (from a
 * recording, or measured live), the budget checked before each pair, a look at each planned pair count, and, when
 * the budget ends between looks, one last look at the stricter boundary. The fault-on blocks' samples × factor.
 * undefined when the pairs ran out before the trial ended.
 */
async function trial(design, pairs, observer, hypothesis, factor = 1) {
  const on = []
  const off = []
  const scaled = new Set()
  const extract = (_neighbor, h, window) => {
    const x = extractSignal(observer, h.signal, window, INTERVAL_MS)
    if (factor === 1 || !scaled.has(window.from) || 'unavailable' in x) return x
    return {...x, samples: {...x.samples, values: x.samples.values.map((v) => v * factor)}}
  }
  const at = (z) => look([{name: 'demo', hypotheses: [hypothesis]}], {on, off, episodes: on}, true, z, extract)
  let nextLook = 0
  let lastLook
  let lookedAt = 0
  for (let pair = 0; pair < design.maxPairs; pair++) {
    if (pairs.elapsed() + 2 * design.blockMs > design.budgetMs && on.length > 0) break
    const blocks = await pairs.next(design, design.order[pair])
    if (!blocks) return undefined
    on.push(blocks.on)
    off.push(blocks.off)
    scaled.add(blocks.on.from)
    const planned = design.looks[nextLook]
    if (planned && on.length >= planned.pairs) {
      lastLook = at(planned.z)
      lookedAt = on.length
      nextLook++
    }
    if ((lastLook && lastLook.decision !== 'undecided') || nextLook >= design.looks.length) break
  }
  if ((lastLook === undefined || lastLook.decision === 'undecided') && on.length >= 2 && lookedAt !== on.length) {
    lastLook = at(Math.max(design.looks[Math.max(0, nextLook - 1)].z, design.looks[Math.min(nextLook, design.looks.length - 1)].z))
  }
  const signal = lastLook?.signals.get('demo')?.[0]
  return {verdict: signal?.verdict ?? 'inconclusive', change: signal?.change ?? null, reason: signal?.reason, pairs: on.length, seconds: pairs.elapsed() / 1000, end: pairs.end(), on, off}
}

/** ln(on/off) of the block statistic over consecutive pairs of the whole recording: the noise a trial fights. */
function pairNoise(observer, recording, settings, signal) {
  const statistic = signal.replace('latency_', '')
  const d = []
  const pairMs = 2 * settings.block + 2 * settings.settle + STARTUP_MS
  for (let t = recording.from; t + pairMs <= recording.to; t += pairMs) {
    const value = (from) => blockValue(extractSignal(observer, signal, {from, to: from + settings.block}, INTERVAL_MS).samples, statistic)
    const a = value(t)
    const b = value(t + settings.block + settings.settle + STARTUP_MS)
    if (a > 0 && b > 0) d.push(Math.log(b / a))
  }
  const m = d.reduce((s, x) => s + x, 0) / Math.max(1, d.length)
  return {n: d.length, sd: d.length > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1)) : Number.NaN}
}

// ---------------------------------------------------------------------------------------------------------------
// Live: the workload slowed on purpose in the fault-on blocks

/** Pairs measured now: a fault-on block starts when the workload runs at the factor; a settle follows every block. */
function livePairs(setFactor, factor) {
  const start = Date.now()
  let end = start
  const block = async (ms) => {
    const from = Date.now()
    await sleep(ms)
    return {from, to: Date.now()}
  }
  return {
    async next(design, arms) {
      const blocks = {}
      for (const arm of arms) {
        if (arm === 'on') {
          await setFactor(factor)
          blocks.on = await block(design.blockMs)
          await setFactor(1)
          await sleep(design.settleMs)
        } else {
          blocks.off = await block(design.blockMs)
          await sleep(design.settleMs)
        }
      }
      end = Date.now()
      return blocks
    },
    elapsed: () => Date.now() - start,
    end: () => end,
  }
}

/** ln(on/off) of the p99 of each pair: the realised change, with a 95% t interval over the pairs. */
function realisedChange(observer, pairs) {
  const p99 = (w) => blockValue(extractSignal(observer, 'latency_p99', w, INTERVAL_MS).samples, 'p99')
  const d = pairs.map(({on, off}) => Math.log(p99(on) / p99(off))).filter(Number.isFinite)
  const m = d.reduce((a, x) => a + x, 0) / d.length
  const se = Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / (d.length - 1) / d.length)
  const t = d.length > 1 ? studentTQuantile(0.975, d.length - 1) : Number.NaN
  return {n: d.length, change: Math.exp(m) - 1, low: Math.exp(m - t * se) - 1, high: Math.exp(m + t * se) - 1}
}

/**
 * The slowdown factor for a +2L p99 change is searched first (the p99 grows faster than the CPU per request once
 * requests queue, so it is bisected on short off/on pairs, not computed), then trials run live with it until the
 * time is spent; the realised change is measured over every pair the trials used.
 */
async function liveTrials({experiment, settings, probe, setFactor, liveMs, log, steps}) {
  const target = 1 + 2 * HYPOTHESES[0].max_increase
  const pairMs = Math.max(2 * settings.block, 2000)
  // the probe itself, read as the runner's observer reads it: records stream in while the trial runs
  const observer = {probe}
  const p99 = (w) => blockValue(extractSignal(observer, 'latency_p99', w, INTERVAL_MS).samples, 'p99')
  const window = async (ms) => {
    const from = Date.now()
    await sleep(ms)
    return {from, to: Date.now()}
  }
  let low = 1
  let high = 8
  let factor = 2
  const tried = []
  for (let step = 0; step < steps; step++) {
    const off = await window(pairMs)
    await setFactor(factor)
    const on = await window(pairMs)
    await setFactor(1)
    await sleep(settings.settle)
    const ratio = p99(on) / p99(off)
    tried.push(`×${factor.toFixed(2)} → ${pctSigned(ratio - 1)}`)
    if (ratio > target) high = factor
    else low = factor
    factor = Math.sqrt(low * high)
  }
  factor = Number(factor.toFixed(2))
  log(`live: slowdown tried ${tried.join(', ')} on ${pairMs / 1000} s pairs; trials at ×${factor}`)
  const started = Date.now()
  const trials = []
  for (let i = 0; i === 0 || Date.now() - started + settings.budget <= liveMs; i++) {
    const result = await trial(planDesign(experiment, `bench8/live/${i}`), livePairs(setFactor, factor), observer, HYPOTHESES[0])
    trials.push(result)
  }
  const realised = realisedChange(observer, trials.flatMap((t) => t.on.map((on, i) => ({on, off: t.off[i]}))))
  return {factor, trials, realised, note: `slowdown ×${factor} (searched: ${tried.join(', ')}); realised p99 change over ${realised.n} pairs ${pctSigned(realised.change)} (95% CI ${pctSigned(realised.low)} … ${pctSigned(realised.high)})`}
}

// ---------------------------------------------------------------------------------------------------------------
// Rates and their intervals

/** Clopper-Pearson exact 95% interval of k events in n (chaos calibrate's own); none for no trials. */
export function clopperPearson(k, n, level = 0.95) {
  return n === 0 ? {low: 0, high: 1} : exactInterval(k, n, level)
}

const pctSigned = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%`
const pct = (x) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}%`

function counts(trials) {
  const of = (v) => trials.filter((t) => t.verdict === v).length
  return {n: trials.length, breach: of('breach'), contained: of('contained'), inconclusive: of('inconclusive')}
}

function describe(trials) {
  const c = counts(trials)
  const decided = trials.filter((t) => t.verdict !== 'inconclusive')
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
  // trials known by their counts only (a calibration without its journals) have no measuring time
  const time = decided.length && decided.every((t) => t.seconds !== undefined) ? `; decided after a median ${median(decided.map((t) => t.pairs))} pairs, ${median(decided.map((t) => t.seconds)).toFixed(0)} s of measuring` : ''
  return `${c.n} trials: ${c.breach} breach, ${c.contained} contained, ${c.inconclusive} inconclusive${time}`
}

function decidedSeconds(trials, verdict) {
  const decided = trials.filter((t) => (verdict ? t.verdict === verdict : t.verdict !== 'inconclusive')).map((t) => t.seconds)
  return decided.length ? decided : 'none decided'
}

/**
 * A rate with its goal judged on its 95% interval: met when the interval carries the claim (its upper end within an
 * at-most goal, its lower end within an at-least goal), missed when the point is on the wrong side, and "not shown"
 * when the point meets the goal but the trials are too few for the interval to carry it.
 */
function rateLine(what, trials, verdict, {atMost, atLeast}) {
  const c = counts(trials)
  const k = c[verdict]
  const cp = clopperPearson(k, c.n)
  const wilson = wilsonInterval(k, c.n)
  const text = `${k}/${c.n} ${verdict}, ${c.inconclusive} inconclusive; 95% CI ${pct(cp.low)}-${pct(cp.high)} (Clopper-Pearson), ${pct(wilson.low)}-${pct(wilson.high)} (Wilson)`
  const goal = atMost !== undefined ? `<= ${atMost}% (95% CI)` : `>= ${atLeast}% (95% CI)`
  return {
    what, unit: 'pct', ours: c.n ? [k / c.n * 100] : 'no trial fitted the recording', peer: '-', goal,
    check: () => {
      const point = k / c.n * 100
      const carried = atMost !== undefined ? cp.high * 100 <= atMost : cp.low * 100 >= atLeast
      const pointMet = atMost !== undefined ? point <= atMost : point >= atLeast
      return {met: carried ? true : pointMet ? null : false, text: carried || !pointMet ? text : `${text}; too few trials for the interval to carry the goal`}
    },
  }
}
