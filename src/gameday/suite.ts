// A game-day suite file: experiments run in order, or at the same time in `parallel` groups the suite says cannot
// interfere. Refused as the experiment loader refuses, with every problem at its file:line:col (ExperimentError,
// so commands exit 2): the YAML, then the schema, then each experiment file it names (their own problems point
// into their own files), then ports shared inside a parallel group.
import {existsSync, statSync} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {dirname, relative, resolve} from 'node:path'

import {LineCounter, parseAllDocuments} from 'yaml'
import type {Document} from 'yaml'
import {z} from 'zod'

import {describePath, describeValue, ExperimentError, type ExperimentIssue, type IssuePath, nearest, offsetOfPath, sortIssues, valueAt} from '../experiment/issues.js'
import {loadExperiment, MAX_ALIASES, MAX_FILE_BYTES} from '../experiment/load.js'
import type {Experiment} from '../experiment/schema.js'
import {parseDuration} from '../experiment/units.js'
import type {Level} from '../matrix/types.js'
import {applyOverrides} from '../run/design.js'

export interface SuiteItem {
  /** the experiment file as the suite wrote it, and as a path from the working directory */
  file: string
  path: string
  experiment: Experiment
  level?: Level
}

export interface SuiteStep {
  parallel: boolean
  items: SuiteItem[]
}

export interface Suite {
  file: string
  name: string
  description?: string
  stopOnBreach: boolean
  steps: SuiteStep[]
}

const MAX_PHASE_MS = 6 * 3_600_000

const duration = (what: string, min: number) => z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value)
  if (ms === undefined) {
    ctx.addIssue({code: 'custom', message: `${what}: expected a duration such as 500ms, 15s or 1m30s, got ${JSON.stringify(value)}`})
    return z.NEVER
  }
  if (ms < min || ms > MAX_PHASE_MS) {
    ctx.addIssue({code: 'custom', message: `${what}: ${JSON.stringify(value)} is out of range (${min / 1000}s to 6h)`})
    return z.NEVER
  }
  return ms
})

const SuiteExperiment = z.strictObject({
  file: z.string().min(1),
  level: z.enum(['none', 'shared', 'cgroup']).optional(),
  warmup: duration('warmup', 0).optional(),
  baseline: duration('baseline', 3000).optional(),
  inject: duration('inject', 3000).optional(),
  recover: duration('recover', 0).optional(),
})

const ParallelGroup = z.strictObject({
  parallel: z.boolean(),
  experiments: z.array(SuiteExperiment).min(1).max(20),
})

const GameDay = z.strictObject({
  apiVersion: z.literal('chaos/v1'),
  kind: z.literal('GameDay'),
  metadata: z.strictObject({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'expected a short lowercase name (letters, digits, dashes)'),
    description: z.string().max(500).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  stopOnBreach: z.boolean().default(false),
  // entries are checked one by one below, so a group and a plain experiment each get their own messages
  experiments: z.array(z.unknown()).min(1).max(100),
})

type SuiteExperimentSpec = z.output<typeof SuiteExperiment>

const KEYS: Record<string, string[]> = {
  top: Object.keys(GameDay.shape),
  metadata: ['name', 'description', 'labels'],
  experiment: Object.keys(SuiteExperiment.shape),
  group: Object.keys(ParallelGroup.shape),
}

export async function loadSuite(file: string): Promise<Suite> {
  let text: string
  try {
    const info = await stat(file)
    if (info.size > MAX_FILE_BYTES) throw new ExperimentError([{file, line: 1, col: 1, path: [], message: `the file is ${info.size} bytes; a suite file may be at most 1 MiB`}])
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (error instanceof ExperimentError) throw error
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new ExperimentError([{file, line: 1, col: 1, path: [], message: `cannot read the suite: ${reason}`}])
  }
  const spec = parseSuiteText(text, file)
  return resolveSuite(spec, file)
}

interface ParsedSuite {
  data: z.output<typeof GameDay>
  entries: ({kind: 'experiment', spec: SuiteExperimentSpec, path: IssuePath} | {kind: 'group', parallel: boolean, items: {spec: SuiteExperimentSpec, path: IssuePath}[]})[]
  at: (path: IssuePath, message: string, hint?: string, point?: 'key' | 'value') => ExperimentIssue
}

/** YAML and schema; no file system. */
export function parseSuiteText(text: string, file: string): ParsedSuite {
  const lines = new LineCounter()
  const documents = parseAllDocuments(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  const docs = Array.isArray(documents) ? documents : [documents]
  const position = (offset: number) => lines.linePos(offset)
  const issueAt = (offset: number, path: IssuePath, message: string, hint?: string): ExperimentIssue => {
    const {line, col} = position(offset)
    return {file, line, col, path, message, ...(hint ? {hint} : {})}
  }
  if (docs.length === 0 || docs[0].contents === null) throw new ExperimentError([issueAt(0, [], 'the suite is empty; expected apiVersion: chaos/v1, kind: GameDay, metadata, experiments')])
  if (docs.length > 1) throw new ExperimentError([issueAt(docs[1].range[0], [], 'a second YAML document starts here; a suite file holds exactly one document')])
  const doc = docs[0] as Document.Parsed
  if (doc.errors.length > 0) throw new ExperimentError(doc.errors.map((e) => issueAt(e.pos[0], [], `YAML syntax error: ${e.code === 'DUPLICATE_KEY' ? 'duplicate key: a key may appear only once in a mapping' : e.message}`)))
  let data: unknown
  try {
    data = doc.toJS({maxAliasCount: MAX_ALIASES})
  } catch (error) {
    throw new ExperimentError([issueAt(0, [], `YAML aliases expand too much (${(error as Error).message})`)])
  }
  const at = (path: IssuePath, message: string, hint?: string, point: 'key' | 'value' = 'value') => issueAt(offsetOfPath(doc, path, point), path, message, hint)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ExperimentError([at([], `expected a mapping (apiVersion: chaos/v1, kind: GameDay, ...), got ${describeValue(data)}`)])

  const issues: ExperimentIssue[] = []
  const top = GameDay.safeParse(data)
  if (!top.success) issues.push(...explain(top.error.issues, [], data, at))
  const entries: ParsedSuite['entries'] = []
  const rawEntries = Array.isArray((data as {experiments?: unknown}).experiments) ? (data as {experiments: unknown[]}).experiments : []
  rawEntries.forEach((raw, i) => {
    const path: IssuePath = ['experiments', i]
    const isGroup = raw !== null && typeof raw === 'object' && ('parallel' in raw || 'experiments' in raw)
    const parsed = (isGroup ? ParallelGroup : SuiteExperiment).safeParse(raw)
    if (!parsed.success) {
      issues.push(...explain(parsed.error.issues, path, data, at))
      return
    }
    if ('parallel' in parsed.data) {
      const group = parsed.data
      entries.push({kind: 'group', parallel: group.parallel, items: group.experiments.map((spec, j) => ({spec, path: [...path, 'experiments', j]}))})
    } else {
      entries.push({kind: 'experiment', spec: parsed.data as SuiteExperimentSpec, path})
    }
  })
  if (issues.length > 0 || !top.success) throw new ExperimentError(sortIssues(issues))
  return {data: top.data, entries, at}
}

async function resolveSuite(parsed: ParsedSuite, file: string): Promise<Suite> {
  const issues: ExperimentIssue[] = []
  const base = dirname(file)
  const load = async (spec: SuiteExperimentSpec, path: IssuePath): Promise<SuiteItem | undefined> => {
    const full = resolve(base, spec.file)
    if (!existsSync(full) || !statSync(full).isFile()) {
      issues.push(parsed.at([...path, 'file'], `${describePath([...path, 'file'])}: no such experiment file ${JSON.stringify(spec.file)} (looked for ${full}; paths are relative to the suite file)`))
      return undefined
    }
    try {
      // as a path from the working directory when it is below it (as a person would type it), else absolute
      const fromHere = relative(process.cwd(), full)
      const shown = fromHere && !fromHere.startsWith('..') ? fromHere : full
      const experiment = await loadExperiment(shown)
      applyOverrides(experiment, spec)
      return {file: spec.file, path: shown, experiment, ...(spec.level ? {level: spec.level} : {})}
    } catch (error) {
      if (error instanceof ExperimentError) issues.push(...error.issues)
      else throw error
      return undefined
    }
  }
  const steps: SuiteStep[] = []
  for (const entry of parsed.entries) {
    if (entry.kind === 'experiment') {
      const item = await load(entry.spec, entry.path)
      if (item) steps.push({parallel: false, items: [item]})
      continue
    }
    const items: SuiteItem[] = []
    for (const {spec, path} of entry.items) {
      const item = await load(spec, path)
      if (item) items.push(item)
    }
    if (entry.parallel) issues.push(...portConflicts(items, entry.items.map((i) => i.path), parsed.at))
    if (entry.parallel) steps.push({parallel: true, items})
    else for (const item of items) steps.push({parallel: false, items: [item]})
  }
  if (issues.length > 0) throw new ExperimentError(issues)
  return {file, name: parsed.data.metadata.name, description: parsed.data.metadata.description, stopOnBreach: parsed.data.stopOnBreach, steps}
}

/** Ports an experiment's workflows listen on or are probed at: two experiments at once cannot share one. */
export function portsOf(experiment: Experiment): Set<number> {
  const ports = new Set<number>()
  for (const workflow of [experiment.target, ...experiment.neighbors]) {
    const argv = (workflow as {run?: string[]}).run ?? []
    argv.forEach((arg, i) => {
      if (arg === '--port' && /^\d+$/.test(argv[i + 1] ?? '')) ports.add(Number(argv[i + 1]))
      const inline = /^--port=(\d+)$/.exec(arg)
      if (inline) ports.add(Number(inline[1]))
    })
    const urls = [(workflow as {probe?: {http?: {url?: string}}}).probe?.http?.url, (workflow as {metrics?: string}).metrics]
    for (const url of urls) {
      if (!url) continue
      try {
        const port = new URL(url).port
        if (port) ports.add(Number(port))
      } catch {
        // the experiment's own schema has checked its URLs
      }
    }
  }
  return ports
}

function portConflicts(items: SuiteItem[], paths: IssuePath[], at: ParsedSuite['at']): ExperimentIssue[] {
  const issues: ExperimentIssue[] = []
  const owners = new Map<number, string>()
  items.forEach((item, i) => {
    const clashes = [...portsOf(item.experiment)].filter((p) => owners.has(p))
    if (clashes.length > 0) {
      issues.push(at([...paths[i], 'file'], `${describePath(paths[i])}: ${item.file} uses port ${clashes.join(', ')} like ${owners.get(clashes[0])} in the same parallel group; experiments run in parallel must not interfere`, 'run them one after the other, or give them different ports'))
    }
    for (const p of portsOf(item.experiment)) if (!owners.has(p)) owners.set(p, item.file)
  })
  return issues
}

// ---------------------------------------------------------------------------------------------------------
// zod issues → positioned messages

function explain(issues: readonly z.core.$ZodIssue[], prefix: IssuePath, data: unknown, at: ParsedSuite['at']): ExperimentIssue[] {
  return issues.flatMap((issue) => {
    const path: IssuePath = [...prefix, ...issue.path.map((s) => (typeof s === 'number' ? s : String(s)))]
    const where = describePath(path).replace(/^the experiment$/, 'the suite')
    const value = valueAt(data, path)
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => {
          const allowed = allowedKeys(path, data)
          const suggestion = nearest(key, allowed)
          const place = path.length === 0 ? 'at the top level' : `in ${describePath(path)}`
          return at([...path, key], `unknown key ${JSON.stringify(key)} ${place}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ''}`, suggestion ? undefined : `allowed here: ${allowed.join(', ')}`, 'key')
        })
      case 'invalid_type':
        if (!value.found) return [at(path.slice(0, -1), `missing required key ${JSON.stringify(String(path.at(-1)))}${path.length > 1 ? ` in ${describePath(path.slice(0, -1))}` : ''}`)]
        return [at(path, `${where}: expected ${EXPECTED_WORDS[issue.expected] ?? issue.expected}, got ${describeValue(value.value)}`)]
      case 'invalid_value': {
        if (!value.found) return [at(path.slice(0, -1), `missing required key ${JSON.stringify(String(path.at(-1)))}`)]
        const allowed = issue.values.map(String)
        const suggestion = typeof value.value === 'string' ? nearest(value.value, allowed) : undefined
        return [at(path, `${where}: expected ${allowed.map((v) => JSON.stringify(v)).join(' or ')}, got ${describeValue(value.value)}${suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : ''}`)]
      }
      case 'custom':
        return [at(path, /^\w+: /.test(issue.message) ? `${describePath(path.slice(0, -1))}.${issue.message}` : `${where}: ${issue.message}`)]
      case 'too_small':
        return [at(path, `${where}: ${issue.origin === 'array' ? `needs at least ${issue.minimum} item(s)` : issue.origin === 'string' ? 'must not be empty' : `must be at least ${issue.minimum}`}`)]
      default:
        return [at(path, `${where}: ${issue.message}`)]
    }
  })
}

const EXPECTED_WORDS: Record<string, string> = {object: 'a mapping', array: 'a list', boolean: 'true or false', string: 'text', number: 'a number'}

function allowedKeys(path: IssuePath, data: unknown): string[] {
  if (path.length === 0) return KEYS.top
  if (path.length === 1 && path[0] === 'metadata') return KEYS.metadata
  const value = valueAt(data, path).value
  if (value && typeof value === 'object' && ('parallel' in value || 'experiments' in value)) return KEYS.group
  return KEYS.experiment
}

/** Whether a YAML file is a game-day suite (kind: GameDay) rather than an experiment, for `chaos validate`. */
export async function isSuiteFile(file: string): Promise<boolean> {
  try {
    const text = await readFile(file, 'utf8')
    return /^kind:\s*["']?GameDay["']?\s*(#.*)?$/m.test(text.slice(0, 64 * 1024))
  } catch {
    return false
  }
}
