// What every stressor kind gets from main.ts, and what it gives back.
import {writeSync} from 'node:fs'
import type {StressorMessage} from './protocol.js'

export type ExitReason = Extract<StressorMessage, {type: 'exit'}>['reason']

/** A failure the stressor reports as an error message and exit code 3 (not a crash with a stack). */
export class StressorError extends Error {}

export interface StressorContext {
  readonly runId: string
  /** epoch ms at which the stressor ends by itself: what it starts must not outlive it either */
  readonly deadline: number
  /** Registers a synchronous cleanup that runs on every exit, newest first (files the stressor created). */
  onExit(cleanup: () => void): void
  /** Ends the stressor early: its work is complete ('done') or it cannot go on ('error'). */
  finish(reason: 'done' | 'error', message?: string): void
}

/** Cumulative figures of one kind, for the progress message (main.ts adds t, cpuSeconds and rssBytes). */
export interface KindFigures {
  bytes?: number
  /** io: operations completed (reads and writes) */
  ops?: number
  /** io: of `bytes`, those read */
  readBytes?: number
  full?: boolean
  /** fork: processes (or threads) created and alive now */
  tasks?: number
  /** fork: creations the kernel refused so far (EAGAIN: a pids limit, or the host's) */
  refused?: number
}

export interface RunningStressor {
  figures(): KindFigures
  /** the port a sink listens on, for the ready message */
  port?: number
}

let stdoutGone = false

/**
 * Writes one message as a JSON line, synchronously, so that an exit message is out before process.exit.
 * process.stdout is never touched: that would make fd 1 non-blocking. Returns false when nobody reads our
 * stdout any more (EPIPE): the toolkit is gone.
 */
export function emit(message: StressorMessage): boolean {
  if (stdoutGone) return false
  const line = Buffer.from(JSON.stringify(message) + '\n')
  let offset = 0
  let retries = 0
  while (offset < line.length) {
    try {
      offset += writeSync(1, line, offset)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // fd 1 may be shared with a process that made it non-blocking; a full pipe clears quickly if read
      if (code === 'EAGAIN' && retries++ < 100) {
        sleepSync(1)
        continue
      }
      stdoutGone = true
      return false
    }
  }
  return true
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
