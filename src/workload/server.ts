// The demo workload: a small API-like HTTP service whose requests use each resource a fault can take away —
// CPU (a busy loop), memory (buffers held for a few seconds, plus an optional cache held for its whole life)
// and disk (an append to a data file) — so that a neighbour's fault shows up in its latency and errors.
// With spawn, each request also runs a short program, as services that shell out do (an image converter, git): a
// fork the kernel refuses (EAGAIN, a pids budget taken by a neighbour) is answered 503.
// Deliberately plain node:http: the service must stay light so the measurements are about the fault.
import {spawn} from 'node:child_process'
import {mkdirSync, rmSync} from 'node:fs'
import {open, readFile, type FileHandle} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

export interface WorkloadOptions {
  /** 0 picks a free port */
  port: number
  host?: string
  /** CPU burnt per /work request, milliseconds. Default 2 */
  cpuMs?: number
  /** kilobytes allocated per /work request and held for holdMs. Default 64 */
  holdKb?: number
  /** how long each request's buffer is held. Default 3000 */
  holdMs?: number
  /** kilobytes appended to the data file per /work request. Default 4 */
  writeKb?: number
  /** where the data file lives. Default os.tmpdir()/chaos-workload-PORT, removed on close */
  dataDir?: string
  /** bytes of in-memory cache filled at start and held. Default 0 */
  cacheBytes?: number
  /**
   * A file holding a number that multiplies cpuMs (1 = as configured, 1.2 = 20% more CPU per request), re-read
   * every second; missing or unreadable means 1. For slowing the workload on purpose (the verdict benchmark).
   */
  slowdownFile?: string
  /** run this program (argv) to its end in each /work request; a refused fork answers 503. Default: none */
  spawn?: string[]
  /**
   * make each request's append durable before answering (fdatasync), as a database's commit or a queue's
   * acknowledgement does: the request then waits on the disk, behind whatever else its queue holds. Default false
   */
  fsync?: boolean
}

/** The program --spawn runs per request: the shortest there is. */
export const SPAWN_PROGRAM = ['/bin/true']

export interface SpawnResult {
  /** the program's exit code; null when it could not be started */
  code: number | null
  /** why it could not be started: EAGAIN when the kernel refused the fork (a pids limit) */
  error?: string
}

/**
 * A spawner: one small perl process (perl is Essential on Debian) that forks and runs the program for each line it
 * reads, as posix_spawn or Go's os/exec start a program cheaply. Node's own spawn forks the whole Node process, about
 * 5 ms of its main thread each: at 100 requests a second that alone would saturate the demo API. The fork is still a
 * real one, in the workload's own box: a pids budget that is taken refuses it (EAGAIN). It exits when its stdin closes.
 */
const SPAWNER = String.raw`
$| = 1;
while (defined(my $line = <STDIN>)) {
  my $pid = fork();
  if (!defined $pid) { print(($!{EAGAIN} ? 'EAGAIN' : 'errno ' . ($! + 0)), "\n"); next }
  if ($pid == 0) { close STDIN; close STDOUT; exec { $ARGV[0] } @ARGV; require POSIX; POSIX::_exit(127) }
  waitpid($pid, 0);
  print 'exit ', ($? & 127 ? 128 + ($? & 127) : $? >> 8), "\n";
}
`

export interface Spawner {
  /** runs the program once, to its end */
  run(): Promise<SpawnResult>
  close(): void
}

/** Parses a spawner's answer line. */
export function spawnAnswer(line: string): SpawnResult {
  const exit = /^exit (\d+)$/.exec(line)
  if (exit) return {code: Number(exit[1])}
  return {code: null, error: line === 'EAGAIN' ? 'EAGAIN' : line || 'no answer'}
}

export function startSpawner(argv: string[]): Spawner {
  const child = spawn('perl', ['-e', SPAWNER, ...argv], {stdio: ['pipe', 'pipe', 'ignore']})
  // answers come in the order the requests were written
  const waiting: Array<(result: SpawnResult) => void> = []
  let gone: string | undefined
  let pending = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    pending += text
    let newline: number
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim()
      pending = pending.slice(newline + 1)
      waiting.shift()?.(spawnAnswer(line))
    }
  })
  const fail = (why: string) => {
    gone ??= why
    for (const resolve of waiting.splice(0)) resolve({code: null, error: gone})
  }
  child.once('error', (error) => fail(`spawner: ${error.message}`))
  child.once('exit', (code, signal) => fail(`spawner ended (${signal ?? `exit code ${code}`})`))
  child.stdin.on('error', () => undefined)
  return {
    run() {
      if (gone !== undefined) return Promise.resolve({code: null, error: gone})
      return new Promise((resolve) => {
        waiting.push(resolve)
        child.stdin.write('\n')
      })
    },
    close() {
      child.stdin.end()
      if (child.exitCode === null && child.signalCode === null) child.kill()
    },
  }
}

export interface Workload {
  port: number
  host: string
  url: string
  /** the file /work appends to; removed by close() */
  dataFile: string
  registry: Registry
  close(): Promise<void>
  /** removes the data file (and the default data dir) at once, for an exit that cannot wait for close() */
  removeDataSync(): void
}

/** The data file is truncated past this size so it never grows without bound. */
export const DATA_FILE_ROTATE_BYTES = 8 * 1024 * 1024
/** Bounds on the held buffers, so a fast client cannot make the service hold unbounded memory. */
const MAX_HELD_BUFFERS = 2048
const CACHE_CHUNK_BYTES = 16 * 1024 * 1024
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1]

export function burnCpu(milliseconds: number): void {
  const until = process.hrtime.bigint() + BigInt(Math.round(milliseconds * 1e6))
  while (process.hrtime.bigint() < until) {
    // busy: the point is to use the CPU
  }
}

/** Allocates the cache and writes every page, so the memory is resident and charged, not just reserved. */
function fillCache(bytes: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let left = bytes; left > 0; left -= CACHE_CHUNK_BYTES) {
    const chunk = Buffer.allocUnsafeSlow(Math.min(left, CACHE_CHUNK_BYTES))
    chunk.fill(chunks.length % 251 + 1)
    chunks.push(chunk)
  }
  return chunks
}

export async function startWorkload(options: WorkloadOptions): Promise<Workload> {
  const host = options.host ?? '127.0.0.1'
  const cpuMs = options.cpuMs ?? 2
  const holdBytes = Math.round((options.holdKb ?? 64) * 1024)
  const holdMs = options.holdMs ?? 3000
  const writeBytes = Math.round((options.writeKb ?? 4) * 1024)
  const cacheBytes = options.cacheBytes ?? 0

  const registry = new Registry()
  collectDefaultMetrics({register: registry})
  const labelNames = ['method', 'route', 'code'] as const
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests to application routes, in seconds',
    labelNames, buckets: LATENCY_BUCKETS, registers: [registry],
  })
  const requests = new Counter({name: 'http_requests_total', help: 'HTTP requests to application routes', labelNames, registers: [registry]})
  const writeErrors = new Counter({name: 'workload_write_errors_total', help: 'Failed appends to the data file', labelNames: ['code'], registers: [registry]})
  const spawnErrors = new Counter({name: 'workload_spawn_errors_total', help: 'Programs a request could not run (--spawn)', labelNames: ['code'], registers: [registry]})
  const spawner = options.spawn === undefined ? undefined : startSpawner(options.spawn)
  new Gauge({name: 'workload_cache_bytes', help: 'Bytes of in-memory cache', registers: [registry]}).set(cacheBytes)

  const cache = fillCache(cacheBytes)

  // Recent requests' buffers, each released holdMs after it was taken.
  const held: Array<{expires: number, buffer: Buffer} | undefined> = Array.from({length: MAX_HELD_BUFFERS})
  let heldNext = 0
  let heldBytes = 0
  const releaseExpired = (now: number) => {
    for (let i = 0; i < held.length; i++) {
      const entry = held[i]
      if (entry && entry.expires <= now) {
        heldBytes -= entry.buffer.length
        held[i] = undefined
      }
    }
  }
  new Gauge({
    name: 'workload_held_bytes', help: 'Bytes held by recent requests', registers: [registry],
    collect() {
      releaseExpired(Date.now())
      this.set(heldBytes)
    },
  })
  const hold = (buffer: Buffer) => {
    const previous = held[heldNext]
    if (previous) heldBytes -= previous.buffer.length
    held[heldNext] = {expires: Date.now() + holdMs, buffer}
    heldNext = (heldNext + 1) % held.length
    heldBytes += buffer.length
  }
  const sweeper = setInterval(() => releaseExpired(Date.now()), 500)
  sweeper.unref()

  // A deliberate slowdown (--slowdown-file): the file's number multiplies cpuMs; read now and every second.
  let slowdown = 1
  const slowdownGauge = new Gauge({name: 'workload_slowdown_factor', help: 'Multiplier of the CPU burnt per request (--slowdown-file)', registers: [registry]})
  slowdownGauge.set(slowdown)
  const readSlowdown = async (file: string) => {
    const value = await readFile(file, 'utf8').then((text) => Number(text.trim()), () => 1)
    slowdown = slowdownFactor(value)
    slowdownGauge.set(slowdown)
  }
  const slowdownFile = options.slowdownFile
  if (slowdownFile !== undefined) await readSlowdown(slowdownFile)
  const slowdownTimer = slowdownFile === undefined ? undefined : setInterval(() => void readSlowdown(slowdownFile), 1000)
  slowdownTimer?.unref()

  const writeChunk = Buffer.alloc(writeBytes, 'x')
  let dataFile = ''
  let createdDataDir: string | undefined
  let handle: FileHandle | undefined
  let opening: Promise<FileHandle> | undefined
  let fileBytes = 0
  let rotating: Promise<void> | undefined

  const dataHandle = async (): Promise<FileHandle> => {
    if (handle) return handle
    // One open shared by concurrent requests; a failed open is retried by the next request.
    opening ??= open(dataFile, 'a').then((h) => (handle = h)).finally(() => (opening = undefined))
    return opening
  }
  const append = async () => {
    if (writeBytes === 0) return
    const file = await dataHandle()
    try {
      // write() may be partial when the disk fills up; the next call then reports ENOSPC.
      let offset = 0
      while (offset < writeChunk.length) {
        const {bytesWritten} = await file.write(writeChunk, offset, writeChunk.length - offset)
        offset += bytesWritten
      }
      if (options.fsync) await file.datasync()
    } catch (error) {
      // Reopen on the next request: the file may have been removed or its filesystem remounted.
      if (handle === file) handle = undefined
      await file.close().catch(() => {})
      throw error
    }
    fileBytes += writeChunk.length
    if (fileBytes > DATA_FILE_ROTATE_BYTES && !rotating) {
      rotating = file.truncate(0).then(() => {
        fileBytes = 0
      }).catch(() => {}).finally(() => (rotating = undefined))
      await rotating
    }
  }

  const work = async (): Promise<{status: number, body: unknown}> => {
    burnCpu(cpuMs * slowdown)
    if (holdBytes > 0) hold(Buffer.alloc(holdBytes, 1))
    if (spawner) {
      const ran = await spawner.run()
      if (ran.error !== undefined || ran.code !== 0) {
        const code = ran.error ?? `exit ${ran.code}`
        spawnErrors.inc({code})
        // Service Unavailable: no process to be had (EAGAIN) is a temporary condition of this host, not of the request
        return {status: ran.error === 'EAGAIN' ? 503 : 500, body: {error: code}}
      }
    }
    try {
      await append()
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
      writeErrors.inc({code})
      // Insufficient Storage: a full disk reaches callers as errors, as it would in a real service.
      return {status: 507, body: {error: code, message: (error as Error).message}}
    }
    return {status: 200, body: {ok: true}}
  }

  const server = http.createServer((request, response) => {
    const started = process.hrtime.bigint()
    const route = (request.url ?? '/').split('?')[0]
    const reply = (status: number, body: string, contentType = 'application/json') => {
      response.writeHead(status, {'content-type': contentType, 'content-length': Buffer.byteLength(body)})
      response.end(body)
    }
    // Only application routes are measured: scrapes and health checks would otherwise mix into the latency
    // histogram the toolkit reads (a 1/s scrape at a 50/s probe moves the p99).
    const measure = (routeLabel: string, status: number) => {
      const labels = {method: request.method ?? 'GET', route: routeLabel, code: String(status)}
      duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9)
      requests.inc(labels)
    }

    if (route === '/healthz') return reply(200, '{"ok":true}')
    if (route === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (error: Error) => reply(500, JSON.stringify({error: error.message})),
      )
      return
    }
    if (route === '/work') {
      request.resume() // a POST body is not used
      work().then(({status, body}) => {
        reply(status, JSON.stringify(body))
        measure('/work', status)
      }, (error: Error) => {
        reply(500, JSON.stringify({error: error.message}))
        measure('/work', 500)
      })
      return
    }
    reply(404, '{"error":"not found"}')
    measure('other', 404)
  })
  // Longer than clients' keep-alive, so an idle connection is never closed by us as a request arrives on it.
  server.keepAliveTimeout = 30_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port

  let dataDir = options.dataDir
  if (dataDir === undefined) {
    dataDir = path.join(os.tmpdir(), `chaos-workload-${port}`)
    createdDataDir = dataDir
  }
  dataFile = path.join(dataDir, `workload-${process.pid}.data`)
  try {
    mkdirSync(dataDir, {recursive: true})
  } catch {
    // Reported by every /work request as a failed write (507), which is the behaviour wanted.
  }

  const removeDataSync = () => {
    removeQuietly(dataFile)
    if (createdDataDir) removeQuietly(createdDataDir)
  }

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      clearInterval(sweeper)
      clearInterval(slowdownTimer)
      spawner?.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 1000).unref()
      })
      await opening?.catch(() => {})
      await handle?.close().catch(() => {})
      handle = undefined
      removeDataSync()
      cache.length = 0
      held.fill(undefined)
    })()
    return closing
  }

  const shownHost = host.includes(':') ? `[${host}]` : host
  return {port, host, url: `http://${shownHost}:${port}`, dataFile, registry, close, removeDataSync}
}

/** A slowdown factor from the file's number: finite and >= 0, else 1 (as configured). */
function slowdownFactor(value: number): number {
  return Number.isFinite(value) && value >= 0 ? value : 1
}

function removeQuietly(target: string): void {
  try {
    rmSync(target, {recursive: true, force: true})
  } catch {
    // nothing to remove, or nowhere we may remove from (a data dir that was never writable)
  }
}
