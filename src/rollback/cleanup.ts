// `chaos cleanup`: undo what dead runs left behind, from their ledgers, then sweep for anything named after
// the toolkit that no live run owns (a ledger lost with its disk, or a run from an older version).
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {detectCgroupLayout, hierarchyRoots} from '../host/cgroupfs.js'
import {listNetns} from '../host/netns.js'
import {mountsBySource} from '../host/tmpfs.js'
import {connectEngine, engineProblem, listLabelled} from '../platforms/docker/engine.js'
import {STRESSOR_PROCESS} from '../stressors/kinds.js'
import {type LedgerRecord, type AnyLedgerResource as Resource, ownerAlive, processStartTime, readLedgers, readLiveMarkers, removeLiveMarker, stateDir} from './ledger.js'
import type {CleanupOptions, CleanupReport} from './cleanup-report.js'
import {describeResource, resourceExists, undo} from './undo.js'

export type {CleanupOptions, CleanupReport} from './cleanup-report.js'

export async function cleanup(options: CleanupOptions = {}): Promise<CleanupReport> {
  const report: CleanupReport = {runs: [], removed: [], failed: [], skippedLiveRuns: []}
  const liveRunIds = new Set<string>()
  const liveResources: Resource[] = []
  for (const {file, record} of readLedgers()) {
    if (ownerAlive(record)) {
      // a live run's things are never strays, whatever they are named (also with --run for another run)
      liveRunIds.add(record.runId)
      liveResources.push(...record.resources)
      if (options.runId && record.runId !== options.runId) continue
      report.skippedLiveRuns.push(record.runId)
      continue
    }
    if (options.runId && record.runId !== options.runId) continue
    report.runs.push(record.runId)
    const remaining = await undoAll(record.resources, report, options.dryRun)
    if (!options.dryRun) {
      if (remaining.length === 0) rmSync(file, {force: true})
      else rewrite(file, {...record, resources: remaining})
    }
  }
  // Live runs whose ledgers live in other state directories: their things are not strays either.
  for (const {file, marker} of readLiveMarkers()) {
    if (!ownerAlive(marker)) {
      // a dead run's marker is a leftover like any other, listed by a dry run
      if (options.runId && options.runId !== marker.runId) continue
      if (!options.dryRun) removeLiveMarker(file)
      report.removed.push(describeResource({kind: 'file', path: file}))
      continue
    }
    if (liveRunIds.has(marker.runId)) continue
    liveRunIds.add(marker.runId)
    try {
      liveResources.push(...(JSON.parse(readFileSync(marker.ledger, 'utf8')) as LedgerRecord).resources)
    } catch {
      // its ledger is being replaced or is gone: the run id alone still spares what is named after it
    }
    if (!options.runId || options.runId === marker.runId) report.skippedLiveRuns.push(marker.runId)
  }
  if (options.sweep !== false) await sweep(report, liveRunIds, liveResources, options)
  return report
}

async function undoAll(resources: Resource[], report: CleanupReport, dryRun = false): Promise<Resource[]> {
  const remaining: Resource[] = []
  // newest first: processes before the cgroups that hold them, mounts before their directories
  for (const resource of [...resources].reverse()) {
    const what = describeResource(resource)
    try {
      if (!(await resourceExists(resource))) continue
      if (dryRun) {
        report.removed.push(what)
        continue
      }
      if (await undo(resource)) report.removed.push(what)
      else {
        remaining.unshift(resource)
        report.failed.push({what, error: 'still present after removal'})
      }
    } catch (error) {
      remaining.unshift(resource)
      report.failed.push({what, error: (error as Error).message})
    }
  }
  return remaining
}

function rewrite(file: string, record: LedgerRecord): void {
  writeFileSync(file, JSON.stringify(record, null, 2))
}

/** The run id embedded in a name such as chaos-1a2b3c4d-worker, or undefined. */
function runIdOf(name: string): string | undefined {
  return /chaos-([0-9a-f]{8})/.exec(name)?.[1]
}

/** The identity of a resource as the sweep finds it. */
function identity(resource: Resource): string {
  switch (resource.kind) {
    // the sweep looks at the top of each hierarchy: a run's box owns everything beneath it
    case 'cgroup': return `cgroup:${resource.path.split('/')[0]}`
    case 'process': return `process:${resource.pid}`
    case 'netns': return `netns:${resource.name}`
    case 'container':
    case 'network': return `${resource.kind}:${resource.name}`
    case 'pod': return `pod:${resource.namespace}/${resource.name}`
    case 'host-run': return `host-run:${resource.host}/${resource.runId}`
    default: return `${resource.kind}:${resource.path}`
  }
}

/**
 * Everything named after the toolkit and not owned by a live run: neither named with a live run's id nor listed in
 * a live run's ledger (tools such as the benchmark keep a ledger of their own under another kind of id).
 */
export async function findStrays(liveRunIds: Set<string>, liveResources: Resource[] = []): Promise<Resource[]> {
  const strays: Resource[] = []
  const listed = new Set(liveResources.map((r) => identity(r)))
  const owned = (name: string, kind: 'cgroup' | 'netns' | 'mount') => {
    const id = runIdOf(name)
    if (id !== undefined && liveRunIds.has(id)) return true
    return kind === 'netns' ? listed.has(`netns:${name}`) : kind === 'cgroup' && listed.has(`cgroup:${name}`)
  }
  // stressor processes whose toolkit is gone (their dead-man's switch should have ended them already)
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ')
    } catch {
      continue
    }
    const match = STRESSOR_PROCESS.exec(cmdline)
    if (match && !liveRunIds.has(match[2]) && !listed.has(`process:${entry}`) && Number(entry) !== process.pid) {
      const pid = Number(entry)
      strays.push({kind: 'process', pid, startTime: processStartTime(pid) ?? 0, title: cmdline.trim().slice(0, 80)})
    }
  }
  for (const m of mountsBySource()) {
    if (m.source.startsWith('chaos-') && !owned(m.source, 'mount') && !listed.has(`mount:${m.target}`)) strays.push({kind: 'mount', path: m.target})
  }
  for (const ns of await listNetns()) {
    if (ns.startsWith('chaos-') && !owned(ns, 'netns')) strays.push({kind: 'netns', name: ns})
  }
  let layout
  try {
    layout = detectCgroupLayout()
  } catch {
    return strays
  }
  // every hierarchy, not only the toolkit's controllers: runc creates a Docker CgroupParent in all of them
  const roots = hierarchyRoots(layout)
  const seen = new Set<string>()
  for (const root of roots) {
    let names: string[] = []
    try {
      names = readdirSync(root, {withFileTypes: true}).filter((e) => e.isDirectory() && e.name.startsWith('chaos-')).map((e) => e.name)
    } catch { /* unreadable hierarchy */ }
    for (const name of names) {
      if (owned(name, 'cgroup') || seen.has(name)) continue
      seen.add(name)
      strays.push({kind: 'cgroup', version: layout.version, root: layout.root, path: name})
    }
  }
  return strays
}

/** Lock files of targets whose owner process is gone. */
function staleLocks(): Resource[] {
  const dir = join(stateDir(), 'locks')
  let names: string[] = []
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.lock'))
  } catch {
    return []
  }
  return names.map((n) => join(dir, n)).filter((file) => {
    try {
      const owner = JSON.parse(readFileSync(file, 'utf8')) as {pid: number, startTime: number}
      return processStartTime(owner.pid) !== owner.startTime
    } catch {
      return true
    }
  }).map((path) => ({kind: 'file', path}))
}

/**
 * Docker containers and networks labelled chaos.run whose run is not live. Without a reachable engine there is
 * nothing to ask and nothing is reported: a machine without Docker has no Docker leftovers.
 */
export async function findDockerStrays(liveRunIds: Set<string>, liveResources: Resource[] = []): Promise<Resource[]> {
  if (await engineProblem(2000)) return []
  const listed = new Set(liveResources.map((r) => identity(r)))
  try {
    const docker = await connectEngine({timeoutMs: 10_000})
    // networks first: undone in reverse, so containers are removed before the networks they are attached to
    return (await listLabelled(docker))
      .filter((o) => !liveRunIds.has(o.runId) && !listed.has(`${o.kind}:${o.name}`))
      .map((o): Resource => ({kind: o.kind, name: o.name}))
  } catch {
    return []
  }
}

async function sweep(report: CleanupReport, liveRunIds: Set<string>, liveResources: Resource[], options: CleanupOptions): Promise<void> {
  // Docker last: undone in reverse, so containers go before the cgroup parent of a shared level holding them
  let strays = [...await findStrays(liveRunIds, liveResources), ...staleLocks(), ...await findDockerStrays(liveRunIds, liveResources)]
  if (options.kubernetes) {
    try {
      const {findClusterStrays} = await import('../platforms/kubernetes/sweep.js')
      strays.push(...await findClusterStrays(options.kubernetes, liveRunIds, new Set(liveResources.map((r) => identity(r)))))
    } catch (error) {
      // a sweep that could not look is a failure to report, not "nothing to clean up"
      report.failed.push({what: 'the kubernetes sweep', error: (error as Error).message})
    }
  }
  if (options.runId) strays = strays.filter((r) => JSON.stringify(r).includes(options.runId!))
  await undoAll(strays, report, options.dryRun)
}
