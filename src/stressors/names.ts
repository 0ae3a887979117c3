// Files a stressor leaves on the machine, named alike by the stressor (which makes them) and the toolkit (which
// finds and removes them after a crash). How its processes are named is in kinds.ts, with the kinds.
import {join} from 'node:path'

import type {DiskParams, IoParams, StressorKind, StressorParams} from './protocol.js'

/** The disk stressor's file: `DIR/chaos-<run>-fill`. */
export function fillFileName(dir: string, runId: string): string {
  return join(dir, `chaos-${runId}-fill`)
}

/** The I/O stressor's file: `DIR/chaos-<run>-io`. */
export function ioFileName(dir: string, runId: string): string {
  return join(dir, `chaos-${runId}-io`)
}

/** The file a stressor of this kind makes and deletes when it exits, which a SIGKILL leaves behind; or undefined. */
export function fileOfStressor(kind: StressorKind, params: StressorParams, runId: string): string | undefined {
  if (kind === 'disk') return fillFileName((params as DiskParams).dir, runId)
  if (kind === 'io') return ioFileName((params as IoParams).dir, runId)
  return undefined
}
