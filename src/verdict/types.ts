// What the verdict engine takes in and gives back. Signal samples come from the metrics layer (probe, scrape,
// cgroup accounting) for the baseline window and the fault window of one neighbour.
import type {HypothesisSpec, SignalName} from '../experiment/schema.js'

export type Verdict = 'contained' | 'breach' | 'inconclusive'

/** Samples of one signal in one window. */
export type WindowSamples =
  /** raw observations compared as distributions, e.g. each request's latency in seconds */
  | {
    kind: 'observations'
    values: number[]
    /**
     * the measuring interval each value fell in (same length as values). Observations close in time share the
     * machine's passing state, so they are not independent: with blocks, the interval is the unit of resampling
     * and testing, and a burst of noise in a few seconds weighs as a few seconds, not as hundreds of requests.
     */
    blocks?: number[]
  }
  /** a proportion, e.g. failed requests out of all requests */
  | {kind: 'proportion', events: number, total: number}
  /** one value per measuring interval, e.g. requests per second, bytes of memory, throttled periods */
  | {kind: 'series', values: number[]}

export interface SignalInput {
  neighbor: string
  signal: SignalName
  /** the statistic the hypothesis talks about, computed on observations: p50, p99, mean... */
  statistic: 'p50' | 'p90' | 'p95' | 'p99' | 'mean' | 'rate' | 'max' | 'last' | 'sum'
  unit: 'seconds' | 'ratio' | 'per_second' | 'bytes' | 'count' | 'percent'
  baseline: WindowSamples
  fault: WindowSamples
  hypothesis: HypothesisSpec
}

export interface Interval {
  low: number
  high: number
  /** e.g. 0.95 */
  level: number
}

export interface SignalVerdict {
  neighbor: string
  signal: SignalName
  statistic: SignalInput['statistic']
  unit: SignalInput['unit']
  /** the statistic over the baseline and fault windows */
  baseline: number | null
  fault: number | null
  baselineCount: number
  faultCount: number
  /** relative change fault/baseline - 1, null when the baseline is 0 */
  change: number | null
  /** confidence interval of the change (relative thresholds) or of the fault value (absolute thresholds) */
  interval: Interval | null
  /** name of the test that produced pValue: mann-whitney-u, bootstrap, wilson... */
  test: string
  pValue: number | null
  /** effect size (e.g. rank-biserial correlation for Mann-Whitney), null where none applies */
  effectSize: number | null
  threshold: string
  verdict: Verdict
  /** why, in one sentence a person can read */
  reason: string
  /**
   * With an external source (Prometheus), the same signal as the toolkit's own probe saw it in the same run: a
   * Prometheus pipeline that disagrees with it (scrape gaps, coarse buckets, another histogram) shows here.
   */
  crossCheck?: {source: 'embedded', baseline: number | null, fault: number | null, verdict: Verdict, reason: string}
}

export interface Efficacy {
  landed: boolean
  /** what was asked and what was measured in the target, in the fault's own unit */
  asked: number
  achieved: number
  unit: string
  /** achieved / asked */
  ratio: number
  /** e.g. "target OOM-killed by its own limit" */
  note: string
  /**
   * Short of the dose asked, but every block judged had at least BREACH_DOSE_FLOOR of it (verdict/judge.ts): a breach
   * at that dose stands, containment is not shown.
   */
  partial?: boolean
}
