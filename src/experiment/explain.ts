// The schema's (zod's) issues about an experiment, each placed at its YAML node and reworded to say what was
// expected there: "fault.rate: expected a number, got \"fast\"", "unknown key \"rat\"; did you mean \"rate\"?".
import type {Document} from 'yaml'
import type {z} from 'zod'

import {describePath, describeValue, type IssuePath, nearest, offsetOfPath, valueAt} from './issues.js'
import {Experiment} from './schema.js'

type ZodIssue = z.core.$ZodIssue

export interface ExplainedIssue {
  offset: number
  path: IssuePath
  message: string
  hint?: string
  /** set on unknown-key issues whose suggestion is a key the schema wants */
  suggestedKey?: string
  /** set on missing-key issues */
  missingKey?: boolean
}

export class IssueExplainer {
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

function pathSegment(segment: PropertyKey): string | number {
  return typeof segment === 'number' ? segment : String(segment)
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
