// What `chaos cleanup` is asked and what it reports: apart from cleanup.ts, so that a platform's own cleanup (a host's,
// over SSH) can speak of them while cleanup.ts undoes that platform's ledger entries, with no import cycle.
export interface CleanupReport {
  runs: string[]
  removed: string[]
  failed: {what: string, error: string}[]
  skippedLiveRuns: string[]
}

export interface CleanupOptions {
  /** only this run */
  runId?: string
  /** also sweep by name for leftovers no ledger mentions (default true) */
  sweep?: boolean
  /** list what would be removed without removing it */
  dryRun?: boolean
  /** also sweep this cluster for pods labelled chaos.run (`chaos cleanup --kubernetes`); never by default */
  kubernetes?: {kubeconfig?: string, context?: string}
}
