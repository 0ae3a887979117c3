// `chaos cleanup --kubernetes`: the cluster's share of the sweep. Helper pods are written to the run's ledger before
// they are created, so a ledger normally names them; this finds the ones no ledger names (a ledger lost with its
// machine, a run started from another machine): every pod labelled chaos.run=ID, in every namespace, whose run is
// not live. Asked for explicitly, never by default: a plain `chaos cleanup` does not reach into whatever cluster
// the kubeconfig happens to point at.
import type {ClusterResource} from '../../rollback/ledger.js'
import {type Cluster, connect, describeApiError, statusOf, withTimeout} from './client.js'
import {PAGE_SIZE, RUN_LABEL} from './select.js'

export interface ClusterSweepTarget {
  kubeconfig?: string
  context?: string
}

/** Pods labelled chaos.run in any namespace whose run id is not live and which no live ledger lists. */
export async function findClusterStrays(target: ClusterSweepTarget, liveRunIds: Set<string>, listed: Set<string>, cluster?: Cluster): Promise<ClusterResource[]> {
  const c = cluster ?? await connect(target)
  const strays: ClusterResource[] = []
  let token: string | undefined
  try {
    do {
      const page = await withTimeout(c, 'listing chaos.run pods in all namespaces', c.core.listPodForAllNamespaces({labelSelector: RUN_LABEL, limit: PAGE_SIZE, _continue: token}))
      for (const pod of page.items) {
        const runId = pod.metadata?.labels?.[RUN_LABEL]
        const namespace = pod.metadata?.namespace
        const name = pod.metadata?.name
        if (!runId || !namespace || !name || liveRunIds.has(runId) || listed.has(`pod:${namespace}/${name}`)) continue
        strays.push({kind: 'pod', namespace, name, context: c.context ?? target.context, kubeconfig: c.kubeconfig ?? target.kubeconfig})
      }
      token = page.metadata?._continue || undefined
    } while (token)
  } catch (error) {
    if (statusOf(error)?.code === 403) throw new Error(`forbidden by RBAC: the sweep needs "list pods" in all namespaces (${describeApiError(error)})`)
    throw error
  }
  return strays
}
