// The run ledger: what a run has created, written to disk BEFORE each thing is created and updated after it is
// removed. If the toolkit dies (even by SIGKILL), `chaos cleanup` reads the ledgers of dead runs and undoes what
// they left. Synchronous writes on purpose: the record must be on disk before the resource exists.
import {mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

import type {SshHostSpec} from '../experiment/schema.js'

export type Resource =
  | {kind: 'cgroup', version: 1 | 2, root: string, path: string}
  | {kind: 'mount', path: string}
  | {kind: 'dir', path: string}
  | {kind: 'file', path: string}
  | {kind: 'netns', name: string}
  | {kind: 'process', pid: number, startTime: number, title: string}

/** Objects of a container engine (platform docker), removed through the engine by the name chosen before creation. */
export type EngineResource =
  | {kind: 'container', name: string}
  | {kind: 'network', name: string}

/** Anything a ledger may list: what a run made on this machine (Resource) or in its container engine. */
export type LedgerResource = Resource | EngineResource

/** Objects in a Kubernetes cluster (platform kubernetes): a helper pod, removed through the API server with the context and kubeconfig the run used. */
export type ClusterResource = {kind: 'pod', namespace: string, name: string, context?: string, kubeconfig?: string}

/**
 * A run's share on a host reached over SSH (platform host): what the run made there is in that host's own ledger,
 * undone there by its agent when the channel ends, or by `chaos cleanup` run there over SSH. Written here before the
 * agent starts, so that a run killed on this machine still names the hosts to check; `ssh` is how the experiment
 * said to reach the host (paths to keys and known_hosts, never a secret).
 */
export type HostRunResource = {kind: 'host-run', host: string, runId: string, ssh: SshHostSpec}

/** Everything a ledger may list, the cluster's and the hosts' included. */
export type AnyLedgerResource = LedgerResource | ClusterResource | HostRunResource

export interface LedgerRecord {
  runId: string
  experiment: string
  file?: string
  /** the toolkit process that owns the run, and its start time (pids are reused) */
  owner: {pid: number, startTime: number}
  startedAt: string
  resources: AnyLedgerResource[]
}

export function stateDir(): string {
  if (process.env.CHAOS_STATE_DIR) return process.env.CHAOS_STATE_DIR
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state')
  return join(base, 'chaos')
}

export function ledgerDir(): string {
  return join(stateDir(), 'runs')
}

/**
 * The machine's register of live runs, whatever state directory keeps their ledgers: one small file per run naming
 * its owner and its ledger. `chaos cleanup` sweeps by name across the whole machine, so it must know every live
 * run, not only those of its own state directory (a test suite's, a CI job's, another user's XDG_STATE_HOME).
 */
export function liveRunsDir(): string {
  if (process.env.CHAOS_LIVE_DIR) return process.env.CHAOS_LIVE_DIR
  return process.getuid?.() === 0 ? '/run/chaos-live' : join(tmpdir(), `chaos-live-${process.getuid?.() ?? 'user'}`)
}

export interface LiveRunMarker {
  runId: string
  owner: {pid: number, startTime: number}
  ledger: string
}

/** Every marker in the register: live runs, and those of runs that died (their owner is gone). */
export function readLiveMarkers(): {file: string, marker: LiveRunMarker}[] {
  return readJsonFiles<LiveRunMarker>(liveRunsDir()).map(({file, value}) => ({file, marker: value}))
}

/**
 * The *.json files of a directory, parsed; none when it does not exist. An unreadable one is skipped: a torn write
 * leaves a .tmp file, never a half record, so it is someone else's and not ours to guess about.
 */
function readJsonFiles<T>(dir: string): {file: string, value: T}[] {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  const out: {file: string, value: T}[] = []
  for (const name of names) {
    const file = join(dir, name)
    try {
      out.push({file, value: JSON.parse(readFileSync(file, 'utf8')) as T})
    } catch {
      // skipped, as said above
    }
  }
  return out
}

/** Removes a marker, and the register's directory once it is empty (nothing of the toolkit stays behind). */
export function removeLiveMarker(file: string): void {
  rmSync(file, {force: true})
  try {
    rmdirSync(liveRunsDir())
  } catch {
    // not empty (another run is live) or already gone
  }
}

/**
 * Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined if it is gone.
 * A zombie counts as gone: it holds nothing, and its new parent may be an init that is slow to reap it (as in
 * containers whose PID 1 is not a real init), where waiting for it to vanish would report a false failure.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name may hold spaces and parentheses: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined
    return Number(fields[19])
  } catch {
    return undefined
  }
}

export function sameResource(a: AnyLedgerResource, b: AnyLedgerResource): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export class RunLedger {
  private readonly file: string
  private readonly marker: string
  private readonly record: LedgerRecord

  constructor(runId: string, experiment: string, sourceFile?: string) {
    mkdirSync(ledgerDir(), {recursive: true})
    this.file = join(ledgerDir(), `${runId}.json`)
    this.marker = join(liveRunsDir(), `${runId}.json`)
    this.record = {
      runId,
      experiment,
      file: sourceFile,
      owner: {pid: process.pid, startTime: processStartTime(process.pid) ?? 0},
      startedAt: new Date().toISOString(),
      resources: [],
    }
    this.flush()
    const marker: LiveRunMarker = {runId, owner: this.record.owner, ledger: this.file}
    // another run's end may remove the register's directory, empty, between the mkdir and the write: make it again
    for (let attempt = 0; ; attempt++) {
      mkdirSync(liveRunsDir(), {recursive: true, mode: 0o700})
      try {
        writeFileSync(this.marker, JSON.stringify(marker))
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error
      }
    }
  }

  get runId(): string {
    return this.record.runId
  }

  /** Call before creating the resource. */
  add(resource: AnyLedgerResource): void {
    this.record.resources.push(resource)
    this.flush()
  }

  /** Call after the resource is gone. */
  remove(resource: AnyLedgerResource): void {
    const index = this.record.resources.findIndex((r) => sameResource(r, resource))
    if (index >= 0) this.record.resources.splice(index, 1)
    this.flush()
  }

  resources(): AnyLedgerResource[] {
    return [...this.record.resources]
  }

  /** The run ended with nothing left: the ledger goes too. */
  close(): void {
    if (this.record.resources.length === 0) rmSync(this.file, {force: true})
    else this.flush()
    removeLiveMarker(this.marker)
  }

  private flush(): void {
    const temp = `${this.file}.tmp`
    writeFileSync(temp, JSON.stringify(this.record, null, 2))
    renameSync(temp, this.file)
  }
}

export function readLedgers(): {file: string, record: LedgerRecord}[] {
  return readJsonFiles<LedgerRecord>(ledgerDir()).map(({file, value}) => ({file, record: value}))
}

/** A run is alive while its owner process still exists with the same start time. */
export function ownerAlive(record: Pick<LedgerRecord, 'owner'>): boolean {
  return record.owner.pid !== process.pid && processStartTime(record.owner.pid) === record.owner.startTime
}
