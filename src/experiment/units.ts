// Quantities as people write them in experiments: durations (15s, 1m30s, 500ms), byte sizes in Kubernetes
// notation (64Mi, 1Gi, 500M), byte rates (64Mi/s), bit rates (100Mbit, 1Gbit) and percentages (25%).
// Each parser returns undefined for text it does not understand so the schema can say what was expected.

const DURATION_UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

/** Milliseconds, from "500ms", "15s", "1m30s", "2h" or a bare number of seconds. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1000 : undefined
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) return undefined
  return parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0)
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, B: 1,
  K: 1e3, M: 1e6, G: 1e9, T: 1e12, k: 1e3,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
  KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4,
}

/** Bytes, from "64Mi", "1Gi", "500M", "4096" (Kubernetes quantities, plus the KiB/MB spellings). */
export function parseBytes(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.round(text) : undefined
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim())
  if (!match || !(match[2] in BYTE_UNITS)) return undefined
  return Math.round(Number(match[1]) * BYTE_UNITS[match[2]])
}

/** Bytes per second, from "64Mi/s" or "10MB/s". */
export function parseByteRate(text: string | number): number | undefined {
  if (typeof text === 'number') return parseBytes(text)
  const match = /^(.+?)\s*\/\s*s$/.exec(text.trim())
  return match ? parseBytes(match[1]) : undefined
}

/** Things per second (processes, threads), from "50/s" or a bare number. */
export function parseCountRate(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text > 0 ? text : undefined
  const match = /^(\d+(?:\.\d+)?)\s*(\/\s*s)?$/.exec(text.trim())
  if (!match) return undefined
  const value = Number(match[1])
  return value > 0 ? value : undefined
}

const BIT_UNITS: Record<string, number> = {bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9}

/** Bits per second, from "100Mbit", "1gbit", "500kbit" (tc's spelling) or "100Mbps". */
export function parseBitRate(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text > 0 ? text : undefined
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)(\/s)?$/.exec(text.trim())
  if (!match) return undefined
  const unit = BIT_UNITS[match[2].toLowerCase()]
  return unit === undefined ? undefined : Number(match[1]) * unit
}

/** A fraction (0.25), from "25%". */
export function parsePercent(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined
  const match = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(text.trim())
  return match ? Number(match[1]) / 100 : undefined
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes)
  for (const [unit, size] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (abs >= size) return `${(bytes / size).toFixed(abs >= size * 100 ? 0 : 1)}${unit}`
  }
  return `${bytes}B`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 120_000) return `${+(ms / 1000).toFixed(1)}s`
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
}

export function formatBitRate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1e9) return `${(bitsPerSecond / 1e9).toFixed(2)}Gbit/s`
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)}Mbit/s`
  return `${(bitsPerSecond / 1e3).toFixed(0)}kbit/s`
}
