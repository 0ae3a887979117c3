// The objects that run the toolkit inside a cluster: a ServiceAccount with exactly the permissions the platform
// uses (rbac.ts: a Role in the target namespace, a ClusterRole for reading namespace labels), a ConfigMap holding
// the experiment, a Job that runs it once and a CronJob for game days. Results go to the log as JSON (--json) and,
// when asked, to a Pushgateway. Plain objects: `chaos k8s manifests` prints them as YAML.
import {PERMISSIONS} from './rbac.js'

export interface ManifestOptions {
  namespace: string
  /** the experiment file's text, stored in the ConfigMap */
  experiment: string
  image: string
  name?: string
  schedule?: string
  pushgateway?: string
  /** the namespaces the experiment's workflows live in (each gets the Role); default: namespace */
  targetNamespaces?: string[]
}

type Obj = Record<string, unknown>

/** RBAC rules for the permissions of one scope, grouped by API group and resource as a Role lists them. */
export function rulesFor(scope: 'namespace' | 'cluster'): {apiGroups: string[], resources: string[], verbs: string[]}[] {
  const rules = new Map<string, {apiGroups: string[], resources: string[], verbs: string[]}>()
  for (const p of PERMISSIONS.filter((x) => x.scope === scope)) {
    const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource
    const key = `${p.group}|${resource}`
    const rule = rules.get(key) ?? {apiGroups: [p.group], resources: [resource], verbs: []}
    if (!rule.verbs.includes(p.verb)) rule.verbs.push(p.verb)
    rules.set(key, rule)
  }
  return [...rules.values()].map((r) => ({...r, verbs: r.verbs.sort()}))
}

export function manifests(options: ManifestOptions): Obj[] {
  const name = options.name ?? 'chaos'
  const ns = options.namespace
  const labels = {'app.kubernetes.io/name': 'chaos', 'app.kubernetes.io/instance': name}
  const targets = options.targetNamespaces ?? [ns]
  const args = ['run', '/etc/chaos/experiment.yaml', '--json', '--quiet', ...(options.pushgateway ? ['--pushgateway', options.pushgateway] : [])]
  const podSpec = {
    serviceAccountName: name,
    restartPolicy: 'Never',
    containers: [{
      name: 'chaos', image: options.image, imagePullPolicy: 'IfNotPresent',
      command: ['chaos'], args,
      env: [{name: 'CHAOS_STATE_DIR', value: '/var/lib/chaos'}],
      resources: {requests: {cpu: '100m', memory: '128Mi'}, limits: {cpu: '500m', memory: '256Mi'}},
      volumeMounts: [{name: 'experiment', mountPath: '/etc/chaos', readOnly: true}, {name: 'state', mountPath: '/var/lib/chaos'}],
    }],
    volumes: [{name: 'experiment', configMap: {name}}, {name: 'state', emptyDir: {}}],
  }
  const jobSpec = {backoffLimit: 0, ttlSecondsAfterFinished: 86_400, template: {metadata: {labels}, spec: podSpec}}
  return [
    {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name, namespace: ns, labels}},
    ...targets.flatMap((t) => [
      {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: {name, namespace: t, labels}, rules: rulesFor('namespace')},
      {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name, namespace: t, labels}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name}, subjects: [{kind: 'ServiceAccount', name, namespace: ns}]},
    ]),
    {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: {name: `${name}-namespaces`, labels}, rules: rulesFor('cluster')},
    {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: {name: `${name}-namespaces`, labels}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${name}-namespaces`}, subjects: [{kind: 'ServiceAccount', name, namespace: ns}]},
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name, namespace: ns, labels}, data: {'experiment.yaml': options.experiment}},
    {apiVersion: 'batch/v1', kind: 'Job', metadata: {name, namespace: ns, labels}, spec: jobSpec},
    {apiVersion: 'batch/v1', kind: 'CronJob', metadata: {name: `${name}-gameday`, namespace: ns, labels}, spec: {schedule: options.schedule ?? '0 10 * * 1-5', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3, jobTemplate: {spec: jobSpec}}},
  ]
}
