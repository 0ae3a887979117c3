import {Command, Flags} from '@oclif/core'

import {cleanup, type CleanupReport} from '../rollback/cleanup.js'
import {exitCodeFor} from '../cli/errors.js'

export default class Cleanup extends Command {
  static override summary = 'Remove whatever dead runs left behind: stressors, cgroups, mounts, network namespaces, files'
  static override description = 'Reads the ledgers of runs whose toolkit process is gone and undoes what they created, then sweeps for anything named after the toolkit that no live run owns. Safe to run twice.'
  static override examples = ['<%= config.bin %> cleanup', '<%= config.bin %> cleanup --run 1a2b3c4d', '<%= config.bin %> cleanup --dry-run', '<%= config.bin %> cleanup --kubernetes --context staging', '<%= config.bin %> cleanup --host app --experiment experiments/host/memory-leak.yaml']

  static override flags = {
    run: Flags.string({description: 'only this run id'}),
    'dry-run': Flags.boolean({description: 'list what would be removed'}),
    'no-sweep': Flags.boolean({description: 'only what ledgers name; no sweep by name'}),
    json: Flags.boolean({description: 'print the report as JSON'}),
    kubernetes: Flags.boolean({description: 'also sweep the cluster (kubeconfig as for chaos run) for pods labelled chaos.run whose run is not live; needs "list pods" in all namespaces and "delete pods"'}),
    context: Flags.string({description: 'with --kubernetes: the kubeconfig context', dependsOn: ['kubernetes']}),
    host: Flags.string({description: 'clean up on this host of a platform host experiment instead (over SSH, with the toolkit installed there)', dependsOn: ['experiment']}),
    experiment: Flags.string({description: 'with --host: the experiment file whose hosts: says how to reach it', dependsOn: ['host']}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Cleanup)
    let report: CleanupReport
    if (flags.host !== undefined) {
      report = await this.onHost(flags.host, flags.experiment!, {runId: flags.run, dryRun: flags['dry-run'], sweep: !flags['no-sweep']})
    } else {
      report = await cleanup({
        runId: flags.run, dryRun: flags['dry-run'], sweep: !flags['no-sweep'],
        kubernetes: flags.kubernetes ? {context: flags.context} : undefined,
      })
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      const verb = flags['dry-run'] ? 'would remove' : 'removed'
      const where = flags.host === undefined ? '' : ` on host ${flags.host}`
      for (const what of report.removed) process.stdout.write(`${verb} ${what}${where}\n`)
      for (const f of report.failed) process.stdout.write(`FAILED ${f.what}: ${f.error}\n`)
      for (const id of report.skippedLiveRuns) process.stdout.write(`skipped run ${id}: still running\n`)
      process.stdout.write(report.removed.length === 0 && report.failed.length === 0 ? `nothing to clean up${where}\n` : `${report.removed.length} ${verb}, ${report.failed.length} failed\n`)
    }
    if (report.failed.length > 0) this.exit(5)
  }

  /** The host's own cleanup, over SSH; a host the file does not name, or cannot be reached, is a refusal (exit 2 or 4). */
  private async onHost(name: string, file: string, options: {runId?: string, dryRun: boolean, sweep: boolean}): Promise<CleanupReport> {
    try {
      const {loadExperiment} = await import('../experiment/load.js')
      const experiment = await loadExperiment(file)
      const spec = experiment.hosts?.[name]
      if (!spec) {
        const {PlanError} = await import('../platforms/platform.js')
        throw new PlanError(`${file}: no host is named ${name}${experiment.hosts ? ` (hosts: ${Object.keys(experiment.hosts).join(', ')})` : ' (it is not a platform host experiment)'}`, 2)
      }
      const {cleanupHost} = await import('../platforms/host/cleanup.js')
      return await cleanupHost({name, spec}, options)
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      process.stderr.write(`${message}\n`)
      return this.exit(code)
    }
  }
}
