import {readFileSync} from 'node:fs'

import {parseExperiment} from '../../src/experiment/load.js'
import type {Experiment} from '../../src/experiment/schema.js'

/** An experiment from experiments/, shortened for the suite (the full lengths run in test/slow). */
export function shortened(file: string, phases: Partial<Experiment['phases']> = {baseline: 4000, inject: 6000, recover: 0}): Experiment {
  const experiment = parseExperiment(readFileSync(file, 'utf8'), file)
  // a short warm-up too: these runs check mechanics, not small latency changes, so one baseline and one fault
  // window (verdict.design windows) whose lengths the test sets; interleaved() is for runs that must be decided
  experiment.phases = {...experiment.phases, warmup: 2000, ...phases}
  experiment.verdict = {...experiment.verdict, design: 'windows'}
  return experiment
}

/** Interleaved blocks short enough for the suite, looked at from the third pair on, within a budget. */
export function interleaved(experiment: Experiment, budgetMs = 45_000): Experiment {
  experiment.verdict = {...experiment.verdict, design: 'interleaved', block: 2000, settle: 500, budget: budgetMs, firstLook: 3, lookEvery: 1}
  return experiment
}

export function fromYaml(text: string, file = 'inline.yaml'): Experiment {
  return parseExperiment(text, file)
}
