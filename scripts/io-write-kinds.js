#!/usr/bin/env node
// What a throttled writer costs an fsync'ing neighbour, by the kind of writes it makes: the demo API (`chaos
// workload --fsync`, an fdatasync per request) probed at 100 requests/s, beside eight `dd oflag=direct` writers of
// 1 MiB held together to RATE MiB/s by a blkio throttle (cgroup v1), in segments of 8 s repeated ROUNDS times: no
// writer; writers extending new files (each write allocates blocks, which the filesystem's journal must record);
// no writer; writers overwriting files already written (no allocation). Each segment's first second is not counted.
// Prints each segment's p50/p95/p99 and each kind's over all rounds. As root on cgroup v1, after npm run build:
//
//   node scripts/io-write-kinds.js [ROUNDS=3] [RATE=20]
//
// Everything it makes (a cgroup, two directories under $TMPDIR, the API on port 19263) is removed at the end.
import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {blockDeviceOf} from '../dist/host/blockdev.js'
// the runner's own estimator, so these quantiles read as a journal's do
import {quantile} from '../dist/verdict/stats.js'

const rounds = Number(process.argv[2] ?? 3)
const rate = Number(process.argv[3] ?? 20)
const SEGMENT_MS = 8000
const PORT = 19263
const box = `/sys/fs/cgroup/blkio/chaos-io-write-kinds-${process.pid}`
const apiDir = mkdtempSync(join(tmpdir(), 'chaos-io-kinds-api-'))
const writeDir = mkdtempSync(join(tmpdir(), 'chaos-io-kinds-w-'))
// throttle rules are per whole disk, as the toolkit's own are
const device = blockDeviceOf(writeDir).id

mkdirSync(box)
writeFileSync(`${box}/blkio.throttle.write_bps_device`, `${device} ${rate * 1024 * 1024}`)
const dd = (target, extra) => ['sh', ['-c', `echo $$ > ${box}/cgroup.procs && exec dd if=/dev/zero of=${target} bs=1M count=64 oflag=direct status=none ${extra}`]]
// the overwriting writers' files, written through once before anything is measured
execFileSync('sh', ['-c', Array.from({length: 8}, (_, i) => `dd if=/dev/zero of=${writeDir}/old${i} bs=1M count=64 oflag=direct status=none`).join(' && ')])

let writers = []
const stopWriters = () => {
  for (const writer of writers) writer.kill('SIGKILL')
  writers = []
}
let api
/** Removes everything it made; also on Ctrl-C or a kill, so nothing it made outlives it. */
const cleanUp = async () => {
  stopWriters()
  api?.kill()
  // the box can go only once the killed writers have left it
  for (let i = 0; i < 50 && readFileSync(`${box}/cgroup.procs`, 'utf8').trim() !== ''; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  rmSync(apiDir, {recursive: true, force: true})
  rmSync(writeDir, {recursive: true, force: true})
  rmdirSync(box)
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanUp().finally(() => process.exit(130)))
const startWriters = (kind, segment) => {
  writers = Array.from({length: 8}, (_, i) => spawn(...(kind === 'extending' ? dd(`${writeDir}/new${segment}-${i}`, '') : dd(`${writeDir}/old${i}`, 'conv=notrunc')), {stdio: 'ignore'}))
}

api = spawn(process.execPath, ['bin/run.js', 'workload', '--port', String(PORT), '--fsync', '--data-dir', apiDir], {stdio: 'ignore'})
await new Promise((resolve) => setTimeout(resolve, 2000))

const plan = Array.from({length: rounds}, () => ['none', 'extending', 'none', 'overwriting']).flat()
const agent = new http.Agent({keepAlive: true, maxSockets: 64})
const latencies = []
const t0 = performance.now()
let sent = 0
let segment = -1
await new Promise((finished) => {
  const tick = () => {
    const now = performance.now() - t0
    const current = Math.floor(now / SEGMENT_MS)
    if (current !== segment) {
      segment = current
      stopWriters()
      if (plan[segment] !== undefined && plan[segment] !== 'none') startWriters(plan[segment], segment)
    }
    if (now >= plan.length * SEGMENT_MS) {
      setTimeout(finished, 500)
      return
    }
    // open loop: latency from the scheduled send, so a slow answer cannot hold back the next request
    const due = sent++ * 10
    http.get({host: '127.0.0.1', port: PORT, path: '/work', agent}, (res) => {
      res.resume()
      res.on('end', () => latencies.push([due, performance.now() - t0 - due]))
    }).on('error', () => latencies.push([due, Infinity]))
    setTimeout(tick, Math.max(0, sent * 10 - (performance.now() - t0)))
  }
  tick()
})
stopWriters()
api.kill()
await new Promise((resolve) => api.once('exit', resolve))

const line = (values) => ['p50', 'p95', 'p99'].map((name, i) => `${name} ${quantile(values, [0.5, 0.95, 0.99][i]).toFixed(2)} ms`).join(', ')
const byKind = {}
plan.forEach((kind, i) => {
  const values = latencies.filter(([due]) => due >= i * SEGMENT_MS + 1000 && due < (i + 1) * SEGMENT_MS).map(([, ms]) => ms)
  ;(byKind[kind] ??= []).push(...values)
  console.log(`segment ${i} ${kind}: ${line(values)} (${values.length} requests)`)
})
console.log(`writers throttled to ${rate} MiB/s on ${device}, ${rounds} rounds:`)
for (const [kind, values] of Object.entries(byKind)) console.log(`  ${kind.padEnd(11)} ${line(values)} (${values.length} requests)`)

await cleanUp()
process.exit(0)
