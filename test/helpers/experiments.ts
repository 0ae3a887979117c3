import {readFileSync} from 'node:fs'

import {parseExperiment} from '../../src/experiment/load.js'
import type {Experiment} from '../../src/experiment/schema.js'

/** An experiment from experiments/, shortened for the suite (the full lengths run in test/slow). */
export function shortened(file: string, phases: Partial<Experiment['phases']> = {baseline: 4000, inject: 6000, recover: 0}): Experiment {
  const experiment = parseExperiment(readFileSync(file, 'utf8'), file)
  // a short warm-up too: these runs check mechanics, not small latency changes
  experiment.phases = {...experiment.phases, warmup: 2000, ...phases}
  return experiment
}

export function fromYaml(text: string, file = 'inline.yaml'): Experiment {
  return parseExperiment(text, file)
}
