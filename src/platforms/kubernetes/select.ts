// Selecting pods: list them page by page (limit/continue, so 5,000 pods never arrive as one response), keep the
// ones that can be targeted, and choose one, all, a count or a percentage with a seeded random draw.
import type {KubePodsSpec} from '../../experiment/schema.js'
import {seededRng} from '../../verdict/stats.js'
import {PlanError} from '../platform.js'
import {type Cluster, describeApiError, type Pod, statusOf, withTimeout} from './client.js'

export const ALLOW_LABEL = 'chaos.allowed'
export const RUN_LABEL = 'chaos.run'
export const PAGE_SIZE = 500

export interface Listed {
  pods: Pod[]
  pages: number
  resourceVersion?: string
}

/** Every pod the selectors match, paginated; a continue token that expired (410) restarts the list once. */
export async function listPods(cluster: Pick<Cluster, 'core' | 'timeoutMs' | 'server'>, pods: Pick<KubePodsSpec, 'namespace' | 'selector' | 'fieldSelector'>, pageSize = PAGE_SIZE): Promise<Listed> {
  for (let attempt = 0; ; attempt++) {
    const out: Pod[] = []
    let token: string | undefined
    let pages = 0
    let resourceVersion: string | undefined
    try {
      do {
        const page = await withTimeout(cluster, `listing pods in ${pods.namespace}`, cluster.core.listNamespacedPod({
          namespace: pods.namespace, labelSelector: pods.selector, fieldSelector: pods.fieldSelector, limit: pageSize, _continue: token,
        }))
        pages++
        resourceVersion ??= page.metadata?.resourceVersion
        out.push(...page.items)
        token = page.metadata?._continue || undefined
      } while (token)
      return {pods: out, pages, resourceVersion}
    } catch (error) {
      const status = statusOf(error)
      if (status?.code === 410 && attempt === 0) continue
      throw listError(error, pods)
    }
  }
}

function listError(error: unknown, pods: Pick<KubePodsSpec, 'namespace' | 'selector' | 'fieldSelector'>): Error {
  if (error instanceof PlanError) return error
  const status = statusOf(error)
  if (status?.code === 400) return new PlanError(`pods.selector/fieldSelector in namespace ${pods.namespace}: the API server refused it: ${status.message}`)
  if (status?.code === 403) return new PlanError(`forbidden by RBAC: ${status.message}. Grant "list pods" in namespace ${pods.namespace} (chaos k8s manifests prints a Role)`, 4)
  if (status?.code === 401) return new PlanError(`the API server refused the credentials (401 Unauthorized): ${status.message ?? ''}`, 4)
  return new PlanError(`listing pods in ${pods.namespace}: ${describeApiError(error)}`, 4)
}

export type Pick_ = KubePodsSpec['pick']

/** How many of n pods the pick asks for. */
export function pickCount(pick: NonNullable<Pick_>, n: number): number {
  if (pick === 'one') return Math.min(1, n)
  if (pick === 'all') return n
  if ('count' in pick) return Math.min(pick.count, n)
  return Math.min(n, Math.max(1, Math.ceil(pick.percent * n)))
}

/** A seeded choice: the same seed and the same pods (sorted by namespace/name) give the same choice. */
export function choosePods(pods: Pod[], pick: NonNullable<Pick_>, seed: number): Pod[] {
  const sorted = [...pods].sort((a, b) => podKey(a).localeCompare(podKey(b)))
  const count = pickCount(pick, sorted.length)
  if (count === sorted.length) return sorted
  const rng = seededRng(seed)
  // partial Fisher-Yates: the first `count` places are a uniform random choice
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng() * (sorted.length - i))
    ;[sorted[i], sorted[j]] = [sorted[j], sorted[i]]
  }
  return sorted.slice(0, count).sort((a, b) => podKey(a).localeCompare(podKey(b)))
}

export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`
}

export function describePick(pick: NonNullable<Pick_>): string {
  if (typeof pick === 'string') return pick
  return 'count' in pick ? `count ${pick.count}` : `${Math.round(pick.percent * 1000) / 10}%`
}

/** Why a pod cannot be a target now, or undefined: it must be running, not being deleted, and its container running. */
export function notRunning(pod: Pod, container: string): string | undefined {
  if (pod.metadata?.deletionTimestamp) return 'is being deleted'
  if (pod.status?.phase !== 'Running') return `is ${pod.status?.phase ?? 'in no phase'}${pod.status?.reason ? ` (${pod.status.reason})` : ''}, not Running`
  const status = pod.status.containerStatuses?.find((c) => c.name === container)
  if (!status?.state?.running) {
    const waiting = status?.state?.waiting?.reason ?? (status?.state?.terminated ? `terminated: ${status.state.terminated.reason}` : 'not started')
    return `has container ${container} not running (${waiting})`
  }
  return undefined
}
