// What a run tells its watchers as it goes: the plan, each phase, a tick a second, log lines. The progress display,
// the toolkit's own metrics and the matrix and game-day drivers listen; this module imports nothing, so that
// any of them can use it without importing the run loop.
export type Phase = 'setup' | 'warmup' | 'baseline' | 'inject' | 'recover' | 'rollback' | 'judge'

export type RunEvent =
  | {type: 'plan', lines: string[]}
  | {type: 'phase', phase: Phase, durationMs?: number, label?: string}
  | {type: 'tick', phase: Phase, elapsedMs: number, durationMs: number, dose?: string, neighbors: {name: string, p99?: number, errors: number, requests: number}[]}
  | {type: 'log', line: string}
