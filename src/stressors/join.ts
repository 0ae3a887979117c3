// Moving a process into a cgroup: the stressor does it to itself before it burns anything, and the toolkit does it
// for the stressor the moment it is spawned, so that even the stressor's start-up (Node booting, ~0.1 s of CPU) is
// charged to the target's box, not to the toolkit's box of high CPU weight, where it would preempt the neighbours
// the toolkit is measuring.
import {closeSync, constants, openSync, writeSync} from 'node:fs'
import {join} from 'node:path'

/** Moves the whole process (all its threads) into a cgroup. No O_CREAT: a directory that is not a cgroup must fail. */
export function joinCgroup(dir: string, pid: number): void {
  const fd = openSync(join(dir, 'cgroup.procs'), constants.O_WRONLY)
  try {
    writeSync(fd, `${pid}\n`)
  } finally {
    closeSync(fd)
  }
}
