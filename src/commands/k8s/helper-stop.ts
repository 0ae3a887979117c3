import {Command, Flags} from '@oclif/core'

export default class K8sHelperStop extends Command {
  static override hidden = true
  static override summary = 'Inside the cluster: stop the stressor helper of one run early (exec\'d into its ephemeral container)'
  static override description = 'Sends SIGTERM to the `chaos k8s helper` processes of that run that this PID namespace shows (an ephemeral container with targetContainerName shares the target\'s), and to nothing else; the helper stops its stressor and exits. Prints one JSON line. Exit 0 when they are gone or none was running, 1 on an error.'

  static override flags = {
    run: Flags.string({required: true, description: 'run id'}),
    kind: Flags.string({description: 'only the helper of this stressor kind'}),
    grace: Flags.integer({default: 10_000, description: 'ms to wait for them to exit'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(K8sHelperStop)
    const {stopHelpers} = await import('../../platforms/kubernetes/helper-stop.js')
    let code = 1
    try {
      const result = await stopHelpers(flags.run, {kind: flags.kind, graceMs: flags.grace})
      process.stdout.write(`${JSON.stringify(result)}\n`)
      code = result.error ? 1 : 0
    } catch (error) {
      process.stdout.write(`${JSON.stringify({type: 'helper-stop', run: flags.run, error: (error as Error).message})}\n`)
    }
    this.exit(code)
  }
}
