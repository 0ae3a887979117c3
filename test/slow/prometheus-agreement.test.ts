// A measurement (the slow project, `npm run test:slow`), not part of npm test: the same experiments run alternately
// with the embedded source and with Prometheus, N times each (2 unless CHAOS_PROMETHEUS_AGREEMENT_RUNS says),
// printing the verdicts and the p99 each source reports: across the two runs (which adds run-to-run noise) and
// within the Prometheus run (its cross-check: the toolkit's probe's own view of the very same requests). This is how the figures in docs/prometheus.md were measured:
//   CHAOS_PROMETHEUS_AGREEMENT_RUNS=4 npx vitest run --project slow test/slow/prometheus-agreement
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Experiment} from '../../src/experiment/schema.js'
import type {Journal} from '../../src/report/journal.js'
import {runExperiment} from '../../src/run/runner.js'
import {shortened} from '../helpers/experiments.js'
import {startPrometheus, type TestServer} from '../helpers/prometheus-server.js'

const RUNS = Number(process.env.CHAOS_PROMETHEUS_AGREEMENT_RUNS ?? 2)
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`CHAOS_PROMETHEUS_AGREEMENT_RUNS must be a whole number of runs, at least 1 (got ${process.env.CHAOS_PROMETHEUS_AGREEMENT_RUNS})`)
const EXPERIMENTS = (process.env.CHAOS_PROMETHEUS_AGREEMENT_EXPERIMENTS ?? 'cpu-hog-none,memory-leak').split(',')
// the experiments' own windows are longer; these keep a run under a minute while a scrape's shift of a window's edge (up to 1 s) stays small
const PHASES = {baseline: 10_000, inject: 15_000, recover: 0}

let prometheus: TestServer
beforeAll(async () => {
  prometheus = await startPrometheus()
})
afterAll(async () => {
  await prometheus?.stop()
})

function p99(journal: Journal) {
  const s = journal.neighbors[0].signals.find((x) => x.signal === 'latency_p99')
  return {baseline: s?.baseline ?? NaN, fault: s?.fault ?? NaN, own: {baseline: s?.crossCheck?.baseline ?? NaN, fault: s?.crossCheck?.fault ?? NaN}}
}

describe('embedded and Prometheus sources, side by side', () => {
  for (const name of EXPERIMENTS) {
    it(`${name}: ${RUNS} runs each`, async () => {
      const file = `experiments/prometheus/${name}.yaml`
      const rows: string[] = []
      const ratios: {baseline: number[], fault: number[]} = {baseline: [], fault: []}
      const sameRun: number[] = []
      const sameRunVerdicts = {same: 0, all: 0}
      let sameVerdicts = 0
      for (let i = 0; i < RUNS; i++) {
        const base = shortened(file, PHASES)
        const embedded = await runExperiment({experiment: {...base, metrics: {source: 'embedded'}, hypothesis: base.hypothesis.filter((h) => h.promql === undefined)}})
        const viaPrometheus = await runExperiment({experiment: {...shortened(file, PHASES), metrics: {...base.metrics, url: prometheus.url} as Experiment['metrics']}})
        const [e, p] = [p99(embedded), p99(viaPrometheus)]
        ratios.baseline.push(p.baseline / e.baseline)
        ratios.fault.push(p.fault / e.fault)
        sameRun.push(p.baseline / p.own.baseline, p.fault / p.own.fault)
        for (const x of viaPrometheus.neighbors[0].signals) {
          if (!x.crossCheck) continue
          sameRunVerdicts.all++
          if (x.crossCheck.verdict === x.verdict) sameRunVerdicts.same++
        }
        if (embedded.verdict === viaPrometheus.verdict) sameVerdicts++
        const ms = (v: number) => (v * 1000).toFixed(2)
        const signals = embedded.neighbors[0].signals.map((x) => `${x.signal} ${x.verdict}/${viaPrometheus.neighbors[0].signals.find((y) => y.signal === x.signal)?.verdict}`).join(', ')
        rows.push(`${i + 1}  ${embedded.verdict.padEnd(12)} ${viaPrometheus.verdict.padEnd(12)} ${signals}\n   p99 baseline ${ms(e.baseline)} vs ${ms(p.baseline)} ms (${signed(p.baseline / e.baseline - 1)})  fault ${ms(e.fault)} vs ${ms(p.fault)} ms (${signed(p.fault / e.fault - 1)})` +
          `\n   same run, probe vs Prometheus: baseline ${ms(p.own.baseline)} vs ${ms(p.baseline)} ms (${signed(p.baseline / p.own.baseline - 1)})  fault ${ms(p.own.fault)} vs ${ms(p.fault)} ms (${signed(p.fault / p.own.fault - 1)})`)
        for (const j of [embedded, viaPrometheus]) expect(j.rollback.complete).toBe(true)
      }
      console.log([`${name}: run, verdict embedded, verdict Prometheus, p99 embedded vs Prometheus`, ...rows,
        `same verdict ${sameVerdicts}/${RUNS}; median Prometheus/embedded p99 across runs: baseline ${median(ratios.baseline).toFixed(3)}, fault ${median(ratios.fault).toFixed(3)}; ` +
        `within the same run: signal verdicts alike ${sameRunVerdicts.same}/${sameRunVerdicts.all}, ${sameRun.filter((r) => Math.abs(r - 1) <= 0.1).length}/${sameRun.length} p99s within 10%, ratios ${[...sameRun].sort((a, b) => a - b).map((r) => r.toFixed(3)).join(' ')}`].join('\n'))
      // the instrument: Prometheus reads back the probe's p99 within 10% (its buckets are 10% wide)
      for (const r of sameRun) expect(Math.abs(r - 1)).toBeLessThanOrEqual(0.1)
    }, RUNS * 60_000)
  }
})

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN
}
