// `chaos cleanup --host NAME`: the toolkit's own cleanup, run on a host over SSH. A run's agent removes what it made
// when its channel ends; this is for what a host kept anyway (the agent itself killed with SIGKILL, the host
// rebooted mid-run): the host's ledgers and sweep by name, read and undone there, reported here.
import type {CleanupOptions, CleanupReport} from '../../rollback/cleanup-report.js'
import type {HostRunResource} from '../../rollback/ledger.js'
import {localToolkitDir} from './agent-client.js'
import {connect, describeHost, execCollect, shellQuote, type SshTarget} from './ssh.js'

export async function cleanupHost(target: SshTarget, options: Pick<CleanupOptions, 'runId' | 'sweep' | 'dryRun'>): Promise<CleanupReport> {
  const client = await connect(target)
  try {
    const bin = `${target.spec.toolkit ?? localToolkitDir()}/bin/run.js`
    const argv = [target.spec.node, bin, 'cleanup', '--json',
      ...(options.runId ? ['--run', options.runId] : []), ...(options.dryRun ? ['--dry-run'] : []), ...(options.sweep === false ? ['--no-sweep'] : [])]
    const result = await execCollect(client, `exec ${argv.map(shellQuote).join(' ')}`, 120_000)
    // a failed removal exits 5 with its report; anything else without a report is the host's problem to name
    const start = result.stdout.indexOf('{')
    if (start < 0) throw new Error(`${describeHost(target)}: chaos cleanup there said nothing readable (exit ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}`)
    return JSON.parse(result.stdout.slice(start)) as CleanupReport
  } finally {
    client.end()
  }
}

/** What `chaos cleanup` there would still remove of this run: false when nothing (the agent removed it all). */
export async function hostRunLeft(r: HostRunResource): Promise<boolean> {
  const report = await cleanupHost({name: r.host, spec: r.ssh}, {runId: r.runId, dryRun: true, sweep: true})
  // a run whose agent still lives there is not left over, but it is not gone either
  return report.removed.length > 0 || report.failed.length > 0 || report.skippedLiveRuns.includes(r.runId)
}

/** `chaos cleanup` there for this run, over SSH; true when nothing of it is left on the host. */
export async function undoHostRun(r: HostRunResource): Promise<boolean> {
  const report = await cleanupHost({name: r.host, spec: r.ssh}, {runId: r.runId, sweep: true})
  if (report.skippedLiveRuns.includes(r.runId)) throw new Error(`its agent still runs on host ${r.host} (it removes what it made when its channel ends); try again later`)
  return report.failed.length === 0
}
