// `chaos cleanup --host NAME`: the toolkit's own cleanup, run on a host over SSH. A run's agent removes what it made
// when its channel ends; this is for what a host kept anyway (the agent itself killed with SIGKILL, the host
// rebooted mid-run): the host's ledgers and sweep by name, read and undone there, reported here.
import type {CleanupOptions, CleanupReport} from '../../rollback/cleanup.js'
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
