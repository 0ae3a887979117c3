// Undoing one ledger entry. Every undo is idempotent: undoing what is already gone succeeds.
import {setTimeout as sleep} from 'node:timers/promises'
import {existsSync, readFileSync, rmSync} from 'node:fs'

import {Cgroup, detectCgroupLayout} from '../host/cgroupfs.js'
import {deleteNetns} from '../host/netns.js'
import {unmount} from '../host/tmpfs.js'
import {connectEngine, containerExists, engineProblem, networkExists, removeContainer, removeNetwork} from '../platforms/docker/engine.js'
import {processStartTime, type AnyLedgerResource as Resource} from './ledger.js'

export function describeResource(r: Resource): string {
  switch (r.kind) {
    case 'cgroup': return `cgroup ${r.path}`
    case 'mount': return `mount ${r.path}`
    case 'dir': return `directory ${r.path}`
    case 'file': return `file ${r.path}`
    case 'netns': return `network namespace ${r.name}`
    case 'process': return `process ${r.pid} (${r.title})`
    case 'container': return `docker container ${r.name}`
    case 'network': return `docker network ${r.name}`
    case 'pod': return `kubernetes pod ${r.namespace}/${r.name}`
    case 'host-run': return `run ${r.runId} on host ${r.host} (${r.ssh.user}@${r.ssh.address}:${r.ssh.port})`
  }
}

export function resourceExists(r: Resource): boolean | Promise<boolean> {
  switch (r.kind) {
    case 'container':
    case 'network': return dockerObjectExists(r)
    case 'pod': return import('../platforms/kubernetes/undo.js').then((k) => k.podExists(r))
    case 'host-run': return import('../platforms/host/cleanup.js').then((h) => h.hostRunLeft(r))
    case 'cgroup': return new Cgroup(layoutFor(r), r.path).exists()
    case 'mount': return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === r.path)
    case 'dir':
    case 'file': return existsSync(r.path)
    case 'netns': return existsSync(`/run/netns/${r.name}`)
    case 'process': return processStartTime(r.pid) === r.startTime
  }
}

/** Whether a container or network is still there; an engine that does not answer cannot tell, so it is "still there" (and its undo fails, keeping the ledger). */
async function dockerObjectExists(r: Extract<Resource, {kind: 'container' | 'network'}>): Promise<boolean> {
  if (await engineProblem(3000)) return true
  const docker = await connectEngine({timeoutMs: 10_000})
  return r.kind === 'container' ? containerExists(docker, r.name) : networkExists(docker, r.name)
}

function layoutFor(r: Extract<Resource, {kind: 'cgroup'}>) {
  const layout = detectCgroupLayout(r.root)
  if (layout.version !== r.version) throw new Error(`cgroup ${r.path} was made on cgroup v${r.version}, this host now has v${layout.version}`)
  return layout
}

/** Removes the resource; returns true when it is gone. */
export async function undo(r: Resource): Promise<boolean> {
  switch (r.kind) {
    case 'process': {
      if (processStartTime(r.pid) !== r.startTime) return true
      try {
        process.kill(r.pid, 'SIGKILL')
      } catch { /* raced with its own exit */ }
      for (let i = 0; i < 40 && processStartTime(r.pid) === r.startTime; i++) await sleep(25)
      return processStartTime(r.pid) !== r.startTime
    }
    case 'cgroup': {
      const left = await new Cgroup(layoutFor(r), r.path).remove()
      return left.length === 0
    }
    case 'mount': return unmount(r.path)
    case 'dir':
    case 'file':
      rmSync(r.path, {recursive: true, force: true})
      return !existsSync(r.path)
    case 'netns': return deleteNetns(r.name)
    case 'container':
    case 'network': {
      const problem = await engineProblem(3000)
      if (problem) throw new Error(problem)
      const docker = await connectEngine({timeoutMs: 30_000})
      return r.kind === 'container' ? removeContainer(docker, r.name) : removeNetwork(docker, r.name)
    }
    case 'pod': return (await import('../platforms/kubernetes/undo.js')).deletePod(r)
    case 'host-run': return (await import('../platforms/host/cleanup.js')).undoHostRun(r)
  }
}

