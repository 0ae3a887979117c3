// A real Prometheus and a real Pushgateway for the integration tests: each on a free loopback port, with its data
// in a temp directory, and gone after stop() (process and directory); those tests talk to the real APIs. At the
// end, a stub HTTP server for the unit tests of the error paths, which a real Prometheus will not produce on cue.
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {requireTool} from './tools.js'

export const DOCS_SCRAPE_CONFIG = 'docs/prometheus/prometheus.yml'

export interface TestServer {
  url: string
  port: number
  process: ChildProcess
  /** the temp directory holding its config and data, removed by stop() */
  dir: string
  /** SIGKILL now, without cleaning up: what a crashed server looks like */
  kill(): void
  /** resolves once the process has exited */
  exited: Promise<void>
  stop(): Promise<void>
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * Prometheus with a scrape config: by default the one in docs/, its toolkit and Pushgateway targets pointed at
 * the given ports so that the tests scrape what a reader of the docs would.
 */
export async function startPrometheus(options: {config?: string, toolkitPort?: number, pushgatewayPort?: number} = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-test-prometheus-'))
  let config = options.config ?? readFileSync(DOCS_SCRAPE_CONFIG, 'utf8')
  if (options.toolkitPort) config = config.replace('127.0.0.1:19590', `127.0.0.1:${options.toolkitPort}`)
  if (options.pushgatewayPort) config = config.replace('127.0.0.1:9091', `127.0.0.1:${options.pushgatewayPort}`)
  writeFileSync(path.join(dir, 'prometheus.yml'), config)
  const server = await startServer('prometheus', (port) => [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=warn',
  ], dir)
  try {
    await waitForFirstScrapes(server.url)
  } catch (error) {
    await server.stop()
    throw error
  }
  return server
}

/**
 * Ready is not yet scraping: Prometheus hands the scrape manager its targets some seconds after start. A test
 * that starts its workloads at once would otherwise find no data in its baseline.
 */
async function waitForFirstScrapes(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/api/v1/targets?state=active`).catch(() => undefined)
    const body = await response?.json().catch(() => undefined) as {data?: {activeTargets?: Array<{health: string}>}} | undefined
    const targets = body?.data?.activeTargets ?? []
    if (targets.length > 0 && targets.every((t) => t.health !== 'unknown')) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`Prometheus at ${url} scraped none of its targets within ${timeoutMs} ms`)
}

export async function startPushgateway(): Promise<TestServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-test-pushgateway-'))
  return startServer('prometheus-pushgateway', (port) => [`--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], dir)
}

async function startServer(binary: string, args: (port: number) => string[], dir: string, attempts = 3): Promise<TestServer> {
  // each binary is its own Debian package's: a missing one is named with its install, not a spawn ENOENT
  try {
    requireTool(binary, binary)
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const child = spawn(binary, args(port), {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const url = `http://127.0.0.1:${port}`
    const server: TestServer = {
      url, port, process: child, dir, exited,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      },
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
          await exited
          clearTimeout(timer)
        }
        rmSync(dir, {recursive: true, force: true})
      },
    }
    if (await becameReady(url, exited, 15_000)) return server
    await server.stop().catch(() => {})
    // another process may have taken the port between freePort() and the bind
    if (attempt >= attempts) throw new Error(`${binary} did not become ready on port ${port}: ${stderr}`)
  }
}

async function becameReady(url: string, exited: Promise<void>, timeoutMs: number): Promise<boolean> {
  let gone = false
  void exited.then(() => (gone = true))
  const deadline = Date.now() + timeoutMs
  while (!gone && Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/-/ready`, {signal: AbortSignal.timeout(1000)})
      if (response.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

/** An instant query against the real API; the `data.result` array. */
export async function instantQuery(prometheusUrl: string, query: string): Promise<Array<{metric: Record<string, string>, value: [number, string]}>> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`)
  const body = await response.json() as {status: string, data: {result: Array<{metric: Record<string, string>, value: [number, string]}>}}
  if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`)
  return body.data.result
}

// ---------------------------------------------------------------------------------------------------------------
// A stub for unit tests of the error paths (4xx/5xx, timeouts, retries, auth, bad JSON): a plain node:http server.

export interface StubRequest {
  path: string
  headers: http.IncomingHttpHeaders
  /** the form fields of a POST, or the query string of a GET */
  params: URLSearchParams
}

export interface Stub {
  url: string
  requests: StubRequest[]
  close(): Promise<void>
}

/** Answers each request with what `reply` returns: a status and a body (an object is sent as JSON). */
export async function startStub(reply: (request: StubRequest, index: number) => {status: number, body: unknown, delayMs?: number} | Promise<{status: number, body: unknown, delayMs?: number}>): Promise<Stub> {
  const requests: StubRequest[] = []
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', async () => {
      const url = new URL(request.url ?? '/', 'http://stub')
      const params = request.method === 'POST' ? new URLSearchParams(Buffer.concat(chunks).toString()) : url.searchParams
      const recorded = {path: url.pathname, headers: request.headers, params}
      requests.push(recorded)
      const {status, body, delayMs} = await reply(recorded, requests.length - 1)
      const send = () => {
        if (response.destroyed) return
        response.writeHead(status, {'content-type': 'application/json'})
        response.end(typeof body === 'string' ? body : JSON.stringify(body))
      }
      if (delayMs) setTimeout(send, delayMs).unref()
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** Prometheus's success envelope around a matrix. */
export function matrix(...series: Array<{metric?: Record<string, string>, values: number[], start?: number}>): unknown {
  return {
    status: 'success',
    data: {
      resultType: 'matrix',
      result: series.map((s) => ({metric: s.metric ?? {}, values: s.values.map((v, i) => [(s.start ?? 1000) + i, String(v)])})),
    },
  }
}

export function vector(...samples: Array<{metric?: Record<string, string>, value: number}>): unknown {
  return {status: 'success', data: {resultType: 'vector', result: samples.map((s) => ({metric: s.metric ?? {}, value: [1000, String(s.value)]}))}}
}
