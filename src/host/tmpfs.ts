// Experiment volumes on this host (the process and Docker platforms'): a sized tmpfs per volume, so a disk fill
// has a filesystem of its own to fill and the host's disks are never touched. The mount source names the run, so
// a sweep can find it after a crash.
import {existsSync, mkdirSync, readFileSync, rmdirSync} from 'node:fs'

import {run, runOrThrow} from './exec.js'

export async function mountTmpfs(dir: string, bytes: number, source: string): Promise<void> {
  mkdirSync(dir, {recursive: true})
  await runOrThrow('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0777`, source, dir])
}

export async function unmount(dir: string): Promise<boolean> {
  if (isMounted(dir)) {
    const result = await run('umount', [dir])
    if (result.code !== 0) {
      // busy: a process still holds a file there; detach now, the kernel frees it when the last user goes
      const lazy = await run('umount', ['-l', dir])
      if (lazy.code !== 0) return false
    }
  }
  try {
    if (existsSync(dir)) rmdirSync(dir)
  } catch { /* not empty or gone: the caller's ledger keeps it */ }
  return !isMounted(dir)
}

export function isMounted(dir: string): boolean {
  return mountsBySource().some((m) => m.target === dir)
}

export function mountsBySource(): {source: string, target: string, type: string}[] {
  return readFileSync('/proc/self/mounts', 'utf8').trim().split('\n').map((line) => {
    const [source, target, type] = line.split(' ')
    return {source, target: target.replace(/\\040/g, ' '), type}
  })
}
