// A look at the data: every neighbour's every signal judged over the blocks measured so far, breach claims
// corrected across signals and neighbours (Holm), and whether the run is decided.
import type {Experiment, HypothesisSpec, SignalName} from '../experiment/schema.js'
import {judgeBlocks, type BlockVerdict, type Noise} from '../verdict/judge-blocks.js'
import {normalSf} from '../verdict/stats.js'
import {holm} from '../verdict/three-way.js'
import type {SignalVerdict, WindowSamples} from '../verdict/types.js'
import type {Extracted, Window} from '../metrics/source.js'

/**
 * The blocks a look compares. Interleaved: on[i] and off[i] are one pair whose fault-on block's dose landed.
 * Windows: the baseline and the fault window, each cut into blocks. episodes: for each fault-on block, from the
 * fault being asked for to its removal plus the settle, where counted events (a restart) belong: every fault-on
 * block's, its dose landed or not.
 */
export interface BlockSet {
  on: Window[]
  off: Window[]
  episodes: Window[]
  /**
   * windows design: the two windows whole. A series (one value per interval, a resource or a Prometheus step) is
   * cut from them once, each value its own block, so its values are exactly the window's.
   */
  whole?: {on: Window[], off: Window[]}
}

/** Signals that count events: judged over whole episodes, so an event during a stressor's start-up is not missed. */
const COUNTED: ReadonlySet<SignalName> = new Set(['restarts', 'oom_kills', 'unready'])

export type Extract = (neighbor: string, hypothesis: HypothesisSpec, window: Window) => Extracted

export interface LookResult {
  signals: Map<string, SignalVerdict[]>
  decision: 'breach' | 'contained' | 'undecided'
  /** Holm's note, when a breach claim did not survive the correction */
  corrected: number
  /** per neighbour, each signal's noise in the order of its signals (null for an observed fact) */
  noise: Map<string, (Noise | null)[]>
  /** per neighbour, each signal's block statistics in the order of its signals (on[i] and off[i] a pair when paired) */
  blocks: Map<string, ({on: number[], off: number[]} | undefined)[]>
}

export function look(neighbors: {name: string, hypotheses: HypothesisSpec[]}[], blocks: BlockSet, paired: boolean, z: number, extract: Extract): LookResult {
  const signals = new Map<string, BlockVerdict[]>()
  for (const {name, hypotheses} of neighbors) {
    signals.set(name, hypotheses.map((h) => judgeOne(name, h, blocks, paired, z, extract)))
  }
  // Holm over the statistical breach claims; an observed fact (a restart) needs no correction
  const all = [...signals.values()].flat()
  const claims = all.filter((s) => s.pBreach !== null && s.test !== 'direct')
  // a look at observed facts only (z infinite) makes no statistical claim to correct
  const standing = Number.isFinite(z) ? holm(claims.map((s) => s.pBreach!), normalSf(z)) : claims.map(() => false)
  let corrected = 0
  claims.forEach((s, i) => {
    if (s.verdict === 'breach' && !standing[i]) {
      s.verdict = 'inconclusive'
      s.reason += `; not beyond doubt after Holm's correction across ${claims.length} breach claims`
      corrected++
    }
  })
  const breach = all.some((s) => s.verdict === 'breach')
  const contained = all.length > 0 && all.every((s) => s.verdict === 'contained')
  const plain = new Map([...signals].map(([n, v]) => [n, v.map(({pBreach: _p, noise: _n, blocks: _b, ...rest}) => rest as SignalVerdict)]))
  const noise = new Map([...signals].map(([n, v]) => [n, v.map((s) => s.noise)]))
  const values = new Map([...signals].map(([n, v]) => [n, v.map((s) => s.blocks)]))
  return {signals: plain, decision: breach ? 'breach' : contained ? 'contained' : 'undecided', corrected, noise, blocks: values}
}

function judgeOne(neighbor: string, h: HypothesisSpec, blocks: BlockSet, paired: boolean, z: number, extract: Extract): BlockVerdict {
  const counted = COUNTED.has(h.signal as SignalName)
  let meta: {statistic: SignalVerdict['statistic'], unit: SignalVerdict['unit']} | undefined
  let unavailable: string | undefined
  const cut = (windows: Window[]): WindowSamples[] => windows.flatMap((w) => {
    const x = extract(neighbor, h, w)
    if ('unavailable' in x) {
      unavailable ??= x.unavailable
      return []
    }
    meta ??= {statistic: x.statistic, unit: x.unit}
    return [x.samples]
  })
  // a whole window cut into blocks: a series one value a block; observations by their intervals, two to a block
  // (the tail quantile of one second's requests is its second-largest value); a share has no intervals to cut by
  const perValue = (samples: WindowSamples[]): WindowSamples[] | undefined => {
    if (samples.every((x) => x.kind === 'series')) return samples.flatMap((x) => (x.kind === 'series' ? x.values.map((v) => ({kind: 'series' as const, values: [v]})) : []))
    if (!samples.every((x) => x.kind === 'observations' && x.blocks !== undefined)) return undefined
    return samples.flatMap((x) => {
      if (x.kind !== 'observations' || !x.blocks) return []
      const groups = new Map<number, number[]>()
      x.values.forEach((v, i) => {
        const key = Math.floor(x.blocks![i] / 2)
        groups.set(key, [...(groups.get(key) ?? []), v])
      })
      return [...groups.keys()].sort((a, b) => a - b).map((k) => ({kind: 'observations' as const, values: groups.get(k)!}))
    })
  }
  const wholeOn = blocks.whole && !counted ? cut(blocks.whole.on) : undefined
  const wholeOff = blocks.whole ? cut(blocks.whole.off) : undefined
  const on = (wholeOn && perValue(wholeOn)) ?? cut(counted ? blocks.episodes : blocks.on)
  const off = (wholeOff && !counted ? perValue(wholeOff) : undefined) ?? cut(blocks.off)
  if (unavailable !== undefined) {
    return {
      neighbor, signal: h.signal, statistic: 'mean', unit: 'count', baseline: null, fault: null, baselineCount: 0, faultCount: 0,
      change: null, interval: null, test: 'none', pValue: null, effectSize: null, threshold: '', verdict: 'inconclusive',
      reason: unavailable, pBreach: null, noise: null,
    }
  }
  return judgeBlocks({neighbor, signal: h.signal, statistic: meta?.statistic ?? 'mean', unit: meta?.unit ?? 'count', hypothesis: h, on, off, paired, z})
}

export function isCounted(signal: Experiment['hypothesis'][number]['signal']): boolean {
  return COUNTED.has(signal as SignalName)
}

/**
 * A look at pairs whose dose was short of the one asked (but enough for a breach to stand, verdict/judge.ts): a
 * breach stands, containment is not shown, so a contained signal is inconclusive and the run is not decided by it.
 */
export function breachOnly(result: LookResult, dose: string): LookResult {
  for (const verdicts of result.signals.values()) {
    for (const s of verdicts) {
      if (s.verdict !== 'contained') continue
      s.verdict = 'inconclusive'
      s.reason += `; but the dose was short of the one asked (${dose}), and containment needs the whole of it`
    }
  }
  return {...result, decision: result.decision === 'contained' ? 'undecided' : result.decision}
}
