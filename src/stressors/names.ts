// Names a stressor leaves on the machine, shared by the stressor (which makes them) and the toolkit (which
// finds and removes them after a crash).
import {join} from 'node:path'
import type {StressorKind} from './protocol.js'

/** The disk stressor's file: `DIR/chaos-<run>-fill`. */
export function fillFileName(dir: string, runId: string): string {
  return join(dir, `chaos-${runId}-fill`)
}

/** The process title, as `ps` shows it. */
export function stressorTitle(kind: StressorKind, runId: string): string {
  return `chaos-stressor ${kind} --run ${runId}`
}

/** Matches a stressor's /proc/PID/cmdline (NULs turned to spaces): kind in group 1, run id in group 2. */
export const STRESSOR_TITLE = /^chaos-stressor (memory|cpu|disk|flood|sink) --run (\S+)/
