// The block device under a directory, as the I/O controllers name it. cgroup throttle rules and I/O accounting
// are per whole disk (major:minor): a partition's I/O is counted and throttled on the disk it belongs to, and a
// filesystem with no block device under it (tmpfs, overlay, NFS: major 0) has no disk I/O to saturate or limit.
import {existsSync, readFileSync, realpathSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'

export interface BlockDevice {
  /** "major:minor" of the whole disk, as blkio and io.max take it */
  id: string
  /** the kernel's name for the disk (vda, nvme0n1) */
  name: string
  /** the partition the directory is on, when it is one, as "major:minor" */
  partition?: string
}

/** Where a working file goes, the disk under it, and the room its filesystem has (statfs: all of it, and what an unprivileged writer may still use). */
export interface IoDisk {
  dir: string
  /** a directory that exists on the same filesystem (dir may be made only at setup) */
  existing: string
  device: BlockDevice
  totalBytes: number
  availableBytes: number
}

/** Linux's dev_t encoding (glibc's gnu_dev_major/minor). */
export function splitDev(dev: bigint): {major: number, minor: number} {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn))
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))
  return {major, minor}
}

export class NotBlockBackedError extends Error {}

/**
 * The whole disk the filesystem under `dir` is on. Throws NotBlockBackedError for a filesystem without one (tmpfs,
 * overlay: major 0), and Error where /sys does not describe the device.
 */
export function blockDeviceOf(dir: string, sysDevBlock = '/sys/dev/block'): BlockDevice {
  const {major, minor} = splitDev(statSync(dir, {bigint: true}).dev)
  if (major === 0) throw new NotBlockBackedError(`${dir} is on a filesystem with no block device under it (device 0:${minor}: tmpfs, overlay or a network filesystem), so it has no disk I/O of its own to saturate or limit`)
  const own = `${major}:${minor}`
  const link = join(sysDevBlock, own)
  if (!existsSync(link)) throw new Error(`${dir} is on device ${own}, which ${sysDevBlock} does not list`)
  const real = realpathSync(link)
  if (existsSync(join(real, 'partition'))) {
    const disk = dirname(real)
    return {id: readFileSync(join(disk, 'dev'), 'utf8').trim(), name: disk.split('/').at(-1)!, partition: own}
  }
  return {id: own, name: real.split('/').at(-1)!}
}

/** The path itself if it exists, else its nearest existing ancestor: where a directory a run will create will be. */
export function existingAncestor(path: string): string {
  let at = path
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at)
  return at
}
