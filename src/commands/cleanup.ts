import {Command, Flags} from '@oclif/core'

import {cleanup} from '../rollback/cleanup.js'

export default class Cleanup extends Command {
  static override summary = 'Remove whatever dead runs left behind: stressors, cgroups, mounts, network namespaces, files'
  static override description = 'Reads the ledgers of runs whose toolkit process is gone and undoes what they created, then sweeps for anything named after the toolkit that no live run owns. Safe to run twice.'
  static override examples = ['<%= config.bin %> cleanup', '<%= config.bin %> cleanup --run 1a2b3c4d', '<%= config.bin %> cleanup --dry-run', '<%= config.bin %> cleanup --kubernetes --context staging']

  static override flags = {
    run: Flags.string({description: 'only this run id'}),
    'dry-run': Flags.boolean({description: 'list what would be removed'}),
    'no-sweep': Flags.boolean({description: 'only what ledgers name; no sweep by name'}),
    json: Flags.boolean({description: 'print the report as JSON'}),
    kubernetes: Flags.boolean({description: 'also sweep the cluster (kubeconfig as for chaos run) for pods labelled chaos.run whose run is not live; needs "list pods" in all namespaces and "delete pods"'}),
    context: Flags.string({description: 'with --kubernetes: the kubeconfig context', dependsOn: ['kubernetes']}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Cleanup)
    const report = await cleanup({
      runId: flags.run, dryRun: flags['dry-run'], sweep: !flags['no-sweep'],
      kubernetes: flags.kubernetes ? {context: flags.context} : undefined,
    })
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      const verb = flags['dry-run'] ? 'would remove' : 'removed'
      for (const what of report.removed) process.stdout.write(`${verb} ${what}\n`)
      for (const f of report.failed) process.stdout.write(`FAILED ${f.what}: ${f.error}\n`)
      for (const id of report.skippedLiveRuns) process.stdout.write(`skipped run ${id}: still running\n`)
      process.stdout.write(report.removed.length === 0 && report.failed.length === 0 ? 'nothing to clean up\n' : `${report.removed.length} ${verb}, ${report.failed.length} failed\n`)
    }
    if (report.failed.length > 0) this.exit(5)
  }
}
