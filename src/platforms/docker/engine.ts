// The Docker engine, reached through dockerode. dockerode (and its dependency tree) is imported only here and
// only when something Docker is actually needed, so `chaos --help` and every process-platform run never load it.
import {setTimeout as sleep} from 'node:timers/promises'
import {existsSync} from 'node:fs'

import type Docker from 'dockerode'

/** The label every container and network the toolkit creates carries: the id of the run that owns it. */
export const RUN_LABEL = 'chaos.run'
/** The workflow a container plays in its run. */
export const WORKFLOW_LABEL = 'chaos.workflow'

export interface EngineAddress {
  /** unix socket path, for a local engine */
  socketPath?: string
  /** the DOCKER_HOST URL, for anything else */
  url?: string
  /** the engine runs on this machine: its containers' cgroups and namespaces are ours to join */
  local: boolean
  /** how to name it in messages */
  text: string
}

export function engineAddress(env: NodeJS.ProcessEnv = process.env): EngineAddress {
  const host = env.DOCKER_HOST?.trim()
  if (!host) return {socketPath: '/var/run/docker.sock', local: true, text: 'unix:///var/run/docker.sock'}
  if (host.startsWith('unix://')) return {socketPath: host.slice('unix://'.length), local: true, text: host}
  return {url: host, local: false, text: host}
}

/** Connects (lazily importing dockerode). `timeoutMs` bounds every request; leave it out for long-lived streams. */
export async function connectEngine(options: {timeoutMs?: number, env?: NodeJS.ProcessEnv} = {}): Promise<Docker> {
  const {default: Dockerode} = await import('dockerode')
  const address = engineAddress(options.env)
  if (address.socketPath) return new Dockerode({socketPath: address.socketPath, timeout: options.timeoutMs})
  const url = new URL(address.url!)
  return new Dockerode({host: url.hostname, port: url.port || 2375, protocol: url.protocol === 'https:' ? 'https' : 'http', timeout: options.timeoutMs})
}

/**
 * Why the engine cannot be used, or undefined when it answers. A local socket that does not exist is answered
 * without loading dockerode at all (the common case on machines without Docker).
 */
export async function engineProblem(timeoutMs = 3000, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const address = engineAddress(env)
  if (address.socketPath && !existsSync(address.socketPath)) return `no Docker engine socket at ${address.socketPath} (dockerd is not running)`
  try {
    const docker = await connectEngine({timeoutMs, env})
    await docker.ping()
    return undefined
  } catch (error) {
    return `the Docker engine at ${address.text} does not answer: ${describeError(error)}`
  }
}

/** The HTTP status of a dockerode error (404 for "no such container"), if it has one. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as {statusCode?: unknown})?.statusCode
  return typeof code === 'number' ? code : undefined
}

export function describeError(error: unknown): string {
  const e = error as {json?: {message?: string}, message?: string, code?: string}
  return e?.json?.message ?? e?.message ?? String(error)
}

/** Removes a container by name or id, killing it first; true when it is gone (also when it never existed). */
export async function removeContainer(docker: Docker, nameOrId: string): Promise<boolean> {
  try {
    await docker.getContainer(nameOrId).remove({force: true, v: true})
  } catch (error) {
    const status = statusOf(error)
    // 409 "removal already in progress": wait for it below
    if (status !== 404 && status !== 409) return false
  }
  for (let i = 0; i < 40; i++) {
    if (!(await containerExists(docker, nameOrId))) return true
    await sleep(100)
  }
  return false
}

export async function containerExists(docker: Docker, nameOrId: string): Promise<boolean> {
  try {
    await docker.getContainer(nameOrId).inspect()
    return true
  } catch (error) {
    if (statusOf(error) === 404) return false
    throw error
  }
}

export async function removeNetwork(docker: Docker, nameOrId: string): Promise<boolean> {
  try {
    await docker.getNetwork(nameOrId).remove()
  } catch (error) {
    if (statusOf(error) !== 404) return false
  }
  return !(await networkExists(docker, nameOrId))
}

export async function networkExists(docker: Docker, nameOrId: string): Promise<boolean> {
  try {
    await docker.getNetwork(nameOrId).inspect()
    return true
  } catch (error) {
    if (statusOf(error) === 404) return false
    throw error
  }
}

export interface LabelledObject {
  kind: 'container' | 'network'
  name: string
  runId: string
}

/** Every container (running or not) and network that carries the run label. */
export async function listLabelled(docker: Docker): Promise<LabelledObject[]> {
  const filters = JSON.stringify({label: [RUN_LABEL]})
  const [containers, networks] = await Promise.all([
    docker.listContainers({all: true, filters}),
    docker.listNetworks({filters}),
  ])
  return [
    ...networks.map((n) => ({kind: 'network' as const, name: n.Name, runId: n.Labels?.[RUN_LABEL] ?? ''})),
    ...containers.map((c) => ({kind: 'container' as const, name: (c.Names[0] ?? c.Id).replace(/^\//, ''), runId: c.Labels?.[RUN_LABEL] ?? ''})),
  ]
}

