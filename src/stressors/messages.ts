// What a stressor says, as state: its newline-delimited JSON lines split from a stream, and what they tell (ready,
// the latest progress, the last error, the reason it gave for exiting), handed on to listeners. Shared by a local
// stressor (its stdout) and one in a cluster (its container's log).
import type {StressorMessage} from './protocol.js'

export type StressorProgress = Extract<StressorMessage, {type: 'progress'}>
export type StressorExitReason = Extract<StressorMessage, {type: 'exit'}>['reason']

export interface StressorReady {
  /** the stressor's own pid (in its PID namespace) */
  pid: number
  /** the port a sink listens on */
  port?: number
}

export class StressorMessages {
  readonly ready: Promise<StressorReady>
  latest?: StressorProgress
  lastError?: string
  exitReason?: StressorExitReason
  wasReady = false
  private readonly listeners = new Set<(message: StressorMessage) => void>()
  private resolveReady!: (ready: StressorReady) => void
  private rejectReady!: (error: Error) => void

  constructor() {
    this.ready = new Promise<StressorReady>((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    // a caller that only awaits how the stressor exited must not crash on an unhandled rejection
    this.ready.catch(() => undefined)
  }

  handle(message: StressorMessage): void {
    switch (message.type) {
      case 'ready':
        this.wasReady = true
        this.resolveReady({pid: message.pid, ...(message.port === undefined ? {} : {port: message.port})})
        break
      case 'progress': this.latest = message; break
      case 'error': this.lastError = message.message; break
      case 'exit': this.exitReason = message.reason; break
    }
    for (const listener of this.listeners) listener(message)
  }

  /** The stressor ended without saying it was ready: whoever awaits `ready` learns why. */
  neverReady(error: Error): void {
    if (!this.wasReady) this.rejectReady(error)
  }

  onMessage(listener: (message: StressorMessage) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

/** Splits text arriving in chunks into trimmed, non-empty lines. */
export function lineSplitter(onLine: (line: string) => void): {push(text: string): void, flush(): void} {
  let pending = ''
  return {
    push(text) {
      pending += text
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim()
        pending = pending.slice(newline + 1)
        if (line) onLine(line)
      }
    },
    flush() {
      const line = pending.trim()
      pending = ''
      if (line) onLine(line)
    },
  }
}
