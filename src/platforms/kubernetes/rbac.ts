// Every API call the kubernetes platform makes, as RBAC sees it. The preflight asks the API server about each of
// these (SelfSubjectAccessReview) before anything is created, and `chaos k8s manifests` grants exactly these.
export interface ApiPermission {
  verb: string
  resource: string
  subresource?: string
  /** API group; '' is core */
  group: string
  /** namespaced (Role) or cluster-scoped (ClusterRole) */
  scope: 'namespace' | 'cluster'
  why: string
  /** needed only by this mechanism */
  mechanism?: 'ephemeral-container' | 'helper-pod'
  /** the run carries on without it (with less information) */
  optional?: boolean
  /** needed only when a workflow states its namespace's quota or LimitRange (pods.isolation) */
  forNamespaceIsolation?: boolean
}

export const PERMISSIONS: ApiPermission[] = [
  {verb: 'list', resource: 'pods', group: '', scope: 'namespace', why: 'select the target and neighbour pods'},
  {verb: 'watch', resource: 'pods', group: '', scope: 'namespace', why: 'follow restarts, OOM kills, evictions and readiness'},
  {verb: 'get', resource: 'pods', group: '', scope: 'namespace', why: 'wait for the stressor container to start and read how it ended'},
  {verb: 'get', resource: 'pods', subresource: 'log', group: '', scope: 'namespace', why: 'read the stressor\'s progress (dose proof)'},
  {verb: 'patch', resource: 'pods', subresource: 'ephemeralcontainers', group: '', scope: 'namespace', why: 'add the stressor as an ephemeral container', mechanism: 'ephemeral-container'},
  // exec over WebSocket is a GET, authorized as get; since Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission,
  // on by default) the apiserver also checks create. Without them the stressor runs on to its deadline.
  {verb: 'get', resource: 'pods', subresource: 'exec', group: '', scope: 'namespace', why: 'stop the ephemeral stressor early (exec chaos k8s helper-stop over WebSocket: the upgrade is a GET)', mechanism: 'ephemeral-container', optional: true},
  {verb: 'create', resource: 'pods', subresource: 'exec', group: '', scope: 'namespace', why: 'stop the ephemeral stressor early (exec chaos k8s helper-stop; Kubernetes 1.35+ requires create for a WebSocket exec too)', mechanism: 'ephemeral-container', optional: true},
  {verb: 'create', resource: 'pods', group: '', scope: 'namespace', why: 'start the helper pod on the target\'s node', mechanism: 'helper-pod'},
  {verb: 'delete', resource: 'pods', group: '', scope: 'namespace', why: 'remove the helper pod', mechanism: 'helper-pod'},
  {verb: 'list', resource: 'resourcequotas', group: '', scope: 'namespace', why: 'check a stated pods.isolation.quota', forNamespaceIsolation: true},
  {verb: 'list', resource: 'limitranges', group: '', scope: 'namespace', why: 'check a stated pods.isolation.limitRange', forNamespaceIsolation: true},
  {verb: 'get', resource: 'namespaces', group: '', scope: 'cluster', why: 'read the chaos.allowed label of a target pod\'s namespace', optional: true},
  {verb: 'list', resource: 'pods', group: 'metrics.k8s.io', scope: 'namespace', why: 'the target\'s CPU and working set (metrics-server)', optional: true},
]

export function describePermission(p: Pick<ApiPermission, 'verb' | 'resource' | 'subresource' | 'group'>): string {
  return `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.group ? `.${p.group}` : ''}`
}
