// Undoing a kubernetes ledger entry (a helper pod): delete it through the API server with the kubeconfig and
// context the run used, and wait until it is gone. Idempotent: a pod that is already gone is undone.
import {setTimeout as sleep} from 'node:timers/promises'
import type {ClusterResource} from '../../rollback/ledger.js'
import {type Cluster, connect, statusOf} from './client.js'


async function clusterFor(r: ClusterResource, cluster?: Cluster): Promise<Cluster> {
  return cluster ?? connect({kubeconfig: r.kubeconfig, context: r.context})
}

export async function podExists(r: ClusterResource, cluster?: Cluster): Promise<boolean> {
  const c = await clusterFor(r, cluster)
  try {
    await c.core.readNamespacedPod({namespace: r.namespace, name: r.name})
    return true
  } catch (error) {
    if (statusOf(error)?.code === 404) return false
    throw error
  }
}

/** Deletes the pod (grace 1 s) and waits up to 30 s for it to be gone; true when it is. */
export async function deletePod(r: ClusterResource, cluster?: Cluster): Promise<boolean> {
  const c = await clusterFor(r, cluster)
  try {
    await c.core.deleteNamespacedPod({namespace: r.namespace, name: r.name, gracePeriodSeconds: 1})
  } catch (error) {
    if (statusOf(error)?.code === 404) return true
    throw error
  }
  for (let i = 0; i < 150; i++) {
    if (!(await podExists(r, c))) return true
    await sleep(200)
  }
  return false
}
