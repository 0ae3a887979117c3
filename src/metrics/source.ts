// What a measurement source is: where the neighbours' signals come from, cut into the windows the verdict compares.
// The embedded source (run/signals.ts over the run's own observers) and Prometheus (metrics/prometheus/source.ts)
// both answer in these terms; which one a run uses is chosen in metrics/source-registry.ts.
import type {HypothesisSpec} from '../experiment/schema.js'
import type {SignalInput, WindowSamples} from '../verdict/types.js'

export interface Window {
  from: number
  to: number
}

/** The signal's samples in one window, or a reason why this neighbour cannot give it. */
export type Extracted = {samples: WindowSamples, statistic: SignalInput['statistic'], unit: SignalInput['unit']} | {unavailable: string}

/**
 * Where the neighbours' signals come from when it is not the toolkit's own probe, scrape and cgroup readings
 * (metrics.source: prometheus). The embedded source needs none of this: without one, the runner reads the observers.
 */
export interface MeasurementSource {
  /** Checks what can be checked before anything starts (reachable, every query accepted); the plan's lines. Throws PlanError. */
  plan(): Promise<string[]>
  /** Before injecting: every query answers one series over the baseline. Why not, or undefined. */
  checkBeforeInjecting(baseline: Window): Promise<string | undefined>
  /** During injection: calls onLost (once) when the source stops answering; returns what stops the watch. */
  watch(intervalMs: number, onLost: (reason: string) => void): () => void
  /** After the run: fetches every window's series, so that extract() can cut them without waiting. */
  collect(windows: Window[]): Promise<void>
  extract(neighbor: string, hypothesis: HypothesisSpec, window: Window): Extracted
  /**
   * The span whose requests extract() holds for the window, when it is not the window itself (a scraped counter
   * holds what happened up to its scrape, not up to a window's edge). The toolkit's own probe is cut to the same
   * span for the cross-check, so that the two views compare the same requests.
   */
  covered?(neighbor: string, hypothesis: HypothesisSpec, window: Window): Window | undefined
}

/** The hypothesis entries that apply to a neighbour. */
export function hypothesesFor(neighbor: string, hypothesis: HypothesisSpec[]): HypothesisSpec[] {
  return hypothesis.filter((h) => h.neighbor === undefined || h.neighbor === neighbor)
}
