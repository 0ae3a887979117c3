// End to end through the fake Kubernetes API server (test/helpers/fake-kube-api.ts) with its local runtime: the
// pods' containers are real local processes in cgroups with their limits, so a helper pod really joins the target
// container's cgroup and the dose is measured there. What this does not prove: anything about a real apiserver,
// kubelet, container runtime or image (docs/kubernetes.md says which paths ran only against the fake).
import {execFile, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {Cgroup, detectCgroupLayout} from '../../src/host/cgroupfs.js'
import {readCgroupSample} from '../../src/metrics/resources.js'
import {manifests} from '../../src/platforms/kubernetes/manifests.js'
import {PERMISSIONS, describePermission} from '../../src/platforms/kubernetes/rbac.js'
import {FakeKubeApi, OWN_NETNS_ANNOTATION, workloadPod, workloadsAnswer} from '../helpers/fake-kube-api.js'
import {kubeExperiment} from '../helpers/kube-experiment.js'
import {freePort} from '../helpers/prometheus-server.js'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'run.js')
// ports nothing listens on when the tests start: a leftover workload on a fixed port would answer for the pod's
const PORTS = {worker: 0, api: 0, flooder: 0}
const execFileAsync = promisify(execFile)

let fake: FakeKubeApi
let dir: string
let kubeconfig: string
const allRequests: {verb: string, resource: string, subresource?: string, group: string}[] = []

function experiment(mechanism: 'helper-pod' | 'ephemeral-container', extra = '', fault?: string, targetSelector?: string): string {
  return kubeExperiment({name: `k8s-e2e-${mechanism}`, mechanism, image: 'chaos-toolkit:test', apiPort: PORTS.api, fault, targetSelector, extra})
}

/** The CLI as a child process; asynchronous, since the fake API server answers from this process's event loop. */
function run(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<{code: number | null, out: string}> {
  const child = spawn(process.execPath, [BIN, 'run', file, '--quiet', ...args], {
    env: {...process.env, KUBECONFIG: kubeconfig, CHAOS_STATE_DIR: join(dir, 'state'), ...env},
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer)
    resolve({code, out})
  }))
}

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-e2e-'))
  PORTS.worker = await freePort()
  PORTS.api = await freePort()
  fake = new FakeKubeApi({runtime: true})
  await fake.start()
  kubeconfig = write('kubeconfig', fake.kubeconfig())
  fake.addNamespace('shop')
  // the worker mounts an emptyDir where a disk fill may go (the fake mounts nothing: its containers share this
  // machine's filesystem, so the mount path is a directory here)
  const worker = workloadPod({name: 'worker-0', namespace: 'shop', port: PORTS.worker, cpu: '500m', memory: '256Mi', labels: {app: 'worker', 'chaos.allowed': 'true'}})
  mkdirSync(join(dir, 'scratch'))
  worker.spec.volumes = [{name: 'scratch', emptyDir: {sizeLimit: '1Gi'}}]
  worker.spec.containers[0].volumeMounts = [{name: 'scratch', mountPath: join(dir, 'scratch')}]
  await fake.addPod(worker)
  await fake.addPod(workloadPod({name: 'api-0', namespace: 'shop', port: PORTS.api, cpu: '500m', memory: '256Mi', labels: {app: 'api', tier: 'web'}}))
  // the same worker as a BestEffort pod (no requests, no limits): another isolation level
  await fake.addPod(workloadPod({name: 'worker-be-0', namespace: 'shop', port: await freePort(), labels: {app: 'worker-be', 'chaos.allowed': 'true'}}))
  // a pod with a network namespace of its own (the others share the host's, so the probe reaches them)
  PORTS.flooder = await freePort()
  const flooder = workloadPod({name: 'flooder-0', namespace: 'shop', port: PORTS.flooder, cpu: '500m', memory: '256Mi', labels: {app: 'flooder', 'chaos.allowed': 'true'}})
  flooder.metadata.annotations = {[OWN_NETNS_ANNOTATION]: 'true'}
  await fake.addPod(flooder)
  // the workloads answer before the runs start
  await workloadsAnswer([PORTS.worker, PORTS.api])
})

afterAll(async () => {
  await fake?.stop()
  rmSync(dir, {recursive: true, force: true})
  // nothing of the fake's runtime is left: no workload process, no cgroup
  expect(spawnSync('sh', ['-c', `ps -eo args | grep -c "[w]orkload --port ${PORTS.worker}" || true`], {encoding: 'utf8'}).stdout.trim()).toBe('0')
  expect(new Cgroup(detectCgroupLayout(), fake.runtimeRoot).exists()).toBe(false)
})

function recordRequests() {
  for (const r of fake.requests) if (r.resource !== 'selfsubjectaccessreviews') allRequests.push(r)
  fake.requests.length = 0
}

function containerBox(pod: string, container: string): Cgroup {
  const id = fake.getPod('shop', pod).status.containerStatuses.find((c: {name: string}) => c.name === container).containerID.replace('containerd://', '')
  const uid = fake.getPod('shop', pod).metadata.uid
  return new Cgroup(detectCgroupLayout(), `${fake.runtimeRoot}/pod${uid}/${id}`)
}

describe('kubernetes platform end to end (fake API server, local runtime)', () => {
  it('injects through a helper pod that joins the target container\'s cgroup, proves the dose there, and deletes the helper', async () => {
    const file = write('helper.yaml', experiment('helper-pod'))
    const box = containerBox('worker-0', 'app')
    const before = readCgroupSample(box.paths()).cpuSeconds!
    const journalFile = join(dir, 'helper-journal.json')
    const started = Date.now()
    const result = await run(file, ['--output', journalFile])
    const seconds = (Date.now() - started) / 1000
    const after = readCgroupSample(box.paths()).cpuSeconds!
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('shop/worker-0')
    expect(journal.plan.join('\n')).toMatch(/cpu-hog: 0\.25 cores = 50% of 0\.5 CPU/)
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // the 0.25-core dose for 4 s was charged to the worker container's own cgroup (plus its idle workload)
    expect(after - before).toBeGreaterThan(0.25 * 4 * 0.8)
    expect(after - before).toBeLessThan(0.5 * seconds)
    // the helper pod was pinned to the node, labelled, and is gone
    const created = fake.requests.find((r) => r.verb === 'create' && r.resource === 'pods')
    expect(created).toBeDefined()
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    expect(fake.requests.some((r) => r.verb === 'delete' && r.resource === 'pods')).toBe(true)
    // nothing left in the ledger directory
    expect(spawnSync('sh', ['-c', `ls ${join(dir, 'state', 'runs')} 2>/dev/null | grep -c json || true`], {encoding: 'utf8'}).stdout.trim()).toBe('0')
    recordRequests()
  })

  it('a memory leak through a helper pod is charged to the worker container\'s 256Mi limit and OOM-killed there', async () => {
    const file = write('leak.yaml', experiment('helper-pod', '', '{type: memory-leak, rate: 128Mi/s, limit: 1Gi}'))
    const box = containerBox('worker-0', 'app')
    const journalFile = join(dir, 'leak-journal.json')
    const result = await run(file, ['--output', journalFile])
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    const events = journal.injection.events.join('\n')
    expect(result.code, `${result.out}\n${events}`).toBe(0)
    expect(journal.verdict).toBe('contained')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    // the helper told how its stressor ended: SIGKILLed, and not by the toolkit
    expect(events).toMatch(/memory stressor ended .*killed by SIGKILL, oom-or-sigkill/)
    // the kernel stopped the leak at the container's own limit: its OOM kill is counted in that cgroup
    expect(journal.injection.efficacy.note, JSON.stringify(journal.injection.efficacy)).toMatch(/OOM-killed/)
    expect(readCgroupSample(box.paths()).oomKills).toBeGreaterThanOrEqual(1)
    // the worker's own workload survived (the leak was the largest process in the box), and the api saw nothing
    expect(fake.getPod('shop', 'worker-0').status.containerStatuses[0].restartCount).toBe(0)
    expect(journal.neighbors[0].signals.find((s: {signal: string}) => s.signal === 'restarts').verdict).toBe('contained')
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    recordRequests()
  })

  it('injects through an ephemeral container, stops it early over exec, and says it stays in the pod spec', async () => {
    const file = write('ephemeral.yaml', experiment('ephemeral-container'))
    const journalFile = join(dir, 'ephemeral-journal.json')
    const result = await run(file, ['--output', journalFile])
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('cannot remove it')
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    const pod = fake.getPod('shop', 'worker-0')
    expect(pod.spec.ephemeralContainers.map((e: {name: string}) => e.name)).toEqual([expect.stringMatching(/^chaos-[0-9a-f]{8}-1$/)])
    expect(pod.status.ephemeralContainerStatuses[0].state.terminated).toBeDefined()
    // stopped at the end of the inject phase through exec (chaos k8s helper-stop in its own container), not left
    // to burn on to its deadline
    const name = pod.spec.ephemeralContainers[0].name
    expect(fake.requests.filter((r) => r.subresource === 'exec' && r.status === 101).map((r) => r.verb).sort()).toEqual(['create', 'get'])
    const log = fake.containerLog('shop', 'worker-0', name)!
    expect(log).toMatch(/"type":"exit"[^\n]*"reason":"signal"/)
    expect(log).not.toContain('"reason":"deadline"')
    recordRequests()
  })

  it.each(['helper-pod', 'ephemeral-container'] as const)('floods inside the target pod\'s own network namespace through the %s, to a sink in that pod', async (mechanism) => {
    const netns = fake.netnsOf('shop', 'flooder-0')!
    expect(netns).toMatch(/^chaos-fake-/)
    const loBytes = async () => Number((await execFileAsync('ip', ['netns', 'exec', netns, 'cat', '/sys/class/net/lo/statistics/tx_bytes'])).stdout)
    const before = await loBytes()
    const file = write(`flood-${mechanism}.yaml`, experiment(mechanism, '', '{type: network-flood, rate: 200Mbit, connections: 2}', 'app=flooder'))
    const journalFile = join(dir, `flood-${mechanism}.json`)
    const result = await run(file, ['--output', journalFile])
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain('inside the target pod\'s network namespace')
    const efficacy = journal.injection.efficacy
    expect(efficacy.landed, JSON.stringify(efficacy)).toBe(true)
    // every delivered byte crossed the pod's own loopback, not the host's: the namespace's counter rose by at least
    // the 4 s of the dose at 200 Mbit/s (its idle workload adds nothing there)
    const crossed = (await loBytes()) - before
    const sent = Number(/(\d+) MB sent/.exec(efficacy.note)![1]) * 1e6
    expect(sent).toBeGreaterThan(10e6)
    expect(crossed).toBeGreaterThan(0.95 * sent)
    expect(efficacy.achieved).toBeGreaterThan(0.9 * 200e6)
    if (mechanism === 'helper-pod') expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    recordRequests()
  })

  it.each(['helper-pod', 'ephemeral-container'] as const)('fills a path in the target container\'s filesystem through the %s, charged to its cgroup, and removes the file', async (mechanism) => {
    // the fake's containers share this machine's filesystem, so "the container's /scratch" is a directory here
    const scratch = join(dir, 'scratch', mechanism)
    mkdirSync(scratch)
    const box = containerBox('worker-0', 'app')
    // where the disk stressor ran: the memory cgroup of the process titled "chaos-stressor disk" (this machine's
    // blkio counters stay at 0 even for dd oflag=direct, so the charge is shown by membership)
    let stressorCgroup: string | undefined
    let largest = 0
    const watch = setInterval(() => {
      for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('chaos-stressor disk')) continue
          stressorCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))?.split(':')[2]
        } catch { /* gone */ }
      }
      for (const name of readdirSync(scratch)) {
        try {
          largest = Math.max(largest, statSync(join(scratch, name)).size)
        } catch { /* removed meanwhile */ }
      }
    }, 100)
    const file = write(`fill-${mechanism}.yaml`, experiment(mechanism, `safety: {allowPaths: [${scratch}]}\n`, `{type: disk-fill, path: ${scratch}, size: 64Mi}`))
    const journalFile = join(dir, `fill-${mechanism}.json`)
    const result = await run(file, ['--output', journalFile])
    clearInterval(watch)
    expect(result.code, result.out).toBe(0)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    expect(journal.plan.join('\n')).toContain(`64.0Mi into ${scratch} in container app of each target pod`)
    if (mechanism === 'ephemeral-container') {
      expect(journal.plan.join('\n')).toContain(`mounts volume scratch at ${join(dir, 'scratch')}`)
      expect(fake.getPod('shop', 'worker-0').spec.ephemeralContainers.at(-1).volumeMounts).toEqual([{name: 'scratch', mountPath: join(dir, 'scratch')}])
    }
    expect(journal.injection.efficacy.landed, JSON.stringify(journal.injection.efficacy)).toBe(true)
    expect(largest).toBe(64 * 1024 ** 2)
    // the writer ran in the worker container's own cgroup (helper pod), or in the ephemeral container's cgroup
    // inside the worker's pod (charged to the pod, as the kubelet does)
    const uid = fake.getPod('shop', 'worker-0').metadata.uid
    if (mechanism === 'helper-pod') expect(stressorCgroup).toBe(`/${box.relativePath}`)
    else expect(stressorCgroup).toMatch(new RegExp(`^/${fake.runtimeRoot}/pod${uid}/[0-9a-f]{64}$`))
    // and the fill file is gone
    expect(readdirSync(scratch)).toEqual([])
    recordRequests()
  })

  it('checks the isolation a workflow states against the cluster, and refuses the run when a statement is false', async () => {
    fake.addResourceQuota('shop', 'compute', {'limits.cpu': '4', 'limits.memory': '8Gi'})
    try {
      const stated = (isolation: string) => experiment('helper-pod').replace('container: app}', `container: app, isolation: ${isolation}}`)
      const ok = await run(write('iso-ok.yaml', stated('{qos: Guaranteed, limits: true, quota: true, limitRange: false, node: shared}')), ['--dry-run'])
      expect(ok.code, ok.out).toBe(0)
      expect(ok.out).toContain('isolation of worker as stated: QoS Guaranteed, cpu and memory limits, ResourceQuota compute (limits.cpu 4, limits.memory 8Gi), no LimitRange, node shared (api\'s api-0 on fake-node-1)')
      const wrong = await run(write('iso-wrong.yaml', stated('{qos: BestEffort, limitRange: true, node: dedicated, nodeSelector: {pool: chaos}}')), ['--dry-run'])
      expect(wrong.code, wrong.out).toBe(2)
      expect(wrong.out).toContain('the stated isolation is not what the cluster has')
      expect(wrong.out).toContain('worker: QoS BestEffort stated, but worker-0 is Guaranteed')
      expect(wrong.out).toContain('worker: a LimitRange in namespace shop stated, but it has none')
      expect(wrong.out).toContain('worker: a dedicated node stated, but api\'s api-0 on fake-node-1')
      expect(wrong.out).toContain('worker: nodeSelector pool=chaos stated, but worker-0 has {}')
      // nothing was created: a dry run, and the refusal comes from the plan; the plan's admission check is a
      // server-side dry run (dryRun=All), which stores nothing
      expect(fake.requests.filter((r) => r.verb === 'create' && r.resource === 'pods' && !r.subresource && !r.dryRun)).toEqual([])
      expect(ok.out).toContain('admission: the API server admits the helper pod in namespace shop (dry-run create)')
    } finally {
      fake.removeNamespaceLimits('shop')
    }
    const noQuota = await run(write('iso-noquota.yaml', experiment('helper-pod').replace('container: app}', 'container: app, isolation: {quota: true}}')), ['--dry-run'])
    expect(noQuota.code, noQuota.out).toBe(2)
    expect(noQuota.out).toContain('worker: a ResourceQuota in namespace shop stated, but it has none')
    recordRequests()
  })

  it('chaos matrix compares the levels of kubernetes.levels: other pods of the same workflow, each with its stated isolation', async () => {
    const file = write('levels.yaml', `apiVersion: chaos/v1
kind: Experiment
metadata: {name: k8s-levels}
platform: kubernetes
kubernetes:
  mechanism: helper-pod
  image: chaos-toolkit:test
  seed: 7
  level: guaranteed
  levels:
    besteffort:
      description: the worker without requests or limits
      target: {selector: "app=worker-be", isolation: {qos: BestEffort, limits: false}}
target:
  name: worker
  pods: {namespace: shop, selector: "app=worker", container: app, isolation: {qos: Guaranteed, limits: true}}
neighbors:
  - name: api
    pods: {namespace: shop, selector: "app=api,tier in (web)"}
    probe: {http: {url: "http://127.0.0.1:${PORTS.api}/work", rate: 20}}
fault: {type: cpu-hog, cores: 0.25}
phases: {warmup: 0s, baseline: 3s, inject: 4s, recover: 0s, interval: 500ms}
verdict: {design: windows}
hypothesis:
  - {signal: error_rate, max: 5%}
  - {signal: restarts, max: 0}
`)
    const unknown = await run(file, ['--dry-run', '--level', 'burstable'])
    expect(unknown.code, unknown.out).toBe(2)
    expect(unknown.out).toContain('level burstable: on platform kubernetes a level is other pods of the same workflows, named in kubernetes.levels; this experiment has guaranteed, besteffort')
    const out = join(dir, 'matrix.json')
    const child = spawn(process.execPath, [BIN, 'matrix', file, '--repeat', '1', '--seed', '1', '--quiet', '--output', out], {env: {...process.env, KUBECONFIG: kubeconfig, CHAOS_STATE_DIR: join(dir, 'state')}})
    let text2 = ''
    child.stdout.on('data', (d: Buffer) => { text2 += d.toString() })
    child.stderr.on('data', (d: Buffer) => { text2 += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, text2).toBe(0)
    const matrix = JSON.parse(readFileSync(out, 'utf8'))
    expect(matrix.levels).toEqual(['guaranteed', 'besteffort'])
    const byLevel = Object.fromEntries(matrix.runs.map((r: {level: string, journal: {plan: string[], injection: {efficacy: {landed: boolean}}}}) => [r.level, r.journal]))
    expect(byLevel.guaranteed.plan.join('\n')).toContain('shop/worker-0 on node')
    expect(byLevel.guaranteed.plan.join('\n')).toContain('isolation of worker as stated: QoS Guaranteed, cpu and memory limits')
    expect(byLevel.besteffort.plan.join('\n')).toContain('level besteffort: the worker without requests or limits')
    expect(byLevel.besteffort.plan.join('\n')).toContain('shop/worker-be-0 on node')
    expect(byLevel.besteffort.plan.join('\n')).toContain('isolation of worker as stated: QoS BestEffort, no limits')
    for (const journal of Object.values(byLevel) as {injection: {efficacy: {landed: boolean}}}[]) expect(journal.injection.efficacy.landed).toBe(true)
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
    recordRequests()
  })

  it('a neighbour pod that stops being Ready during the injection is a breach of unready', async () => {
    const file = write('unready.yaml', experiment('helper-pod').replace('  - {signal: restarts, max: 0}', '  - {signal: restarts, max: 0}\n  - {signal: unready, neighbor: api, max: 0}'))
    const journalFile = join(dir, 'unready.json')
    // and a cluster without metrics-server: asked once per workflow, not every interval
    fake.options.metricsApi = false
    fake.requests.length = 0
    const running = run(file, ['--output', journalFile]).finally(() => { fake.options.metricsApi = true })
    // once the helper's stressor is ready the injection is on: the api pod's readiness probe "fails" for a second
    let flipped = false
    for (let i = 0; i < 400 && !flipped; i++) {
      const helper = fake.listPods().find((p) => p.metadata.labels?.['chaos.run'])
      if (helper && fake.containerLog('shop', helper.metadata.name, 'stressor')?.includes('"type":"ready"')) {
        await new Promise((r) => setTimeout(r, 500))
        fake.setReady('shop', 'api-0', false)
        await new Promise((r) => setTimeout(r, 1000))
        fake.setReady('shop', 'api-0', true)
        flipped = true
      } else await new Promise((r) => setTimeout(r, 50))
    }
    expect(flipped).toBe(true)
    const result = await running
    const journal = JSON.parse(readFileSync(journalFile, 'utf8'))
    const unready = journal.neighbors[0].signals.find((s: {signal: string}) => s.signal === 'unready')
    expect(unready, JSON.stringify(journal.neighbors[0].signals)).toMatchObject({verdict: 'breach', fault: 1})
    expect(journal.verdict).toBe('breach')
    expect(result.code, result.out).toBe(1)
    const metricsCalls = fake.requests.filter((r) => r.group === 'metrics.k8s.io')
    expect(metricsCalls.map((r) => r.status)).toEqual([404, 404])
    recordRequests()
  })

  it('reads the namespace label when the pod carries none', async () => {
    fake.addNamespace('shop', {'chaos.allowed': 'true'})
    const pod = fake.getPod('shop', 'worker-0')
    delete pod.metadata.labels['chaos.allowed']
    try {
      const result = await run(write('ns.yaml', experiment('helper-pod')), ['--dry-run'])
      expect(result.code, result.out).toBe(0)
      expect(result.out).toContain('namespace shop is labelled chaos.allowed=true')
    } finally {
      pod.metadata.labels['chaos.allowed'] = 'true'
      fake.addNamespace('shop')
    }
    recordRequests()
  })

  it('the Role grants exactly the verbs the runs used', () => {
    const used = new Set(allRequests.map((r) => describePermission(r)))
    const objects = manifests({namespace: 'chaos', experiment: 'x', image: 'chaos-toolkit:test'})
    const granted = new Set(objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((o) =>
      (o.rules as {apiGroups: string[], resources: string[], verbs: string[]}[]).flatMap((rule) => rule.verbs.map((verb) => {
        const [resource, subresource] = rule.resources[0].split('/')
        return describePermission({verb, resource, subresource, group: rule.apiGroups[0]})
      }))))
    expect([...used].sort()).toEqual([...granted].sort())
    expect([...granted].sort()).toEqual(PERMISSIONS.map(describePermission).sort())
  })
})

describe('kubernetes platform: refusals before anything starts', () => {
  it('--context picks the kubeconfig context and --mechanism the mechanism; an unknown context is exit 2, and so is either flag off platform kubernetes', async () => {
    // the current context points at a port where nothing listens: only --context fake reaches the cluster
    const config = JSON.parse(fake.kubeconfig())
    config['current-context'] = 'elsewhere'
    config.clusters.push({name: 'dead', cluster: {server: 'https://127.0.0.1:1'}})
    config.contexts.push({name: 'elsewhere', context: {cluster: 'dead', user: 'fake'}})
    const cfg = write('two-contexts', JSON.stringify(config))
    const file = write('ctx.yaml', experiment('helper-pod'))
    const chosen = await run(file, ['--dry-run', '--context', 'fake'], {KUBECONFIG: cfg})
    expect(chosen.code, chosen.out).toBe(0)
    expect(chosen.out).toContain('worker-0')
    const unknown = await run(file, ['--dry-run', '--context', 'nope'], {KUBECONFIG: cfg})
    expect(unknown.code, unknown.out).toBe(2)
    expect(unknown.out).toContain('kubeconfig context "nope" does not exist')
    expect(unknown.out).toContain('fake, elsewhere')
    const offPlatform = await run('experiments/cpu-hog.yaml', ['--dry-run', '--context', 'fake'], {KUBECONFIG: cfg})
    expect(offPlatform.code, offPlatform.out).toBe(2)
    expect(offPlatform.out).toContain('--context is for platform kubernetes; this experiment is platform process')
    // --mechanism overrides kubernetes.mechanism the same way
    const mechanism = await run(write('mech.yaml', experiment('ephemeral-container')), ['--dry-run', '--mechanism', 'helper-pod'], {KUBECONFIG: cfg, CHAOS_KUBE_CONTEXT: 'fake'})
    expect(mechanism.code, mechanism.out).toBe(0)
    expect(mechanism.out).toContain('mechanism helper-pod: a privileged helper pod')
    const mechanismOff = await run('experiments/cpu-hog.yaml', ['--dry-run', '--mechanism', 'helper-pod'])
    expect(mechanismOff.code, mechanismOff.out).toBe(2)
    expect(mechanismOff.out).toContain('--mechanism is for platform kubernetes')
  })

  it('disk-fill and network-flood refusals: each exit 2 with the reason, before anything starts', async () => {
    const scratch = join(dir, 'scratch')
    const cases: [string, string, string, RegExp][] = [
      ['helper-pod', '', `{type: disk-fill, path: ${scratch}/x, size: 16Mi}`, /disk-fill path \S+\/x is not under safety\.allowPaths \(empty\); on this platform the paths are as the target container sees them/],
      ['helper-pod', `safety: {allowPaths: [${scratch}]}\n`, `{type: disk-fill, path: ${scratch}, size: 50%}`, /a percentage is of the target container's limits\.ephemeral-storage, which it does not set; give the size in bytes/],
      ['ephemeral-container', 'safety: {allowPaths: [/var/log]}\n', '{type: disk-fill, path: /var/log, size: 16Mi}', /with mechanism ephemeral-container a fill goes into a volume of container app \(its mounts: \S+scratch\); a path in its writable layer needs mechanism helper-pod/],
      ['helper-pod', `safety: {allowPaths: [${scratch}], maxDisk: 1Gi}\n`, `{type: disk-fill, path: ${scratch}, size: 2Gi}`, /above safety\.maxDisk/],
    ]
    for (const [mechanism, extra, fault, message] of cases) {
      const result = await run(write('refuse-fill.yaml', experiment(mechanism as 'helper-pod', extra, fault)), ['--dry-run'])
      expect(result.code, result.out).toBe(2)
      expect(result.out).toMatch(message)
    }
    const allContainers = experiment('helper-pod', '', '{type: network-flood}', 'app=flooder').replace('container: app}', 'allContainers: true}')
    const refused = await run(write('refuse-flood.yaml', allContainers), ['--dry-run'])
    expect(refused.code, refused.out).toBe(2)
    expect(refused.out).toContain('a pod\'s containers share one network namespace')
    const planned = await run(write('plan-flood.yaml', experiment('helper-pod', '', '{type: network-flood}', 'app=flooder')), ['--dry-run'])
    expect(planned.code, planned.out).toBe(0)
    expect(planned.out).toContain('inside the target pod\'s network namespace (its loopback')
    expect(fake.listPods().filter((p) => p.metadata.labels?.['chaos.run'])).toEqual([])
  })

  it('inside a pod: with no kubeconfig, the service account\'s token and CA (in-cluster config) reach the API server', async () => {
    const secured = new FakeKubeApi({token: 'sa-token-7f3a'})
    await secured.start()
    try {
      secured.addNamespace('shop')
      secured.addPodsBulk([
        workloadPod({name: 'worker-0', namespace: 'shop', port: 1, cpu: '500m', labels: {app: 'worker', 'chaos.allowed': 'true'}}),
        workloadPod({name: 'api-0', namespace: 'shop', port: 2, cpu: '500m', labels: {app: 'api', tier: 'web'}}),
      ])
      const sa = join(dir, 'serviceaccount')
      mkdirSync(sa, {recursive: true})
      writeFileSync(join(sa, 'ca.crt'), Buffer.from(JSON.parse(secured.kubeconfig()).clusters[0].cluster['certificate-authority-data'], 'base64'))
      writeFileSync(join(sa, 'namespace'), 'chaos')
      const file = write('incluster.yaml', experiment('helper-pod'))
      // the service account's files where a pod has them, in a mount namespace of the run's own (a tmpfs over /run)
      const inPod = (token: string) => {
        writeFileSync(join(sa, 'token'), token)
        const env: Record<string, string | undefined> = {...process.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(secured.url).port, HOME: dir, SA: sa, CHAOS_STATE_DIR: join(dir, 'state')}
        delete env.KUBECONFIG
        delete env.CHAOS_KUBE_CONTEXT
        const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
          'mount -t tmpfs chaos-test-sa /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp "$SA"/* /run/secrets/kubernetes.io/serviceaccount/ && exec "$0" "$@"',
          process.execPath, BIN, 'run', file, '--dry-run'], {env})
        let out = ''
        child.stdout.on('data', (d: Buffer) => { out += d.toString() })
        child.stderr.on('data', (d: Buffer) => { out += d.toString() })
        return new Promise<{code: number | null, out: string}>((resolve) => child.on('close', (code) => resolve({code, out})))
      }
      const ok = await inPod('sa-token-7f3a')
      expect(ok.code, ok.out).toBe(0)
      expect(ok.out).toContain('kubernetes: in-cluster service account (/var/run/secrets/kubernetes.io/serviceaccount)')
      expect(ok.out).toContain('shop/worker-0')
      const wrong = await inPod('someone-else')
      expect(wrong.code, wrong.out).toBe(4)
      expect(wrong.out).toContain('refused the credentials (401 Unauthorized)')
      // this machine's /run was never touched
      expect(existsSync('/run/secrets/kubernetes.io/serviceaccount/token')).toBe(false)
    } finally {
      await secured.stop()
    }
  })

  it('no kubeconfig: exit 4', async () => {
    const result = await run(write('e1.yaml', experiment('helper-pod')), ['--dry-run'], {KUBECONFIG: join(dir, 'missing'), HOME: dir})
    expect(result.code, result.out).toBe(4)
    expect(result.out).toContain('no kubeconfig')
  })

  // forbidden by RBAC, and a pod that is not running: against the real kube-apiserver (kubernetes-apiserver.test.ts)
  it('no pods match: exit 2', async () => {
    const result = await run(write('e3.yaml', experiment('helper-pod').replace('app=worker', 'app=nothing')), ['--dry-run'])
    expect(result.code, result.out).toBe(2)
    expect(result.out).toContain('no pods in namespace shop matching app=nothing')
  })

  it('pod not labelled for chaos: exit 2, and the override lets it through', async () => {
    const text = experiment('helper-pod').replace('app=worker', 'app=api')
    const refused = await run(write('e5.yaml', text), ['--dry-run'])
    expect(refused.code, refused.out).toBe(2)
    expect(refused.out).toContain('api-0 in namespace shop is not labelled for chaos')
    const allowed = await run(write('e6.yaml', text.replace('seed: 7}', 'seed: 7, allowUnlabelled: true}')), ['--dry-run'])
    expect(allowed.code, allowed.out).toBe(0)
    expect(allowed.out).toContain('safety OVERRIDDEN')
  })

  it('the manifests validate as Kubernetes objects (kubernetes-models)', async () => {
    const objects = manifests({namespace: 'chaos', experiment: experiment('helper-pod'), image: 'chaos-toolkit:test', pushgateway: 'http://pushgateway:9091', targetNamespaces: ['shop']})
    const models = {
      ServiceAccount: (await import('kubernetes-models/v1/ServiceAccount')).ServiceAccount,
      ConfigMap: (await import('kubernetes-models/v1/ConfigMap')).ConfigMap,
      Role: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/Role')).Role,
      RoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding')).RoleBinding,
      ClusterRole: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole')).ClusterRole,
      ClusterRoleBinding: (await import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding')).ClusterRoleBinding,
      Job: (await import('kubernetes-models/batch/v1/Job')).Job,
      CronJob: (await import('kubernetes-models/batch/v1/CronJob')).CronJob,
    } as Record<string, new (o: unknown) => {validate(): void}>
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Job', 'Role', 'RoleBinding', 'ServiceAccount'])
    for (const o of objects) expect(() => new models[o.kind as string](o).validate(), o.kind as string).not.toThrow()
    // the CLI prints the same objects
    const printed = spawnSync(process.execPath, [BIN, 'k8s', 'manifests', write('m.yaml', experiment('helper-pod')), '--namespace', 'chaos'], {encoding: 'utf8'})
    expect(printed.status, printed.stderr).toBe(0)
    const docs = printed.stdout.split(/^---$/m).map((d) => parse(d))
    expect(docs.map((d) => d.kind)).toContain('CronJob')
  })
})
