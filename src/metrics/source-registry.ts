// Which measurement source an experiment names. Prometheus's client is imported only when an experiment asks for it.
import type {Experiment} from '../experiment/schema.js'
import {PlanError} from '../platforms/platform.js'
import type {MeasurementSource} from './source.js'

/** The experiment's measurement source, or undefined for the embedded one. Loaded only when asked for. */
export async function openMeasurementSource(experiment: Experiment): Promise<MeasurementSource | undefined> {
  if (experiment.metrics.source === 'prometheus') {
    const {PrometheusSource} = await import('./prometheus/source.js')
    return PrometheusSource.open(experiment, experiment.metrics)
  }
  const raw = experiment.hypothesis.findIndex((h) => h.promql !== undefined)
  if (raw >= 0) {
    throw new PlanError(`hypothesis ${raw + 1} (${experiment.hypothesis[raw].signal}) gives promql:, which needs metrics: {source: prometheus, url: ...} or chaos run --prometheus URL`)
  }
  return undefined
}
