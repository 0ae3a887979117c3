// Mutations of experiment text for property-based fuzzing: the kinds of damage people and tools do to YAML.
import fc from 'fast-check'

const TOKENS = ['{', '}', '[', ']', ':', '-', ' ', '\t', '\n', '"', "'", '&a', '*a', '!!str', '%', '#', '0', '-1', '1e309', 'NaN', '~', 'null', 'true', 'Mi', '/s', '💥', '\u0000', '<<: *a']

export type Mutation =
  | {kind: 'delete', at: number, length: number}
  | {kind: 'insert', at: number, text: string}
  | {kind: 'swap-lines', a: number, b: number}
  | {kind: 'duplicate-line', line: number}
  | {kind: 'indent', line: number, by: number}
  | {kind: 'truncate', at: number}

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({min: 1, max: 12})}),
  fc.record({kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({maxLength: 6}))}),
  fc.record({kind: fc.constant('swap-lines' as const), a: fc.nat(), b: fc.nat()}),
  fc.record({kind: fc.constant('duplicate-line' as const), line: fc.nat()}),
  fc.record({kind: fc.constant('indent' as const), line: fc.nat(), by: fc.integer({min: -4, max: 4})}),
  fc.record({kind: fc.constant('truncate' as const), at: fc.nat()}),
)

export function applyMutation(text: string, m: Mutation): string {
  const lines = text.split('\n')
  const line = (n: number) => n % lines.length
  switch (m.kind) {
    case 'delete': {
      const at = m.at % Math.max(1, text.length)
      return text.slice(0, at) + text.slice(at + m.length)
    }
    case 'insert': {
      const at = m.at % Math.max(1, text.length + 1)
      return text.slice(0, at) + m.text + text.slice(at)
    }
    case 'swap-lines': {
      const a = line(m.a)
      const b = line(m.b)
      ;[lines[a], lines[b]] = [lines[b], lines[a]]
      return lines.join('\n')
    }
    case 'duplicate-line': {
      const n = line(m.line)
      lines.splice(n, 0, lines[n])
      return lines.join('\n')
    }
    case 'indent': {
      const n = line(m.line)
      lines[n] = m.by >= 0 ? ' '.repeat(m.by) + lines[n] : lines[n].replace(new RegExp(`^ {0,${-m.by}}`), '')
      return lines.join('\n')
    }
    case 'truncate':
      return text.slice(0, m.at % Math.max(1, text.length))
  }
}

export function mutate(text: string, mutations: Mutation[]): string {
  return mutations.reduce(applyMutation, text)
}
