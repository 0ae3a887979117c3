// `chaos run --prometheus URL`: the experiment's measurement source, switched to (or pointed at) a Prometheus.
import {PrometheusMetrics, type MetricsSpec, type PrometheusMetricsSpec} from '../../experiment/schema.js'

/**
 * The experiment's `metrics:` with this Prometheus URL. An experiment already sourced from Prometheus keeps its
 * selectors, scrape interval and connection settings; an embedded one gets the defaults. Throws on a bad URL.
 */
export function withPrometheusUrl(metrics: MetricsSpec, url: string): PrometheusMetricsSpec {
  const checked = PrometheusMetrics.shape.url.safeParse(url)
  if (!checked.success) throw new Error(`--prometheus ${url}: ${checked.error.issues.map((i) => i.message).join('; ')}`)
  if (metrics.source === 'prometheus') return {...metrics, url: checked.data}
  return PrometheusMetrics.parse({source: 'prometheus', url: checked.data})
}
