// Exit codes a CI gate can rely on.
export const ExitCode = {
  /** the outcome matched `expect` */
  Matched: 0,
  /** it did not */
  Mismatched: 1,
  /** invalid experiment or usage; nothing was started */
  Invalid: 2,
  /** aborted or interrupted; rollback done */
  Aborted: 3,
  /** inconclusive: too few samples, an unsteady baseline, a dose that did not land, a boundary that cannot be made */
  Inconclusive: 4,
  /** rollback incomplete: something was left behind */
  RollbackIncomplete: 5,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]
