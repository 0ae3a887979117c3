// Turns an experiment file into a validated Experiment, or into every problem found, each one at the
// file:line:col a person would go to fix it. Three stages, each refusing hostile input before the next
// one could be hurt by it: raw text (size), YAML (depth, documents, syntax, aliases), then the zod schema,
// whose issue paths are mapped back to YAML nodes and reworded to say what was expected (explain.ts). The issues,
// their file:line:col and their error are issues.ts, which the game-day suite loader shares.
import {readFile, stat} from 'node:fs/promises'

import {Composer, isAlias, isCollection, isMap, isScalar, LineCounter, Parser, visit} from 'yaml'
import type {Alias, CST, Document, Node as YamlNode} from 'yaml'

import {IssueExplainer} from './explain.js'
import {describeValue, ExperimentError, type ExperimentIssue, issueAtStart, sortIssues} from './issues.js'
import {Experiment} from './schema.js'

export const MAX_FILE_BYTES = 1024 * 1024
export const MAX_ALIASES = 50
export const MAX_DEPTH = 64

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

function tooLarge(file: string, size: number): ExperimentIssue {
  return issueAtStart(file, `the file is ${size} bytes; an experiment file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`)
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
