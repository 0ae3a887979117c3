// Looking at the data more than once. A run that measures until its hypotheses are decided tests after every few
// pairs of blocks; testing each time at the single-look level would spend alpha again at every look (five looks at
// z = 1.645 reject a true null about 14% of the time, not 5%). Group-sequential boundaries with Lan-DeMets alpha
// spending keep the error at alpha over all the looks together. Pure functions; nothing here knows about blocks.
import {logGamma, normalCdf, normalQuantile, normalSf} from './stats.js'

export type SpendingKind = 'obrien-fleming' | 'pocock'

/**
 * Lan-DeMets alpha spent by information fraction t in [0,1], one-sided level alpha.
 * O'Brien-Fleming type: 2*(1 - Phi(z_{1-alpha/2} / sqrt(t))) (spends almost nothing early, keeps the last look near
 * the single-look z); Pocock type: alpha * ln(1 + (e - 1) t) (spends evenly, stops earlier, pays at the end).
 */
export function spent(kind: SpendingKind, alpha: number, t: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`)
  if (!(t >= 0)) throw new RangeError(`an information fraction must be >= 0, got ${t}`)
  if (t === 0) return 0
  if (t >= 1) return alpha
  if (kind === 'pocock') return alpha * Math.log1p((Math.E - 1) * t)
  return 2 * normalSf(normalQuantile(1 - alpha / 2) / Math.sqrt(t))
}

/**
 * The sub-density of the canonical statistic Z_k on its continuation region (-inf, b_k], on a grid that ends at b_k
 * exactly: points[i], with Simpson weights already folded into weights[i] so that an integral over the region is
 * sum(weights[i] * g(points[i])). Starting at GRID_LOW is harmless under the null: mass below -8 is about 1e-15.
 */
interface Continuation {
  points: Float64Array
  weights: Float64Array
  /** sqrt of the information fraction the density belongs to */
  root: number
}

const GRID_LOW = -8
/** a boundary no statistic crosses in practice (P(Z > 12) ~ 2e-33): where the spending function spends ~nothing */
const MAX_BOUND = 12
/** grid step: Simpson's rule this fine puts the boundaries within 2e-6 of a grid twice as fine, and alpha within 1e-11 */
const GRID_STEP = 0.04

function continuation(density: (z: number) => number, bound: number, root: number): Continuation {
  const low = Math.min(GRID_LOW, bound - 1)
  let intervals = Math.ceil((bound - low) / GRID_STEP)
  if (intervals % 2 === 1) intervals++
  const h = (bound - low) / intervals
  const points = new Float64Array(intervals + 1)
  const weights = new Float64Array(intervals + 1)
  for (let i = 0; i <= intervals; i++) {
    const z = low + i * h
    points[i] = z
    const simpson = i === 0 || i === intervals ? 1 : i % 2 === 1 ? 4 : 2
    weights[i] = simpson * h / 3 * density(z)
  }
  return {points, weights, root}
}

function standardNormalDensity(z: number): number {
  return Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI)
}

/**
 * P(Z_k > b, not stopped before), given the continuation sub-density at the previous look. With S the score
 * process (Brownian motion in information), S_k = S_{k-1} + N(drift * delta, delta), Z_k = S_k / sqrt(t_k).
 */
function crossing(previous: Continuation, root: number, bound: number, drift: number): number {
  const increment = Math.sqrt(root * root - previous.root * previous.root)
  const shift = drift * (root * root - previous.root * previous.root)
  let total = 0
  for (let i = 0; i < previous.points.length; i++) {
    total += previous.weights[i] * normalSf((bound * root - previous.points[i] * previous.root - shift) / increment)
  }
  return total
}

/** The continuation sub-density at this look, as a function, from the previous one (the recursion's step). */
function nextDensity(previous: Continuation, root: number, drift: number): (z: number) => number {
  const increment = Math.sqrt(root * root - previous.root * previous.root)
  const shift = drift * (root * root - previous.root * previous.root)
  return (z: number) => {
    let total = 0
    for (let i = 0; i < previous.points.length; i++) {
      total += previous.weights[i] * standardNormalDensity((z * root - previous.points[i] * previous.root - shift) / increment)
    }
    return total * root / increment
  }
}

function checkFractions(fractions: number[]): void {
  if (fractions.length === 0) throw new RangeError('a sequential plan needs at least one look')
  let last = 0
  for (const t of fractions) {
    if (!(t > last && t <= 1)) throw new RangeError(`information fractions must increase within (0, 1], got ${fractions.join(', ')}`)
    last = t
  }
}

/**
 * One-sided z critical values for looks at information fractions t_1 < ... < t_K (each in (0,1]), exact by
 * recursive numerical integration of the canonical joint distribution (Armitage, McPherson & Rowe 1969; Jennison &
 * Turnbull 2000 ch. 19), crossing probability at look k = spent(t_k) - spent(t_{k-1}).
 */
export function groupSequentialBoundaries(fractions: number[], alpha: number, kind: SpendingKind = 'obrien-fleming'): number[] {
  checkFractions(fractions)
  const bounds: number[] = []
  let state: Continuation | null = null
  let spentBefore = 0
  for (const t of fractions) {
    const spentNow = spent(kind, alpha, t)
    const target = spentNow - spentBefore
    spentBefore = spentNow
    const root = Math.sqrt(t)
    let bound: number
    if (state === null) {
      bound = target > 0 ? Math.min(-normalQuantile(target), MAX_BOUND) : MAX_BOUND
    } else {
      const previous: Continuation = state
      // crossing() falls as the bound rises: bisect to 1e-10
      const probability = (b: number) => crossing(previous, root, b, 0) - target
      let low = -2
      let high = MAX_BOUND
      for (let i = 0; i < 60 && high - low > 1e-10; i++) {
        const middle = (low + high) / 2
        if (probability(middle) > 0) low = middle
        else high = middle
      }
      bound = (low + high) / 2
    }
    bounds.push(bound)
    state = continuation(state === null ? standardNormalDensity : nextDensity(state, root, 0), bound, root)
  }
  return bounds
}

/**
 * Probability of crossing each upper boundary first, for a statistic whose mean grows as drift * sqrt(t) (drift =
 * theta * sqrt(I_max) in Jennison & Turnbull's notation; 0 under the null). The sum is the overall crossing
 * probability: alpha for boundaries built at alpha under the null, the power under an alternative.
 */
export function crossingProbabilities(fractions: number[], bounds: number[], drift = 0): number[] {
  checkFractions(fractions)
  if (bounds.length !== fractions.length) throw new RangeError('one boundary per look')
  const out: number[] = []
  let state: Continuation | null = null
  for (let k = 0; k < fractions.length; k++) {
    const root = Math.sqrt(fractions[k])
    // the drift enters the score process S = Z sqrt(t) as drift * t
    const first = (z: number) => standardNormalDensity(z - drift * root)
    out.push(state === null ? normalSf(bounds[k] - drift * root) : crossing(state, root, bounds[k], drift))
    state = continuation(state === null ? first : nextDensity(state, root, drift), bounds[k], root)
  }
  return out
}

/**
 * K equally spaced looks (fractions k/K); z(look) for look = 1..K; cached.
 *
 * The fractions are shares of the budget's information (pairs, or blocks). When a look comes with a different share
 * than planned (blocks kept out because the instrument lagged), the spending approach stays valid with the real
 * shares so far, provided they do not depend on the data: the z for that look is
 * groupSequentialBoundaries(realFractionsSoFar, alpha, kind).at(-1), and the last look should be at share 1.
 */
export class LookPlan {
  readonly maxLooks: number
  readonly alpha: number
  readonly kind: SpendingKind
  private bounds: number[] | null = null

  constructor(maxLooks: number, alpha: number, kind: SpendingKind = 'obrien-fleming') {
    if (!(Number.isInteger(maxLooks) && maxLooks >= 1)) throw new RangeError(`maxLooks must be a whole number >= 1, got ${maxLooks}`)
    if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`)
    this.maxLooks = maxLooks
    this.alpha = alpha
    this.kind = kind
  }

  /** the one-sided critical z at this look (1-based) */
  z(look: number): number {
    if (!(Number.isInteger(look) && look >= 1 && look <= this.maxLooks)) throw new RangeError(`look must be 1..${this.maxLooks}, got ${look}`)
    this.bounds ??= groupSequentialBoundaries(this.fractions(), this.alpha, this.kind)
    return this.bounds[look - 1]
  }

  /** the information fractions of the looks: k/K */
  fractions(): number[] {
    return Array.from({length: this.maxLooks}, (_, k) => (k + 1) / this.maxLooks)
  }

  /** all K critical values */
  boundaries(): number[] {
    this.z(1)
    return [...this.bounds!]
  }

  /** the alpha spent by the end of this look (1-based), for the journal */
  spentBy(look: number): number {
    return spent(this.kind, this.alpha, look / this.maxLooks)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Several hypotheses over the same looks

const planCache = new Map<string, LookPlan>()

function cachedPlan(maxLooks: number, alpha: number, kind: SpendingKind): LookPlan {
  const key = `${maxLooks}|${alpha}|${kind}`
  let plan = planCache.get(key)
  if (!plan) {
    if (planCache.size >= 256) planCache.clear()
    plan = new LookPlan(maxLooks, alpha, kind)
    planCache.set(key, plan)
  }
  return plan
}

/**
 * Holm's procedure for breach claims tested over the same looks (the graphical group-sequential approach of Maurer
 * & Bretz 2013, with Holm's graph): each of m hypotheses starts with its own plan at alpha/m; when claims stand,
 * the rest are tested again at this look with plans at alpha/(m - claims). A claim stands at look k when its
 * one-sided p (threeWay's pBreach, which already carries the t) is at most the nominal level 1 - Phi(z_k) of the plan
 * at its current alpha. standing[i] is true for a claim that already stood at an earlier look: it stays, and its
 * share of alpha stays passed on. Returns which claims stand now. Hypotheses already shown contained simply never
 * pass their alpha on (pass p = 1), which keeps the family-wise error at most alpha.
 */
export function sequentialHolm(pBreach: number[], look: number, maxLooks: number, alpha: number, kind: SpendingKind = 'obrien-fleming', standing: boolean[] = []): boolean[] {
  const m = pBreach.length
  const stands = pBreach.map((_, i) => standing[i] === true)
  if (m === 0) return stands
  for (;;) {
    const claims = stands.filter(Boolean).length
    if (claims === m) return stands
    const nominal = normalSf(cachedPlan(maxLooks, alpha / (m - claims), kind).z(look))
    let added = false
    for (let i = 0; i < m; i++) {
      if (!stands[i] && pBreach[i] <= nominal) {
        stands[i] = true
        added = true
      }
    }
    if (!added) return stands
  }
}

// ---------------------------------------------------------------------------------------------------------
// Planning: how many pairs a hypothesis needs (for `chaos calibrate` and the dry run)

/** The drift (mean of Z at the last look) at which the plan's looks cross with this probability: theta sqrt(I_max). */
export function driftForPower(plan: LookPlan, power: number): number {
  if (!(power > plan.alpha && power < 1)) throw new RangeError(`power must lie between alpha (${plan.alpha}) and 1, got ${power}`)
  const fractions = plan.fractions()
  const bounds = plan.boundaries()
  let low = 0
  let high = 20
  for (let i = 0; i < 60 && high - low > 1e-9; i++) {
    const middle = (low + high) / 2
    const crossed = crossingProbabilities(fractions, bounds, middle).reduce((s, p) => s + p, 0)
    if (crossed < power) low = middle
    else high = middle
  }
  return (low + high) / 2
}

/**
 * Pairs (or blocks, for a one-sample estimate) the plan needs at most so that a true value `distance` beyond the
 * limit is declared with this probability, when one pair's difference has standard deviation sd: (theta sd /
 * distance)^2 by the normal approximation, which the t at a handful of pairs exceeds by a few pairs. With one look
 * it is the fixed-sample size ((z_alpha + z_beta) sd / distance)^2.
 */
export function pairsNeeded(plan: LookPlan, sd: number, distance: number, power = 0.9): number {
  if (!(sd > 0 && distance > 0)) throw new RangeError(`pairsNeeded needs sd > 0 and distance > 0, got ${sd} and ${distance}`)
  return Math.ceil((driftForPower(plan, power) * sd / distance) ** 2)
}

/**
 * The expected share of the budget measured before the run stops, when the truth lies `drift` (in units of the
 * last look's standard error) beyond the limit on one side: sum of t_k P(first crossing at k), plus the whole budget
 * when no look crosses. The other side's boundary is ignored, which is right when the truth is not near the limit.
 */
export function expectedFraction(plan: LookPlan, drift: number): number {
  const fractions = plan.fractions()
  const crossings = crossingProbabilities(fractions, plan.boundaries(), drift)
  let expected = 0
  let crossed = 0
  for (let k = 0; k < fractions.length; k++) {
    expected += fractions[k] * crossings[k]
    crossed += crossings[k]
  }
  return expected + (1 - crossed)
}

// ---------------------------------------------------------------------------------------------------------
// Student's t

/**
 * Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes 6.4), using the symmetry
 * I_x(a,b) = 1 - I_{1-x}(b,a) where the fraction converges slowly. Relative accuracy about 1e-14.
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (Number.isNaN(x)) return Number.NaN
  if (x <= 0) return 0
  if (x >= 1) return 1
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x)
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a)
  const tiny = 1e-300
  let c = 1
  let d = 1 - (a + b) * x / (a + 1)
  if (Math.abs(d) < tiny) d = tiny
  d = 1 / d
  let fraction = d
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m
    let numerator = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
    d = 1 + numerator * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + numerator / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    fraction *= d * c
    numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
    d = 1 + numerator * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + numerator / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const step = d * c
    fraction *= step
    if (Math.abs(step - 1) < 1e-15) break
  }
  return Math.exp(logFront) * fraction / a
}

/** P(T <= x) for Student's t with df degrees of freedom (df > 0, may be fractional); df = Infinity is the normal. */
export function studentTCdf(x: number, df: number): number {
  if (Number.isNaN(x) || Number.isNaN(df)) return Number.NaN
  if (!(df > 0)) throw new RangeError(`Student's t needs df > 0, got ${df}`)
  if (df === Infinity || df > 1e7) return normalCdf(x)
  if (x === Infinity) return 1
  if (x === -Infinity) return 0
  // P(|T| > |x|) = I_{df/(df+x^2)}(df/2, 1/2)
  const tail = incompleteBeta(df / (df + x * x), df / 2, 0.5) / 2
  return x > 0 ? 1 - tail : tail
}

/** The upper tail P(T > x), without cancellation far out. */
export function studentTSf(x: number, df: number): number {
  return studentTCdf(-x, df)
}

/** The inverse of studentTCdf: the x with P(T <= x) = p. */
export function studentTQuantile(p: number, df: number): number {
  if (Number.isNaN(p) || Number.isNaN(df)) return Number.NaN
  if (!(df > 0)) throw new RangeError(`Student's t needs df > 0, got ${df}`)
  if (p === 0) return -Infinity
  if (p === 1) return Infinity
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile needs 0 < p < 1, got ${p}`)
  if (df === Infinity || df > 1e7) return normalQuantile(p)
  if (p === 0.5) return 0
  if (p > 0.5) return -studentTQuantile(1 - p, df)
  // lower half: bracket below the normal quantile (t is heavier-tailed), then bisect on the log of the tail so that
  // tiny p keep their relative precision
  let high = normalQuantile(p)
  let low = Math.min(high * 2 - 1, -1)
  while (studentTCdf(low, df) > p) {
    high = low
    low *= 2
    if (low < -1e300) return -Infinity
  }
  const target = Math.log(p)
  for (let i = 0; i < 200 && high - low > 1e-13 * Math.max(1, Math.abs(low)); i++) {
    const middle = (low + high) / 2
    if (Math.log(studentTCdf(middle, df)) > target) high = middle
    else low = middle
  }
  return (low + high) / 2
}
