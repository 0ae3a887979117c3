import {Command, Flags} from '@oclif/core'

import {STRESSOR_KIND_NAMES} from '../../stressors/kinds.js'
import type {StressorKind, StressorParams} from '../../stressors/protocol.js'

export default class K8sHelper extends Command {
  static override hidden = true
  static override summary = 'Inside the cluster: run one stressor for the kubernetes platform (the command of its ephemeral container or helper pod)'
  static override description = 'Relays the stressor\'s JSON lines to stdout, the container log the toolkit follows. With --container-id it first joins that container\'s cgroup on this node (a privileged helper pod with the node\'s /sys/fs/cgroup mounted).'

  static override flags = {
    run: Flags.string({required: true, description: 'run id'}),
    kind: Flags.string({required: true, options: [...STRESSOR_KIND_NAMES], description: 'stressor kind'}),
    params: Flags.string({required: true, description: 'stressor parameters as JSON'}),
    deadline: Flags.integer({required: true, description: 'epoch ms after which the stressor ends by itself'}),
    'container-id': Flags.string({description: 'join the cgroup of this container (containerd://ID)'}),
    'cgroup-root': Flags.string({description: 'where the node\'s cgroup hierarchy is mounted (default /host/sys/fs/cgroup, else /sys/fs/cgroup)'}),
    netns: Flags.boolean({description: 'also enter the target container\'s network namespace'}),
    'target-root': Flags.boolean({description: 'a disk fill\'s directory is a path in the target container\'s filesystem (through /proc/PID/root)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(K8sHelper)
    const {runHelper} = await import('../../platforms/kubernetes/helper.js')
    try {
      const code = await runHelper({
        runId: flags.run, kind: flags.kind as StressorKind, params: JSON.parse(flags.params) as StressorParams, deadline: flags.deadline,
        containerId: flags['container-id'], cgroupRoot: flags['cgroup-root'], joinNetns: flags.netns, inTargetRoot: flags['target-root'],
      })
      this.exit(code)
    } catch (error) {
      if ((error as {oclif?: unknown}).oclif) throw error
      process.stdout.write(`${JSON.stringify({type: 'error', message: (error as Error).message})}\n`)
      this.exit(3)
    }
  }
}
