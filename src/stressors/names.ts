// Files a stressor leaves on the machine, named alike by the stressor (which makes them) and the toolkit (which
// finds and removes them after a crash). How its processes are named is in kinds.ts, with the kinds.
import {join} from 'node:path'

/** The disk stressor's file: `DIR/chaos-<run>-fill`. */
export function fillFileName(dir: string, runId: string): string {
  return join(dir, `chaos-${runId}-fill`)
}
