// Access to the cluster: @kubernetes/client-node, imported only when platform kubernetes is used, configured from
// the experiment's kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account; and
// the API server's failures turned into messages a user can act on.
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import type {KubeSettingsSpec} from '../../experiment/schema.js'
import {PlanError} from '../platform.js'

export type K8s = typeof import('@kubernetes/client-node')
export type KubeConfig = import('@kubernetes/client-node').KubeConfig
export type CoreV1Api = import('@kubernetes/client-node').CoreV1Api
export type Pod = import('@kubernetes/client-node').V1Pod

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export interface Cluster {
  k8s: K8s
  kc: KubeConfig
  core: CoreV1Api
  authz: import('@kubernetes/client-node').AuthorizationV1Api
  /** where the configuration came from, for the plan */
  source: string
  context?: string
  kubeconfig?: string
  server: string
  timeoutMs: number
}

/** Loads the configuration the usual way; PlanError 4 when there is none, 2 when the named context does not exist. */
export async function connect(settings: Partial<KubeSettingsSpec> | undefined): Promise<Cluster> {
  const k8s = await import('@kubernetes/client-node')
  const kc = new k8s.KubeConfig()
  const explicit = settings?.kubeconfig
  const envFiles = (process.env.KUBECONFIG ?? '').split(':').filter(Boolean)
  const home = join(homedir(), '.kube', 'config')
  let source: string
  let kubeconfig: string | undefined
  try {
    if (explicit !== undefined) {
      if (!existsSync(explicit)) throw new PlanError(`kubernetes.kubeconfig: no file at ${explicit}`, 4)
      kc.loadFromFile(explicit)
      source = `kubeconfig ${explicit}`
      kubeconfig = explicit
    } else if (envFiles.some((f) => existsSync(f))) {
      kc.loadFromDefault()
      source = `kubeconfig $KUBECONFIG (${envFiles.join(':')})`
      kubeconfig = envFiles.find((f) => existsSync(f))
    } else if (existsSync(home)) {
      kc.loadFromFile(home)
      source = `kubeconfig ${home}`
      kubeconfig = home
    } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) {
      kc.loadFromCluster()
      source = `in-cluster service account (${SA_DIR})`
    } else {
      throw new PlanError(
        `no kubeconfig: ${envFiles.length > 0 ? `$KUBECONFIG names ${envFiles.join(':')}, which does not exist; ` : '$KUBECONFIG is not set, '}` +
        `${home} does not exist, and this is not a pod with a service account. Point kubernetes.kubeconfig or $KUBECONFIG at a kubeconfig, or run inside the cluster (chaos k8s manifests)`, 4)
    }
  } catch (error) {
    if (error instanceof PlanError) throw error
    throw new PlanError(`the kubeconfig cannot be read: ${(error as Error).message}`, 4)
  }
  const context = settings?.context ?? process.env.CHAOS_KUBE_CONTEXT
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      throw new PlanError(`kubeconfig context "${context}" does not exist (${source} has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`)
    }
    kc.setCurrentContext(context)
  }
  const server = kc.getCurrentCluster()?.server
  if (!server) throw new PlanError(`${source}: the current context "${kc.getCurrentContext()}" names no cluster with a server`, 4)
  return {
    k8s, kc, core: kc.makeApiClient(k8s.CoreV1Api), authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    source, context: context ?? (kc.getCurrentContext() || undefined), kubeconfig, server, timeoutMs: settings?.requestTimeout ?? 10_000,
  }
}

/** A meta/v1 Status from a failed call, if the body holds one. */
export interface ApiStatus {
  code: number
  reason?: string
  message?: string
}

export function statusOf(error: unknown): ApiStatus | undefined {
  const e = error as {code?: unknown, body?: unknown}
  if (typeof e?.code !== 'number') return undefined
  let body: {reason?: string, message?: string} | undefined
  try {
    body = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as typeof body)
  } catch { /* not JSON */ }
  return {code: e.code, reason: body?.reason, message: body?.message ?? (typeof e.body === 'string' ? e.body : undefined)}
}

/** The API server's words for a failure, or the transport's. */
export function describeApiError(error: unknown): string {
  const status = statusOf(error)
  if (status) return `${status.code} ${status.reason ?? ''}: ${status.message ?? ''}`.replace(/\s+:/, ':')
  const e = error as NodeJS.ErrnoException & {cause?: NodeJS.ErrnoException}
  return e?.cause?.code ? `${e.message} (${e.cause.code})` : String((e as Error)?.message ?? error)
}

/** Bounds a call by the request timeout. */
export async function withTimeout<T>(cluster: Pick<Cluster, 'timeoutMs' | 'server'>, what: string, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PlanError(`${what}: the API server at ${cluster.server} did not answer within ${cluster.timeoutMs / 1000}s`, 4)), cluster.timeoutMs)
  })
  try {
    return await Promise.race([call, timeout])
  } finally {
    clearTimeout(timer)
  }
}
