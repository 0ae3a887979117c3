// Turns an experiment file into a validated Experiment, or into every problem found, each one at the
// file:line:col a person would go to fix it. Three stages, each refusing hostile input before the next
// one could be hurt by it: raw text (size), YAML (depth, documents, syntax, aliases), then the zod schema,
// whose issue paths are mapped back to YAML nodes and reworded to say what was expected.
import {readFile, stat} from 'node:fs/promises'

import {Composer, isAlias, isCollection, isMap, isScalar, isSeq, LineCounter, Parser, visit} from 'yaml'
import type {Alias, CST, Document, Node as YamlNode, Scalar} from 'yaml'
import type {z} from 'zod'

import {Experiment} from './schema.js'

export const MAX_FILE_BYTES = 1024 * 1024
export const MAX_ALIASES = 50
export const MAX_DEPTH = 64

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

export async function loadExperiment(file: string): Promise<Experiment> {
  let text: string
  try {
    // Refuse a huge file before reading it into memory.
    const info = await stat(file)
    if (!info.isFile()) throw new ExperimentError([issueAtStart(file, 'not a regular file')])
    if (info.size > MAX_FILE_BYTES) throw new ExperimentError([tooLarge(file, info.size)])
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (error instanceof ExperimentError) throw error
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new ExperimentError([issueAtStart(file, `cannot read the file: ${reason}`)])
  }
  return parseExperiment(text, file)
}

export function parseExperiment(text: string, file: string): Experiment {
  const size = Buffer.byteLength(text, 'utf8')
  if (size > MAX_FILE_BYTES) throw new ExperimentError([tooLarge(file, size)])

  const lines = new LineCounter()
  const at: Locate = (offset, message, hint) => {
    const {line, col} = lines.linePos(offset)
    return {file, line, col, path: [], message, ...(hint ? {hint} : {})}
  }
  const refuse = (issues: ExperimentIssue[]) => {
    if (issues.length > 0) throw new ExperimentError(sortIssues(issues))
  }

  // The CST parser is iterative and copes with any nesting; the composer after it recurses, and a deep
  // enough document can take the whole process down (V8 may abort rather than throw), so depth is checked first.
  const tokens = [...new Parser(lines.addNewLine).parse(text)]
  refuse(checkStructure(tokens, at))

  const doc = [...new Composer({prettyErrors: false, uniqueKeys: true}).compose(tokens, true, text.length)][0] as Document.Parsed | undefined
  if (doc === undefined || doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new ExperimentError([{...issueAtStart(file, 'the file is empty; expected an experiment'), hint: 'run "chaos init" for a starter'}])
  }
  // Syntax errors make everything after them guesswork, so they are reported alone.
  refuse(doc.errors.map((e) => at(e.pos[0], yamlErrorMessage(e.code, e.message))))
  const aliases = collectAliases(doc)
  refuse(checkNodes(doc, aliases, at))
  const data = toPlainData(doc, aliases, at)

  const result = Experiment.safeParse(data)
  if (result.success) return result.data
  throw new ExperimentError(sortIssues(new IssueExplainer(doc, data).explain(result.error.issues).map((e) => {
    const {line, col} = lines.linePos(e.offset)
    return {file, line, col, path: e.path, message: e.message, ...(e.hint ? {hint: e.hint} : {})}
  })))
}

/** An issue about the YAML itself, at a character offset of the text. */
type Locate = (offset: number, message: string, hint?: string) => ExperimentIssue

/** Exactly one document, nested no deeper than MAX_DEPTH. */
function checkStructure(tokens: CST.Token[], at: Locate): ExperimentIssue[] {
  const issues: ExperimentIssue[] = []
  const documents = tokens.filter((t): t is CST.Document => t.type === 'document')
  if (documents.length > 1) {
    issues.push(at(documents[1].offset, 'a second YAML document starts here; an experiment file holds exactly one document', 'remove the "---" line or split the file'))
  }
  for (const document of documents) {
    const tooDeep = findTooDeep(document.value, 1)
    if (tooDeep) issues.push(at(tooDeep.offset, `the document is nested more than ${MAX_DEPTH} levels deep`))
  }
  return issues
}

function collectAliases(doc: Document.Parsed): Alias[] {
  const aliases: Alias[] = []
  visit(doc, {Alias: (_, node) => {
    aliases.push(node)
  }})
  return aliases
}

/** Keys that are plain text, and aliases few enough and each with its anchor. */
function checkNodes(doc: Document.Parsed, aliases: Alias[], at: Locate): ExperimentIssue[] {
  const issues: ExperimentIssue[] = []
  visit(doc, {Pair: (_, pair) => {
    // A list or mapping as a key ("? [a, b]") has no place in an experiment, and JS objects cannot hold one.
    if (pair.key !== null && !isScalar(pair.key)) issues.push(at((pair.key as YamlNode).range?.[0] ?? 0, 'a key must be plain text, not a list or mapping'))
  }})
  if (aliases.length > MAX_ALIASES) {
    issues.push(at(aliases[MAX_ALIASES].range?.[0] ?? 0, `too many YAML aliases (more than ${MAX_ALIASES}); refusing a possible "billion laughs" document`))
  } else {
    for (const alias of aliases) {
      if (!alias.resolve(doc)) issues.push(at(alias.range?.[0] ?? 0, `YAML alias *${alias.source} has no anchor &${alias.source} before it`))
    }
  }
  return issues
}

/** The document as plain JS, refusing aliases that expand too much; the top level must be a mapping. */
function toPlainData(doc: Document.Parsed, aliases: Alias[], at: Locate): Record<string, unknown> {
  let data: unknown
  try {
    data = doc.toJS({maxAliasCount: MAX_ALIASES})
  } catch (error) {
    const worst = largestAlias(doc, aliases)
    throw new ExperimentError([at(worst?.range?.[0] ?? 0, `YAML aliases expand too much (${(error as Error).message.toLowerCase()}); refusing a possible "billion laughs" document`)])
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ExperimentError([at(doc.contents?.range[0] ?? 0, `expected the top level to be a mapping of keys (apiVersion: chaos/v1, kind: Experiment, ...), got ${describeValue(data)}`)])
  }
  return data as Record<string, unknown>
}

function issueAtStart(file: string, message: string): ExperimentIssue {
  return {file, line: 1, col: 1, path: [], message}
}

function tooLarge(file: string, size: number): ExperimentIssue {
  return issueAtStart(file, `the file is ${size} bytes; an experiment file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`)
}

function sortIssues(issues: ExperimentIssue[]): ExperimentIssue[] {
  const seen = new Set<string>()
  return issues
    .filter((i) => {
      const key = `${i.line}:${i.col}:${i.message}`
      return seen.has(key) ? false : (seen.add(key), true)
    })
    .sort((a, b) => a.line - b.line || a.col - b.col)
}

function yamlErrorMessage(code: string, message: string): string {
  const reworded: Record<string, string> = {
    DUPLICATE_KEY: 'duplicate key: a key may appear only once in a mapping',
    TAB_AS_INDENT: 'YAML does not allow tabs for indentation; indent with spaces',
    MULTIPLE_DOCS: 'an experiment file holds exactly one YAML document',
  }
  return `YAML syntax error: ${reworded[code] ?? message}`
}

/** The first collection deeper than MAX_DEPTH; the recursion stops there, so it never goes deeper itself. */
function findTooDeep(token: CST.Token | null | undefined, depth: number): CST.Token | undefined {
  if (!token || (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection')) return undefined
  if (depth > MAX_DEPTH) return token
  for (const item of token.items) {
    const found = findTooDeep(item.key, depth + 1) ?? findTooDeep(item.value, depth + 1)
    if (found) return found
  }
  return undefined
}

/** The alias whose expansion is the largest: where a "billion laughs" document does its damage. */
function largestAlias(doc: Document.Parsed, aliases: Alias[]): Alias | undefined {
  const sizes = new Map<unknown, number>()
  const sizeOf = (node: unknown): number => {
    if (sizes.has(node)) return sizes.get(node)!
    sizes.set(node, 1) // a self-referencing alias counts once
    let size = 1
    if (isAlias(node)) size = sizeOf(node.resolve(doc))
    else if (isCollection(node)) for (const item of node.items) size += isMap(node) ? sizeOf((item as {key: unknown}).key) + sizeOf((item as {value: unknown}).value) : sizeOf(item)
    sizes.set(node, size)
    return size
  }
  let worst: Alias | undefined
  for (const alias of aliases) if (!worst || sizeOf(alias) > sizeOf(worst)) worst = alias
  return worst
}

// ---------------------------------------------------------------------------------------------------------
// zod issues → positioned, reworded issues

type ZodIssue = z.core.$ZodIssue

interface ExplainedIssue {
  offset: number
  path: IssuePath
  message: string
  hint?: string
  /** set on unknown-key issues whose suggestion is a key the schema wants */
  suggestedKey?: string
  /** set on missing-key issues */
  missingKey?: boolean
}

class IssueExplainer {
  constructor(private readonly doc: Document.Parsed, private readonly data: unknown) {}

  explain(issues: readonly ZodIssue[]): ExplainedIssue[] {
    const explained = this.explainAll(issues)
    // "rat" with "did you mean rate?" already says that rate is missing; saying it again is noise.
    const suggested = new Set(explained.filter((e) => e.suggestedKey).map((e) => JSON.stringify([...e.path.slice(0, -1), e.suggestedKey])))
    return explained
      .filter((e) => !(e.missingKey && suggested.has(JSON.stringify(e.path))))
      .map(({suggestedKey: _s, missingKey: _m, ...rest}) => rest)
  }

  private explainAll(issues: readonly ZodIssue[], prefix: IssuePath = []): ExplainedIssue[] {
    return issues.flatMap((issue) => this.explainOne(issue, [...prefix, ...issue.path.map(pathSegment)]))
  }

  private explainOne(issue: ZodIssue, path: IssuePath): ExplainedIssue[] {
    const where = describePath(path)
    const value = valueAt(this.data, path)

    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => this.unknownKey(path, key))

      case 'invalid_type': {
        if (!value.found && path.length > 0) return [this.missingKey(path)]
        return [this.at(path, `${where}: expected ${describeExpected(issue.expected)}, got ${describeValue(value.value)}`)]
      }

      case 'invalid_value': {
        if (!value.found && path.length > 0) return [this.missingKey(path)]
        const allowed = issue.values.map((v) => String(v))
        if (allowed.length === 1) return [this.at(path, `${where}: expected ${JSON.stringify(issue.values[0])}, got ${describeValue(value.value)}`)]
        return [this.unknownValue(path, value.value, allowed)]
      }

      case 'invalid_union': {
        if (!value.found && path.length > 0) return [this.missingKey(path)]
        if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
          return [this.unknownValue(path, value.value, issue.options.map(String), `unknown ${describePath(path.slice(0, -1))} ${issue.discriminator}`)]
        }
        return this.unionMismatch(issue, path, value.value)
      }

      case 'too_small':
      case 'too_big':
        return [this.at(path, `${where}: ${describeBound(issue)}, got ${describeValue(value.value)}`)]

      case 'invalid_format':
        return [this.at(path, `${where}: ${describeFormat(issue)}, got ${describeValue(value.value)}`)]

      case 'invalid_key': {
        const key = String(path.at(-1))
        const reason = issue.issues.map((i) => i.message).join('; ')
        return [this.at(path, `${describePath(path.slice(0, -1))}: invalid name ${JSON.stringify(key)}: ${reason}`, undefined, 'key')]
      }

      case 'invalid_element':
        return this.explainAll(issue.issues, path)

      case 'custom':
        // Messages written in schema.ts usually name their field already ("fault.rate: ...").
        return [this.at(path, /^[\w.]+( \w+)?: /.test(issue.message) || path.length === 0 ? issue.message : `${where}: ${issue.message}`)]

      default:
        return [this.at(path, `${where}: ${(issue as ZodIssue).message}`)]
    }
  }

  private unknownKey(objectPath: IssuePath, key: string): ExplainedIssue {
    const present = Object.keys(valueAt(this.data, objectPath).value ?? {})
    const allowed = allowedKeys(objectPath, this.data).filter((k) => !present.includes(k))
    const suggestion = nearest(key, allowed)
    const place = objectPath.length === 0 ? 'at the top level' : `in ${describePath(objectPath)}`
    const issue = this.at(
      [...objectPath, key],
      `unknown key ${JSON.stringify(key)} ${place}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ''}`,
      suggestion || allowed.length === 0 ? undefined : `allowed here: ${allowed.join(', ')}`,
      'key',
    )
    return suggestion ? {...issue, suggestedKey: suggestion} : issue
  }

  private missingKey(path: IssuePath): ExplainedIssue {
    const parent = path.slice(0, -1)
    const place = parent.length === 0 ? '' : ` in ${describePath(parent)}`
    return {...this.at(parent, `missing required key ${JSON.stringify(String(path.at(-1)))}${place}`), path, missingKey: true}
  }

  private unknownValue(path: IssuePath, value: unknown, allowed: string[], what = `${describePath(path)}: unknown value`): ExplainedIssue {
    const suggestion = typeof value === 'string' ? nearest(value, allowed) : undefined
    return this.at(
      path,
      `${what} ${describeValue(value)}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ''}`,
      suggestion ? undefined : `expected one of: ${allowed.join(', ')}`,
    )
  }

  /** A union none of whose options matched: the option that got furthest explains it best, if there is one. */
  private unionMismatch(issue: ZodIssue & {code: 'invalid_union'}, path: IssuePath, value: unknown): ExplainedIssue[] {
    const atRoot = (i: ZodIssue) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')
    const closer = issue.errors.filter((branch) => branch.length > 0 && !branch.every(atRoot))
    if (closer.length === 1) return this.explainAll(closer[0], path)
    const expected = issue.errors.flat().filter(atRoot).flatMap((i) =>
      i.code === 'invalid_type' ? [describeExpected(i.expected)] : i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)) : [])
    const unique = [...new Set(expected)]
    const wanted = unique.length > 0 ? unique.join(' or ') : 'a different value'
    return [this.at(path, `${describePath(path)}: expected ${wanted}, got ${describeValue(value)}`)]
  }

  private at(path: IssuePath, message: string, hint?: string, point: 'key' | 'value' = 'value'): ExplainedIssue {
    return {offset: offsetOfPath(this.doc, path, point), path, message, ...(hint ? {hint} : {})}
  }
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

function pathSegment(segment: PropertyKey): string | number {
  return typeof segment === 'number' ? segment : String(segment)
}

function valueAt(data: unknown, path: IssuePath): {found: boolean, value: unknown} {
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

function describeExpected(expected: string): string {
  const words: Record<string, string> = {
    object: 'a mapping (key: value lines)', array: 'a list', string: 'text', number: 'a number', int: 'a whole number',
    boolean: 'true or false', record: 'a mapping (key: value lines)',
  }
  return words[expected] ?? expected
}

function describeBound(issue: ZodIssue & {code: 'too_small' | 'too_big'}): string {
  const small = issue.code === 'too_small'
  const limit = Number(small ? issue.minimum : issue.maximum)
  const inclusive = issue.inclusive !== false
  if (issue.origin === 'array') return small ? `needs at least ${limit} item${limit === 1 ? '' : 's'}` : `may have at most ${limit} items`
  if (issue.origin === 'string') return small ? (limit === 1 ? 'must not be empty' : `needs at least ${limit} characters`) : `may be at most ${limit} characters long`
  if (small) return inclusive ? `must be at least ${limit}` : `must be greater than ${limit}`
  return inclusive ? `must be at most ${limit}` : `must be less than ${limit}`
}

function describeFormat(issue: ZodIssue & {code: 'invalid_format'}): string {
  if (issue.format === 'url') return 'expected an http:// or https:// URL'
  if (issue.format === 'starts_with') return `expected a value starting with ${JSON.stringify((issue as {prefix?: string}).prefix ?? '')}`
  return issue.message
}

// ---------------------------------------------------------------------------------------------------------
// Walking the schema: which keys an object accepts, for "did you mean".

interface SchemaDef {
  type: string
  innerType?: Schema
  in?: Schema
  shape?: Record<string, Schema>
  options?: Schema[]
  discriminator?: string
  element?: Schema
  valueType?: Schema
  values?: unknown[]
  getter?: () => Schema
}
interface Schema {
  _zod: {def: unknown}
}
const defOf = (schema: Schema) => schema._zod.def as SchemaDef

/** Strips wrappers (optional, default, pipe...) and picks the union option that fits `value`. */
function unwrap(schema: Schema | undefined, value: unknown): Schema | undefined {
  for (let i = 0; schema && i < 32; i++) {
    const def = defOf(schema)
    if (def.innerType) schema = def.innerType
    else if (def.type === 'pipe' && def.in) schema = def.in
    else if (def.type === 'lazy' && def.getter) schema = def.getter()
    else if (def.type === 'union' && def.options) {
      const objects = def.options.map((o) => unwrap(o, value)).filter((o): o is Schema => o !== undefined && defOf(o).type === 'object')
      if (def.discriminator && value && typeof value === 'object') {
        const tag = (value as Record<string, unknown>)[def.discriminator]
        return objects.find((o) => defOf(defOf(o).shape![def.discriminator!]).values?.includes(tag)) ?? objects[0]
      }
      return objects[0] ?? def.options[0]
    } else return schema
  }
  return schema
}

function allowedKeys(path: IssuePath, data: unknown): string[] {
  let schema = unwrap(Experiment as unknown as Schema, data)
  path.forEach((segment, i) => {
    const def = schema ? defOf(schema) : undefined
    const next = def?.type === 'object' ? def.shape?.[segment] : def?.type === 'array' ? def.element : def?.type === 'record' ? def.valueType : undefined
    schema = unwrap(next, valueAt(data, path.slice(0, i + 1)).value)
  })
  const def = schema ? defOf(schema) : undefined
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : []
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
