// The objects `chaos k8s manifests` prints, validated against the Kubernetes OpenAPI schemas (kubernetes-models) with
// every option: a quick check without a server. The real kube-apiserver's own strict validation of the same objects
// is test/e2e/kubernetes-apiserver.test.ts; the Job's pod running against it, kubernetes-node-agent.test.ts.
import {describe, expect, it} from 'vitest'

import {manifests} from '../../src/platforms/kubernetes/manifests.js'

describe('chaos k8s manifests', () => {
  it('validate as Kubernetes objects, with a pushgateway and target namespaces of their own', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const objects: any[] = manifests({namespace: 'chaos', experiment: 'apiVersion: chaos/v1\n', image: 'chaos-toolkit:test', pushgateway: 'http://pushgateway:9091', targetNamespaces: ['shop', 'payments']})
    const models = {
      ServiceAccount: (await import('kubernetes-models/v1/ServiceAccount')).ServiceAccount,
      ConfigMap: (await import('kubernetes-models/v1/ConfigMap')).ConfigMap,
      Role: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/Role')).Role,
      RoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding')).RoleBinding,
      ClusterRole: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole')).ClusterRole,
      ClusterRoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding')).ClusterRoleBinding,
      Job: (await import('kubernetes-models/batch/v1/Job')).Job,
      CronJob: (await import('kubernetes-models/batch/v1/CronJob')).CronJob,
    } as Record<string, new (o: unknown) => {validate(): void}>
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Job', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'ServiceAccount'])
    for (const o of objects) expect(() => new models[o.kind as string](o).validate(), o.kind as string).not.toThrow()
    // a Role and its binding in each target namespace, the Job's args naming the pushgateway
    expect(objects.filter((o) => o.kind === 'Role').map((o) => o.metadata.namespace)).toEqual(['shop', 'payments'])
    const job = objects.find((o) => o.kind === 'Job')!
    expect(job.spec.template.spec.containers[0].args).toEqual(['run', '/etc/chaos/experiment.yaml', '--json', '--quiet', '--pushgateway', 'http://pushgateway:9091'])
    // a broken object does not validate: the check above can fail
    expect(() => new models.Job({...job, spec: {...job.spec, template: {...job.spec.template, spec: {...job.spec.template.spec, containers: [{image: 'x'}]}}}}).validate()).toThrow()
  })
})
