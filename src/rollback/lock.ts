// One experiment per target at a time: two faults in one target would make both verdicts meaningless. A lock
// file per target, created exclusively; a lock whose owner is dead is stale and taken over.
import {createHash} from 'node:crypto'
import {mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync} from 'node:fs'
import {join} from 'node:path'

import type {TargetSpec} from '../experiment/schema.js'
import {PlanError} from '../platforms/platform.js'
import {processStartTime, stateDir} from './ledger.js'

interface LockOwner {
  runId: string
  pid: number
  startTime: number
  target: string
}

export function targetKey(experimentName: string, target: TargetSpec): string {
  if (target.pid !== undefined) return `pid:${target.pid}`
  if (target.cgroup !== undefined) return `cgroup:${target.cgroup}`
  if (target.unit !== undefined) return `unit:${target.unit}`
  return `managed:${experimentName}/${target.name}`
}

export class TargetLock {
  // a forced exit (a second Ctrl-C) leaves through process.exit, past the run's own release: the lock goes then too
  private readonly onExit = () => rmSync(this.file, {force: true})

  private constructor(private readonly file: string) {
    process.once('exit', this.onExit)
  }

  /** Takes the target's lock or refuses, naming the run that holds it. */
  static acquire(key: string, runId: string): TargetLock {
    const dir = join(stateDir(), 'locks')
    mkdirSync(dir, {recursive: true})
    const file = join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 16)}.lock`)
    const owner: LockOwner = {runId, pid: process.pid, startTime: processStartTime(process.pid) ?? 0, target: key}
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx')
        writeSync(fd, JSON.stringify(owner))
        closeSync(fd)
        return new TargetLock(file)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const holder = readOwner(file)
        if (holder && processStartTime(holder.pid) === holder.startTime) {
          throw new PlanError(`target ${key} is already under experiment by run ${holder.runId} (pid ${holder.pid}); one experiment per target at a time`, 4)
        }
        rmSync(file, {force: true})
      }
    }
    throw new PlanError(`could not take the lock of target ${key}`, 4)
  }

  release(): void {
    process.off('exit', this.onExit)
    rmSync(this.file, {force: true})
  }
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner
  } catch {
    return undefined
  }
}
