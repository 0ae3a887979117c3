// A minimal HTTP/1.1 client for the probe's plain-http requests: one pre-built request, keep-alive sockets reused
// most-recent first, and a response parser that reads only the status line, the three headers that frame the body
// (content-length, transfer-encoding, connection) and skips the body. Node's http client costs about 0.16 ms of CPU
// a request (header objects, IncomingMessage streams); watching 20 neighbours at 5 requests a second each made the
// probes most of the toolkit's CPU. HTTPS keeps Node's client (see probe.ts).
import net from 'node:net'

export interface Http1Result {
  status?: number
  /** a socket error code (ECONNREFUSED, ECONNRESET...) or 'bad_response' */
  error?: string
}

export interface Http1Options {
  host: string
  port: number
  /** path with query */
  path: string
  method: 'GET' | 'POST' | 'HEAD'
  /** sockets kept idle at most */
  maxIdle: number
}

// the only headers read: those that say where the body ends and whether the socket stays open
const HEADERS = {
  'connection': /\r\nconnection:[ \t]*([^\r]*)/,
  'content-length': /\r\ncontent-length:[ \t]*([^\r]*)/,
  'transfer-encoding': /\r\ntransfer-encoding:[ \t]*([^\r]*)/,
}

type BodyState = {kind: 'length', left: number} | {kind: 'chunked', left: number, phase: 'size' | 'data' | 'crlf' | 'trailer'} | {kind: 'close'} | {kind: 'none'}

/** One request on one socket: parses the response as it arrives. */
class Exchange {
  private head: Buffer | undefined = Buffer.alloc(0)
  private body: BodyState = {kind: 'none'}
  private pending = ''
  status?: number
  keepAlive = true
  /** any byte of a response arrived: a reused socket that fails before this may be retried safely */
  answered = false

  constructor(readonly isHead: boolean) {}

  /** Feeds bytes; true when the response is complete. Throws on a response that is not HTTP/1.x. */
  feed(chunk: Buffer): boolean {
    this.answered = true
    let data = chunk
    if (this.head !== undefined) {
      const joined = this.head.length === 0 ? data : Buffer.concat([this.head, data])
      const end = joined.indexOf('\r\n\r\n')
      if (end < 0) {
        if (joined.length > 64 * 1024) throw new Error('bad_response')
        this.head = joined
        return false
      }
      const text = joined.subarray(0, end).toString('latin1')
      data = joined.subarray(end + 4)
      if (!text.startsWith('HTTP/1.')) throw new Error('bad_response')
      const status = Number(text.slice(9, 12))
      if (!Number.isInteger(status)) throw new Error('bad_response')
      // an interim 1xx answer is followed by the real one
      if (status < 200) {
        this.head = Buffer.alloc(0)
        return data.length > 0 ? this.feed(data) : false
      }
      this.status = status
      this.head = undefined
      const lower = text.toLowerCase()
      const header = (name: keyof typeof HEADERS) => HEADERS[name].exec(lower)?.[1]?.trim()
      const connection = header('connection')
      this.keepAlive = text.startsWith('HTTP/1.1') ? connection !== 'close' : connection === 'keep-alive'
      const length = header('content-length')
      if (this.isHead || status === 204 || status === 304) this.body = {kind: 'none'}
      else if (header('transfer-encoding')?.includes('chunked')) this.body = {kind: 'chunked', left: 0, phase: 'size'}
      else if (length !== undefined) this.body = {kind: 'length', left: Number(length)}
      else {
        this.body = {kind: 'close'}
        this.keepAlive = false
      }
    }
    return this.consume(data)
  }

  private consume(data: Buffer): boolean {
    const body = this.body
    if (body.kind === 'none') return true
    if (body.kind === 'close') return false
    if (body.kind === 'length') {
      body.left -= data.length
      return body.left <= 0
    }
    let at = 0
    while (at < data.length || body.phase === 'size' || body.phase === 'trailer') {
      if (body.phase === 'data') {
        const take = Math.min(body.left, data.length - at)
        body.left -= take
        at += take
        if (body.left > 0) return false
        body.phase = 'crlf'
        body.left = 2
      } else if (body.phase === 'crlf') {
        const take = Math.min(body.left, data.length - at)
        body.left -= take
        at += take
        if (body.left > 0) return false
        body.phase = 'size'
      } else {
        // a size line, or after the last chunk the trailer: lines until an empty one
        const newline = data.indexOf('\n', at)
        if (newline < 0) {
          this.pending += data.subarray(at).toString('latin1')
          return false
        }
        const line = (this.pending + data.subarray(at, newline).toString('latin1')).replace(/\r$/, '')
        this.pending = ''
        at = newline + 1
        if (body.phase === 'trailer') {
          if (line === '') return true
          continue
        }
        const size = Number.parseInt(line.split(';')[0], 16)
        if (!Number.isFinite(size)) throw new Error('bad_response')
        if (size === 0) body.phase = 'trailer'
        else {
          body.phase = 'data'
          body.left = size
        }
      }
    }
    return false
  }

  /** The peer closed the socket: complete only for a body that runs until close. */
  endedByClose(): boolean {
    return this.head === undefined && this.body.kind === 'close'
  }
}

export interface Http1Handle {
  /** gives up on the request: its socket is destroyed, and done is never called */
  abort(): void
}

/** Keep-alive sockets to one host and port, and a request that needs no per-request allocation beyond its socket. */
export class Http1Pool {
  private readonly request: Buffer
  private readonly idle: {socket: net.Socket, gone: () => void}[] = []
  private closed = false

  constructor(private readonly options: Http1Options) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host
    const length = options.method === 'POST' ? 'Content-Length: 0\r\n' : ''
    this.request = Buffer.from(`${options.method} ${options.path} HTTP/1.1\r\nHost: ${host}:${options.port}\r\nConnection: keep-alive\r\n${length}\r\n`, 'latin1')
  }

  send(done: (result: Http1Result) => void): Http1Handle {
    let socket: net.Socket | undefined
    let finished = false
    const attempt = (retry: boolean) => {
      const reused = this.take()
      const s = reused ?? net.connect({host: this.options.host, port: this.options.port, noDelay: true})
      socket = s
      const exchange = new Exchange(this.options.method === 'HEAD')
      const cleanup = () => {
        s.removeListener('data', onData)
        s.removeListener('error', onError)
        s.removeListener('close', onClose)
      }
      const complete = (result: Http1Result, keep: boolean) => {
        if (finished) return
        finished = true
        cleanup()
        if (keep && !this.closed && this.idle.length < this.options.maxIdle) this.park(s)
        else s.destroy()
        done(result)
      }
      const failed = (code: string) => {
        if (finished) return
        cleanup()
        s.destroy()
        // a kept-alive socket the server closed just before this request: nothing was answered, so ask again once
        if (reused && retry && !exchange.answered) attempt(false)
        else {
          finished = true
          done({error: code})
        }
      }
      const onData = (chunk: Buffer) => {
        try {
          if (exchange.feed(chunk)) complete({status: exchange.status}, exchange.keepAlive)
        } catch {
          complete({status: exchange.status, error: 'bad_response'}, false)
        }
      }
      const onError = (error: NodeJS.ErrnoException) => failed(error.code ?? 'error')
      const onClose = () => {
        if (exchange.endedByClose()) complete({status: exchange.status}, false)
        else failed('ECONNRESET')
      }
      s.on('data', onData)
      s.on('error', onError)
      s.on('close', onClose)
      s.write(this.request)
    }
    attempt(true)
    return {
      abort: () => {
        finished = true
        socket?.destroy()
      },
    }
  }

  /** An idle socket leaves the pool by itself when the server closes it. */
  private park(socket: net.Socket): void {
    const gone = () => {
      const index = this.idle.findIndex((i) => i.socket === socket)
      if (index >= 0) this.idle.splice(index, 1)
      socket.destroy()
    }
    socket.on('close', gone)
    socket.on('error', gone)
    socket.on('data', gone) // nothing may arrive on an idle HTTP/1.1 connection
    this.idle.push({socket, gone})
  }

  /** The most recently used idle socket (the others may time out and close), without its idle listeners. */
  private take(): net.Socket | undefined {
    const entry = this.idle.pop()
    if (!entry) return undefined
    entry.socket.removeListener('close', entry.gone)
    entry.socket.removeListener('error', entry.gone)
    entry.socket.removeListener('data', entry.gone)
    return entry.socket
  }

  destroy(): void {
    this.closed = true
    for (const {socket} of this.idle.splice(0)) socket.destroy()
  }
}
