// Reading a stressor's --params field by field, with the stressor's own bounds: a malformed launch fails loudly
// with the kind and the field's name. Each kind's reader is in kinds.ts.

/** A launch the stressor refuses (exit 2): its arguments are malformed. */
export class UsageError extends Error {}

interface Bounds {min?: number, max?: number, integer?: boolean}

export class Fields {
  constructor(private readonly kind: string, private readonly raw: Record<string, unknown>) {}

  number(name: string, bounds: Bounds): number {
    const value = this.optionalNumber(name, bounds)
    if (value === undefined) throw new UsageError(`${this.kind}: ${name} is required`)
    return value
  }

  optionalNumber(name: string, {min = -Infinity, max = Infinity, integer = false}: Bounds): number | undefined {
    const value = this.raw[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new UsageError(`${this.kind}: ${name} must be a number, got ${JSON.stringify(value)}`)
    if (integer && !Number.isInteger(value)) throw new UsageError(`${this.kind}: ${name} must be a whole number, got ${value}`)
    if (value < min || value > max) throw new UsageError(`${this.kind}: ${name} must be within [${min}, ${max}], got ${value}`)
    return value
  }

  string(name: string): string {
    const value = this.raw[name]
    if (typeof value !== 'string' || value === '') throw new UsageError(`${this.kind}: ${name} must be a non-empty string`)
    return value
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw[name]
    if (value === undefined) return fallback
    if (typeof value !== 'boolean') throw new UsageError(`${this.kind}: ${name} must be true or false`)
    return value
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw[name]
    if (value === undefined) return fallback
    if (!allowed.includes(value as T)) throw new UsageError(`${this.kind}: ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
    return value as T
  }
}
