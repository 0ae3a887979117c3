// A problem in a file a person wrote (an experiment, a game-day suite), at the file:line:col they would go to fix
// it: the issue and its error, where a path of keys lives in the YAML, how paths and values are named in messages,
// and "did you mean" for a misspelt word. The experiment loader and the suite loader both speak it.
import {isAlias, isCollection, isMap, isScalar, isSeq} from 'yaml'
import type {Alias, Document, Node as YamlNode, Scalar} from 'yaml'

export type IssuePath = (string | number)[]

export interface ExperimentIssue {
  file: string
  /** 1-based */
  line: number
  /** 1-based */
  col: number
  path: IssuePath
  message: string
  hint?: string
}

export class ExperimentError extends Error {
  readonly issues: ExperimentIssue[]

  constructor(issues: ExperimentIssue[]) {
    super(formatIssues(issues))
    this.name = 'ExperimentError'
    this.issues = issues
  }

  format(): string {
    return formatIssues(this.issues)
  }
}

export function formatIssue(issue: ExperimentIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.message}${issue.hint ? ` (${issue.hint})` : ''}`
}

function formatIssues(issues: ExperimentIssue[]): string {
  return issues.map(formatIssue).join('\n')
}

/** An issue about the file as a whole, at its first character. */
export function issueAtStart(file: string, message: string): ExperimentIssue {
  return {file, line: 1, col: 1, path: [], message}
}

/** Each problem once, in the order of the file. */
export function sortIssues(issues: ExperimentIssue[]): ExperimentIssue[] {
  const seen = new Set<string>()
  return issues
    .filter((i) => {
      const key = `${i.line}:${i.col}:${i.message}`
      return seen.has(key) ? false : (seen.add(key), true)
    })
    .sort((a, b) => a.line - b.line || a.col - b.col)
}

/**
 * Where a path lives in the file. Values point at themselves, except block mappings and lists (and empty
 * values), which point at the key that names them, the line a person reads as "this section". A path
 * that goes through an alias points at the alias, since the anchored text is shared.
 */
export function offsetOfPath(doc: Document.Parsed, path: IssuePath, point: 'key' | 'value'): number {
  let node: unknown = doc.contents
  let key: YamlNode | null = null
  let alias: Alias | null = null
  for (const segment of path) {
    if (isAlias(node)) {
      alias ??= node
      node = node.resolve(doc)
    }
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(segment))
      if (!pair) break
      key = pair.key as YamlNode
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      key = null
      node = node.items[segment]
    } else {
      break
    }
  }
  if (alias) return alias.range?.[0] ?? 0
  if (key && (point === 'key' || isEmpty(node) || (isCollection(node) && !node.flow))) return key.range?.[0] ?? 0
  if (isAlias(node) || isScalar(node) || isCollection(node)) return node.range?.[0] ?? key?.range?.[0] ?? 0
  return key?.range?.[0] ?? 0
}

function keyText(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined
}

function isEmpty(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && (node as Scalar).value === null && (node as Scalar).source === '')
}

/** The value at a path of the parsed data, and whether it is there at all. */
export function valueAt(data: unknown, path: IssuePath): {found: boolean, value: unknown} {
  let value = data
  for (const segment of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return {found: false, value: undefined}
    value = (value as Record<string | number, unknown>)[segment]
  }
  return {found: true, value}
}

/** `neighbors[0].isolation.memory`, the way the docs name fields. */
export function describePath(path: IssuePath): string {
  if (path.length === 0) return 'the experiment'
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')
}

export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (an empty value)'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list'
  if (typeof value === 'object') return 'a mapping'
  return String(value)
}

// ---------------------------------------------------------------------------------------------------------
// "Did you mean": the closest candidate by Damerau-Levenshtein distance (optimal string alignment).

export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The candidate nearest to `word`, if it is near enough to be a typo rather than a different word. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 100) return undefined
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  const tolerance = Math.min(2, Math.max(1, Math.floor(word.length / 3)))
  return best !== undefined && bestDistance <= tolerance && bestDistance < best.length ? best : undefined
}
