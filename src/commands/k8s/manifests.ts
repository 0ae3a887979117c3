import {readFileSync} from 'node:fs'

import {Args, Command, Flags} from '@oclif/core'

export default class K8sManifests extends Command {
  static override summary = 'Print the Kubernetes objects that run an experiment inside the cluster (prints only; apply them yourself)'
  static override description = 'A ServiceAccount with exactly the verbs the kubernetes platform uses (a Role in each target namespace, a ClusterRole to read namespace labels), a ConfigMap holding the experiment, a Job that runs it once and a CronJob for game days. Results go to the Job\'s log as JSON, and to a Pushgateway with --pushgateway.'
  static override examples = [
    '<%= config.bin %> k8s manifests experiments/kubernetes/cpu-hog.yaml --namespace chaos --image registry.example/chaos:0.1.0 | kubectl apply -f -',
  ]

  static override args = {file: Args.string({description: 'experiment file (platform kubernetes)', required: true})}

  static override flags = {
    namespace: Flags.string({description: 'namespace of the Job, ServiceAccount and ConfigMap', default: 'chaos'}),
    image: Flags.string({description: 'the toolkit image', default: 'chaos-toolkit:0.1.0'}),
    name: Flags.string({description: 'name of the objects', default: 'chaos'}),
    schedule: Flags.string({description: 'the CronJob\'s schedule', default: '0 10 * * 1-5'}),
    pushgateway: Flags.string({description: 'push the run\'s metrics to this Pushgateway'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(K8sManifests)
    const [{manifests}, {stringify}, {parseExperiment}] = await Promise.all([
      import('../../platforms/kubernetes/manifests.js'), import('yaml'), import('../../experiment/load.js'),
    ])
    const text = readFileSync(args.file, 'utf8')
    const experiment = parseExperiment(text, args.file)
    const targetNamespaces = experiment.platform === 'kubernetes'
      ? [...new Set([experiment.target, ...experiment.neighbors].map((w) => w.pods?.namespace ?? 'default'))]
      : [flags.namespace]
    const objects = manifests({namespace: flags.namespace, experiment: text, image: flags.image, name: flags.name, schedule: flags.schedule, pushgateway: flags.pushgateway, targetNamespaces})
    process.stdout.write(objects.map((o) => stringify(o)).join('---\n'))
  }
}
