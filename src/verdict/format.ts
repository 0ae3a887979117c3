// How the verdict writes numbers in its reasons: values in the signal's own unit, changes as signed
// percentages, p-values the way papers print them.
import type {SignalInput} from './types.js'

type Unit = SignalInput['unit']

const MAX_DISPLAYED = 1e300

/** Three significant digits, without trailing zeros: 12.3, 120, 0.512. */
function significant(x: number): string {
  return String(Number(x.toPrecision(3)))
}

const BINARY_UNITS: Array<[string, number]> = [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]]

/** A value in its unit: 12.3ms, 1.5s, 40%, 256Mi, 120/s. Values of unit 'percent' are percentage points. */
export function formatValue(value: number, unit: Unit): string {
  if (Math.abs(value) >= MAX_DISPLAYED) return value > 0 ? '∞' : '−∞'
  switch (unit) {
    case 'seconds': return Math.abs(value) < 1 ? `${significant(value * 1000)}ms` : `${significant(value)}s`
    case 'ratio': return `${significant(value * 100)}%`
    case 'percent': return `${significant(value)}%`
    case 'per_second': return `${significant(value)}/s`
    case 'bytes': {
      const binary = BINARY_UNITS.find(([, size]) => Math.abs(value) >= size)
      return binary ? `${significant(value / binary[1])}${binary[0]}` : `${significant(value)}B`
    }
    case 'count': return Number.isInteger(value) ? String(value) : significant(value)
  }
}

/** A fraction as a percentage, signed when asked: 0.25 → "25%", +1.82 → "+182%". */
export function formatPercent(fraction: number, signed = false): string {
  if (Math.abs(fraction) >= MAX_DISPLAYED) return fraction > 0 ? (signed ? '+∞' : '∞') : '−∞'
  const percent = Number((fraction * 100).toPrecision(3))
  const sign = signed && percent > 0 ? '+' : ''
  return `${sign}${percent}%`
}

/** "p < 0.001", "p = 0.034", "p = 0.41". */
export function formatP(p: number): string {
  if (p < 0.001) return 'p < 0.001'
  return `p = ${p < 0.01 ? p.toFixed(3) : significant(p)}`
}

/** "95%" from 0.95. */
export function formatLevel(level: number): string {
  return `${significant(level * 100)}%`
}
