// Whether something already answers at a managed workflow's URLs before the experiment starts it: the run would
// measure another process, so every platform refuses it (exit 4).
import type {NeighborSpec, TargetSpec} from '../experiment/schema.js'

/** The first of the workflow's ready/probe/metrics URLs that answers now, or undefined when none does. */
export async function answeringUrl(spec: TargetSpec | NeighborSpec): Promise<string | undefined> {
  const neighbor = spec as NeighborSpec
  const urls = [spec.ready?.http, neighbor.probe?.http.url, neighbor.metrics].filter((u): u is string => u !== undefined)
  for (const url of new Set(urls)) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(500)})
      await response.arrayBuffer()
      return url
    } catch { /* nothing there: good */ }
  }
  return undefined
}
