// The working file of a disk stressor: `DIR/<named>`, created exclusively (never someone else's file) and removed
// when the stressor exits, however it exits.
//
// The file is reached through a descriptor of its directory, so it can still be removed when the path that led
// there is gone (a fill inside a pod goes through /proc/PID/root, which ends with that process). By PID, not
// /proc/self: a child (fallocate(1)) opens it too.
import {closeSync, constants, openSync, unlinkSync} from 'node:fs'
import {basename} from 'node:path'

import {errorMessage, StressorError, type StressorContext} from './runtime.js'

export interface OwnFile {
  /** The path the stressor and its children use (through the directory's descriptor). */
  file: string
  fd: number
}

/**
 * Creates `named` in `dir`, opened with `flags` (an access mode and more; O_CREAT|O_EXCL are added), and registers its removal (and the closing
 * of `alsoClose` descriptors) at the stressor's exit. `explain` turns an open error into the refusal to report, or
 * returns undefined for the plain one.
 */
export function createOwnFile(dir: string, named: string, ctx: StressorContext, flags: number = constants.O_WRONLY, explain?: (error: NodeJS.ErrnoException) => string | undefined): OwnFile & {alsoClose: (fd: number | undefined) => void} {
  let dirFd: number
  try {
    dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  } catch (error) {
    throw new StressorError(`cannot open ${dir}: ${errorMessage(error)}`)
  }
  const file = `/proc/${process.pid}/fd/${dirFd}/${basename(named)}`
  let fd: number
  try {
    fd = openSync(file, flags | constants.O_CREAT | constants.O_EXCL, 0o600)
  } catch (error) {
    closeSync(dirFd)
    throw new StressorError(explain?.(error as NodeJS.ErrnoException) ?? `cannot create ${named}: ${errorMessage(error)}`)
  }
  const open: number[] = [fd, dirFd]
  ctx.onExit(() => {
    try {
      unlinkSync(file)
    } catch { /* gone already */ }
    // the file's own descriptors before its directory's
    for (const descriptor of open) {
      try {
        closeSync(descriptor)
      } catch { /* already closed */ }
    }
  })
  return {file, fd, alsoClose: (descriptor) => descriptor !== undefined && open.unshift(descriptor)}
}

/**
 * A buffer of `size` bytes at a page-aligned address, as O_DIRECT needs. Buffer memory comes from malloc (16-byte
 * aligned); WebAssembly memory is mmap'd by V8 and so starts on a page boundary.
 */
export function alignedBuffer(size: number, fill: number): Buffer {
  // (the WebAssembly global exists in Node; only its types are missing from this project's libs)
  const {WebAssembly: wasm} = globalThis as unknown as {WebAssembly: {Memory: new (pages: {initial: number}) => {buffer: ArrayBuffer}}}
  const memory = new wasm.Memory({initial: Math.ceil(size / 65536)})
  return Buffer.from(memory.buffer, 0, size).fill(fill)
}
