// A directory on this machine that a fault may write into although the experiment did not create it: it must be
// under one of safety.allowPaths, compared after both sides' symlinks are resolved, so a link cannot lead out.
import {realpathSync} from 'node:fs'
import {sep} from 'node:path'

import type {Experiment} from '../experiment/schema.js'
import {PlanError} from '../platforms/platform.js'

/** The directory's real path; PlanError when it does not exist or is not under safety.allowPaths. */
export function allowedPath(fault: string, dir: string, experiment: Experiment, instead: string): string {
  let real: string
  try {
    real = realpathSync(dir)
  } catch {
    throw new PlanError(`${fault} path ${dir} does not exist`)
  }
  const allowed = experiment.safety.allowPaths.map((p) => {
    try {
      return realpathSync(p)
    } catch {
      return p
    }
  })
  if (!allowed.some((a) => real === a || real.startsWith(a.endsWith(sep) ? a : a + sep))) {
    throw new PlanError(`${fault} path ${dir} (${real}) is not under safety.allowPaths (${allowed.join(', ') || 'empty'}); add it there to allow ${instead}`)
  }
  return real
}
