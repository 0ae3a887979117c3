// The demo workload as the toolkit runs it: `chaos workload` in a process of its own (needs `npm run build`).
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {findFamily, histogramBuckets, parsePrometheusText, sampleValue} from '../../src/metrics/prom-text.js'
import {readProcessSample} from '../../src/metrics/resources.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const MiB = 1024 * 1024
const running: ChildProcess[] = []
const tempDirs: string[] = []

beforeAll(() => {
  if (!existsSync(path.join(root, 'dist/commands/workload.js'))) {
    throw new Error('dist/commands/workload.js is missing: run `npm run build` (or `npx tsc -p tsconfig.build.json`) first')
  }
})

afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true})
})

interface Started {
  child: ChildProcess
  url: string
  port: number
  exited: Promise<{code: number | null, signal: NodeJS.Signals | null}>
  stderr: () => string
}

async function startWorkload(...args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [path.join(root, 'bin/run.js'), 'workload', '--port', '0', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(child)
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (data) => (stderr += String(data)))
  const exited = new Promise<{code: number | null, signal: NodeJS.Signals | null}>((resolve) => {
    child.once('exit', (code, signal) => resolve({code, signal}))
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within 20 s; stderr: ${stderr}`)), 20_000)
    child.stdout!.on('data', (data) => {
      stdout += String(data)
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    void exited.then(({code, signal}) => reject(new Error(`workload exited (${code ?? signal}) before listening; stderr: ${stderr}`)))
  })
  return {child, url, port: Number(new URL(url).port), exited, stderr: () => stderr}
}

async function get(url: string): Promise<{status: number, body: string}> {
  const response = await fetch(url)
  return {status: response.status, body: await response.text()}
}

describe('chaos workload', () => {
  it('serves /work, /healthz and /metrics, and cleans up its data file on SIGTERM', async () => {
    const workload = await startWorkload()
    const dataDir = path.join(os.tmpdir(), `chaos-workload-${workload.port}`)

    expect(await get(`${workload.url}/healthz`)).toMatchObject({status: 200})
    for (let i = 0; i < 20; i++) {
      const response = await get(`${workload.url}/work`)
      expect(response.status).toBe(200)
      expect(JSON.parse(response.body)).toEqual({ok: true})
    }
    expect((await get(`${workload.url}/nowhere`)).status).toBe(404)

    // each request appended 4 KiB to its data file
    const files = readdirSync(dataDir)
    expect(files).toEqual([`workload-${workload.child.pid}.data`])
    expect(statSync(path.join(dataDir, files[0])).size).toBe(20 * 4096)

    await get(`${workload.url}/metrics`) // scrapes are not counted as application requests
    const metrics = await get(`${workload.url}/metrics`)
    expect(metrics.status).toBe(200)
    const families = parsePrometheusText(metrics.body)
    expect(findFamily(families, 'http_request_duration_seconds')?.type).toBe('histogram')
    expect(findFamily(families, 'http_requests_total')?.type).toBe('counter')
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(findFamily(families, name), name).toBeDefined()
    }
    const work = histogramBuckets(families, 'http_request_duration_seconds', {method: 'GET', route: '/work', code: '200'})
    expect(work.count).toBe(20)
    // --cpu-ms defaults to 2: every request took at least that
    expect(work.sum / work.count).toBeGreaterThanOrEqual(0.002)
    // buckets fine enough to tell 1 ms from 50 ms
    expect(work.buckets.filter((b) => b.le >= 0.001 && b.le <= 0.05).length).toBeGreaterThanOrEqual(8)
    expect(sampleValue(families, 'http_requests_total', {route: '/work'})).toBe(20)
    expect(sampleValue(families, 'http_requests_total', {route: 'other', code: '404'})).toBe(1)
    expect(sampleValue(families, 'http_requests_total', {route: '/metrics'})).toBeUndefined()

    // a second signal during the graceful stop must not kill it before it cleans up
    workload.child.kill('SIGTERM')
    workload.child.kill('SIGTERM')
    expect(await workload.exited).toEqual({code: 0, signal: null})
    expect(existsSync(dataDir)).toBe(false)
  })

  it('answers 507 with the error code when the data file cannot be written', async () => {
    // Nothing can be created under /proc, whoever we are (root included).
    const workload = await startWorkload('--data-dir', '/proc/self')
    const response = await get(`${workload.url}/work`)
    expect(response.status).toBe(507)
    // ENOENT: /proc refuses to create the file
    expect(JSON.parse(response.body).error).toMatch(/^E[A-Z]+$/)
    expect((await get(`${workload.url}/healthz`)).status).toBe(200)
    const families = parsePrometheusText((await get(`${workload.url}/metrics`)).body)
    expect(sampleValue(families, 'http_requests_total', {route: '/work', code: '507'})).toBe(1)
    expect(sampleValue(families, 'workload_write_errors_total')).toBe(1)

    workload.child.kill('SIGINT')
    expect((await workload.exited).code).toBe(0)
  })

  it('burns --cpu-ms, holds --hold-kb per request and a --cache for its life', async () => {
    const workload = await startWorkload('--cpu-ms', '15', '--hold-kb', '256', '--write-kb', '0', '--cache', '96Mi')
    const rssAtStart = readProcessSample(workload.child.pid!).memoryBytes!
    // every page of the cache is resident, not just reserved
    expect(rssAtStart).toBeGreaterThanOrEqual(96 * MiB)

    for (let i = 0; i < 10; i++) expect((await get(`${workload.url}/work`)).status).toBe(200)
    const families = parsePrometheusText((await get(`${workload.url}/metrics`)).body)
    const work = histogramBuckets(families, 'http_request_duration_seconds', {route: '/work'})
    expect(work.count).toBe(10)
    expect(work.sum / work.count).toBeGreaterThanOrEqual(0.015)
    expect(sampleValue(families, 'workload_cache_bytes')).toBe(96 * MiB)
    expect(sampleValue(families, 'workload_held_bytes')).toBe(10 * 256 * 1024)
    // --write-kb 0: no data file is written
    expect(readdirSync(path.join(os.tmpdir(), `chaos-workload-${workload.port}`))).toEqual([])

    // the held buffers are released after a few seconds
    await new Promise((resolve) => setTimeout(resolve, 3200))
    const heldLater = sampleValue(parsePrometheusText((await get(`${workload.url}/metrics`)).body), 'workload_held_bytes')
    expect(heldLater).toBe(0)

    workload.child.kill('SIGTERM')
    expect((await workload.exited).code).toBe(0)
  })

  it('rotates its data file so it stays under 8 MiB', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chaos-workload-test-'))
    tempDirs.push(dataDir)
    const workload = await startWorkload('--write-kb', '1024', '--data-dir', dataDir, '--hold-kb', '0')
    const dataFile = path.join(dataDir, `workload-${workload.child.pid}.data`)
    const sizes: number[] = []
    for (let i = 0; i < 12; i++) {
      expect((await get(`${workload.url}/work`)).status).toBe(200)
      sizes.push(statSync(dataFile).size)
    }
    // grows a MiB per request until past 8 MiB, then starts again
    expect(sizes.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => n * MiB))
    expect(sizes[8]).toBe(0)
    expect(sizes[11]).toBe(3 * MiB)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8 * MiB)

    workload.child.kill('SIGTERM')
    expect((await workload.exited).code).toBe(0)
    // its own file is removed; a data dir it was given is left in place
    expect(existsSync(dataFile)).toBe(false)
    expect(existsSync(dataDir)).toBe(true)
  })

  it('rejects a cache size it cannot read', async () => {
    await expect(startWorkload('--cache', 'lots')).rejects.toThrow(/--cache: expected a size/)
  })
})
