// The experiment the Kubernetes tests run against the fake cluster (test/helpers/fake-kube-api.ts): a worker
// target and an api neighbour probed over HTTP, in namespace shop. Each test changes what it is about.
export interface KubeExperimentOptions {
  name: string
  mechanism?: 'helper-pod' | 'ephemeral-container'
  image: string
  /** the api neighbour's loopback port, probed at 20 requests/s */
  apiPort: number
  apiSelector?: string
  targetSelector?: string
  fault?: string
  phases?: string
  hypothesis?: string[]
  /** more top-level YAML (safety:, metrics:) */
  extra?: string
  /** the verdict: section; default one baseline and one fault window (the phases') */
  verdict?: string
}

export function kubeExperiment(o: KubeExperimentOptions): string {
  const hypothesis = o.hypothesis ?? ['{signal: error_rate, max: 5%}', '{signal: restarts, max: 0}']
  return `apiVersion: chaos/v1
kind: Experiment
metadata: {name: ${o.name}}
platform: kubernetes
kubernetes: {mechanism: ${o.mechanism ?? 'helper-pod'}, image: ${o.image}, seed: 7}
target:
  name: worker
  pods: {namespace: shop, selector: "${o.targetSelector ?? 'app=worker'}", container: app}
neighbors:
  - name: api
    pods: {namespace: shop, selector: "${o.apiSelector ?? 'app=api,tier in (web)'}"}
    probe: {http: {url: "http://127.0.0.1:${o.apiPort}/work", rate: 20}}
fault: ${o.fault ?? '{type: cpu-hog, load: 50%}'}
phases: ${o.phases ?? '{warmup: 0s, baseline: 3s, inject: 4s, recover: 0s, interval: 500ms}'}
verdict: ${o.verdict ?? '{design: windows}'}
hypothesis:
${hypothesis.map((h) => `  - ${h}`).join('\n')}
${o.extra ?? ''}`
}
