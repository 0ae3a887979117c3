#!/usr/bin/env node
// Benchmark: selecting pods among 5,000 (paginated, 500 a page) through the toolkit's own code in dist/
// (client.js connect + select.js listPods/choosePods, i.e. @kubernetes/client-node's listNamespacedPod with
// limit/continue and a label selector). The API server is a minimal in-process list server with the real API's
// PodList shape and pagination contract (limit, continue, metadata.resourceVersion), written here in plain JS
// because this script runs without a TypeScript loader; test/helpers/fake-kube-api.ts is the full fake.
// With --real, against a real kube-apiserver and etcd instead (scripts/kube/apiserver.mjs: built from the Go module
// proxy, on loopback, client-certificate authentication over TLS), holding the same pods, created through its API.
//   npm run build && flock /tmp/chaos-cpu.lock node test/bench/k8s-select.js [--pods 5000] [--repeat 5] [--real]
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const POD_COUNT = arg('--pods', 5000)
const REPEAT = arg('--repeat', 5)
const REAL = process.argv.includes('--real')

function pod(i) {
  const name = `web-${String(i).padStart(5, '0')}`
  const t = '2026-01-01T00:00:00Z'
  return {
    metadata: {name, namespace: 'shop', uid: randomUUID(), resourceVersion: String(1000 + i), creationTimestamp: t,
      labels: {app: i % 2 ? 'web' : 'api', 'pod-template-hash': '5d8f7c9b4', 'chaos.allowed': 'true'}},
    spec: {nodeName: `node-${i % 50}`, restartPolicy: 'Always', serviceAccountName: 'default', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30,
      containers: [{name: 'app', image: 'registry.example/web:1.2.3', ports: [{containerPort: 8080, protocol: 'TCP'}],
        resources: {limits: {cpu: '500m', memory: '256Mi'}, requests: {cpu: '500m', memory: '256Mi'}},
        terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent'}]},
    status: {phase: 'Running', qosClass: 'Guaranteed', hostIP: '10.0.0.1', podIP: `10.1.${i >> 8}.${i & 255}`, startTime: t,
      conditions: [{type: 'Ready', status: 'True', lastTransitionTime: t}, {type: 'PodScheduled', status: 'True', lastTransitionTime: t}],
      containerStatuses: [{name: 'app', ready: true, started: true, restartCount: 0, image: 'registry.example/web:1.2.3', imageID: 'registry.example/web@sha256:0',
        containerID: `containerd://${randomUUID().replaceAll('-', '')}`, state: {running: {startedAt: t}}, lastState: {}}]},
  }
}

const pods = Array.from({length: POD_COUNT}, (_, i) => pod(i))
let requests = 0
const dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-bench-'))
let kubeconfig = join(dir, 'kubeconfig')
let stopServer
let populateMs
if (REAL) {
  const {startRealApiServer} = await import('../../scripts/kube/apiserver.mjs')
  const real = await startRealApiServer()
  stopServer = () => real.stop()
  kubeconfig = real.adminKubeconfig
  await real.createNamespace('shop')
  // the same pods, created through the API (it sets uid, resourceVersion and the status itself: they stay Pending)
  const t = performance.now()
  let next = 0
  const worker = async () => {
    while (next < pods.length) {
      const {metadata, spec} = pods[next++]
      const res = await real.request('POST', '/api/v1/namespaces/shop/pods', {apiVersion: 'v1', kind: 'Pod', metadata: {name: metadata.name, labels: metadata.labels}, spec})
      if (res.status !== 201) throw new Error(`creating ${metadata.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    }
  }
  await Promise.all(Array.from({length: 16}, worker))
  populateMs = performance.now() - t
} else {
  const server = createServer((req, res) => {
    requests++
    const url = new URL(req.url, 'http://x')
    if (url.pathname !== '/api/v1/namespaces/shop/pods') {
      res.writeHead(404, {'content-type': 'application/json'})
      return res.end(JSON.stringify({kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'not found'}))
    }
    const limit = Number(url.searchParams.get('limit') ?? 0) || POD_COUNT
    const start = url.searchParams.get('continue') ? Number(Buffer.from(url.searchParams.get('continue'), 'base64').toString()) : 0
    const [key, value] = (url.searchParams.get('labelSelector') ?? '=').split('=')
    const matching = []
    let i = start
    for (; i < pods.length && matching.length < limit; i++) if (!key || pods[i].metadata.labels[key] === value) matching.push(pods[i])
    const metadata = {resourceVersion: '999999'}
    if (i < pods.length) metadata.continue = Buffer.from(String(i)).toString('base64')
    res.writeHead(200, {'content-type': 'application/json'})
    res.end(JSON.stringify({kind: 'PodList', apiVersion: 'v1', metadata, items: matching}))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  stopServer = () => server.close()
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'bench',
    clusters: [{name: 'bench', cluster: {server: `http://127.0.0.1:${server.address().port}`, 'insecure-skip-tls-verify': true}}],
    users: [{name: 'bench', user: {token: 'bench'}}],
    contexts: [{name: 'bench', context: {cluster: 'bench', user: 'bench'}}],
  }))
}

try {
  const t0 = performance.now()
  const {connect} = await import('../../dist/platforms/kubernetes/client.js')
  const {listPods, choosePods} = await import('../../dist/platforms/kubernetes/select.js')
  const cluster = await connect({kubeconfig, requestTimeout: 30_000})
  const importMs = performance.now() - t0
  const times = []
  let chosen = []
  let listed
  for (let r = 0; r < REPEAT; r++) {
    requests = 0
    const t = performance.now()
    listed = await listPods(cluster, {namespace: 'shop', selector: 'app=web'})
    chosen = choosePods(listed.pods, {percent: 0.1}, 42)
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]
  console.log(JSON.stringify({
    server: REAL ? 'kube-apiserver' : 'in-process', pods: POD_COUNT, matched: listed.pods.length, pages: listed.pages, requests: REAL ? listed.pages : requests, chosen: chosen.length,
    firstRunMs: Math.round(times.at(-1)), medianMs: Math.round(median), minMs: Math.round(times[0]), clientImportAndConnectMs: Math.round(importMs),
    goalMs: 2000, underGoal: times.at(-1) + importMs < 2000, ...(populateMs === undefined ? {} : {populateMs: Math.round(populateMs)}),
  }))
} finally {
  await stopServer()
  rmSync(dir, {recursive: true, force: true})
}
