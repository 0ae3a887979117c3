// `chaos cleanup --kubernetes` against the fake API server (test/helpers/fake-kube-api.ts speaks the real API's
// paths and JSON; no real cluster runs here): pods labelled chaos.run whose run is dead are found in every
// namespace and deleted; a live run's pod and unlabelled pods are left alone; without --kubernetes the cluster is
// not contacted at all; a sweep RBAC forbids is a failure (exit 5), not "nothing to clean up".
import {execFile, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cleanup} from '../../src/rollback/cleanup.js'
import {processStartTime} from '../../src/rollback/ledger.js'
import {FakeKubeApi, workloadPod} from '../helpers/fake-kube-api.js'

const dir = mkdtempSync(join(tmpdir(), 'chaos-k8s-cleanup-'))
const previousStateDir = process.env.CHAOS_STATE_DIR
process.env.CHAOS_STATE_DIR = join(dir, 'state')
let fake: FakeKubeApi
let kubeconfig: string
const owner = spawn('sleep', ['120'], {stdio: 'ignore'})
const liveRun = 'a11ea11e'

beforeAll(async () => {
  fake = new FakeKubeApi()
  await fake.start()
  kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, fake.kubeconfig())
  for (const ns of ['shop', 'batch']) fake.addNamespace(ns)
  const pod = (name: string, namespace: string, labels: Record<string, string>) => workloadPod({name, namespace, port: 8080, labels})
  fake.addPodsBulk([
    pod('chaos-deadbeef-helper-0', 'shop', {'chaos.run': 'deadbeef'}),
    pod('chaos-deadbeef-helper-1', 'batch', {'chaos.run': 'deadbeef'}),
    pod(`chaos-${liveRun}-helper-0`, 'shop', {'chaos.run': liveRun}),
    pod('api-0', 'shop', {app: 'api', 'chaos.allowed': 'true'}),
  ])
  // the live run: a ledger owned by a live process
  await new Promise((resolve) => setTimeout(resolve, 50))
  mkdirSync(join(process.env.CHAOS_STATE_DIR!, 'runs'), {recursive: true})
  writeFileSync(join(process.env.CHAOS_STATE_DIR!, 'runs', `${liveRun}.json`), JSON.stringify({
    runId: liveRun, experiment: 'live', owner: {pid: owner.pid!, startTime: processStartTime(owner.pid!)},
    startedAt: new Date().toISOString(), resources: [],
  }))
})

afterAll(async () => {
  owner.kill('SIGKILL')
  await fake?.stop()
  if (previousStateDir === undefined) delete process.env.CHAOS_STATE_DIR
  else process.env.CHAOS_STATE_DIR = previousStateDir
  rmSync(dir, {recursive: true, force: true})
})

const names = () => fake.listPods().map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()

describe('chaos cleanup --kubernetes (fake API server)', () => {
  it('without --kubernetes the cluster is not contacted', async () => {
    fake.requests.length = 0
    const previous = process.env.KUBECONFIG
    process.env.KUBECONFIG = kubeconfig
    try {
      await cleanup()
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG
      else process.env.KUBECONFIG = previous
    }
    expect(fake.requests).toEqual([])
    expect(names()).toHaveLength(4)
  })

  it('a dry run lists the dead run\'s pods in every namespace and removes nothing', async () => {
    const report = await cleanup({dryRun: true, kubernetes: {kubeconfig}})
    expect(report.failed).toEqual([])
    expect(report.removed.filter((r) => r.startsWith('kubernetes')).sort()).toEqual(['kubernetes pod batch/chaos-deadbeef-helper-1', 'kubernetes pod shop/chaos-deadbeef-helper-0'])
    expect(names()).toHaveLength(4)
  })

  it('deletes them; the live run\'s pod and unlabelled pods stay; a second run finds nothing', async () => {
    const report = await cleanup({kubernetes: {kubeconfig}})
    expect(report.failed).toEqual([])
    expect(report.removed.filter((r) => r.startsWith('kubernetes'))).toHaveLength(2)
    expect(names()).toEqual([`shop/chaos-${liveRun}-helper-0`, 'shop/api-0'].sort())
    const again = await cleanup({kubernetes: {kubeconfig}})
    expect(again.removed.filter((r) => r.startsWith('kubernetes'))).toEqual([])
  })

  it('the CLI: forbidden to list pods cluster-wide is a failure with the verb named, exit 5', async () => {
    const strict = new FakeKubeApi({allow: ['delete pods', 'get pods']})
    await strict.start()
    try {
      const cfg = join(dir, 'strict-kubeconfig')
      writeFileSync(cfg, strict.kubeconfig())
      // not spawnSync: the fake API server answers from this process's event loop
      const result = await new Promise<{status: number | null, stdout: string, stderr: string}>((resolve) => {
        execFile(process.execPath, ['bin/run.js', 'cleanup', '--kubernetes', '--dry-run'], {encoding: 'utf8', env: {...process.env, KUBECONFIG: cfg}},
          (error, stdout, stderr) => resolve({status: error ? (error.code as number) : 0, stdout, stderr}))
      })
      expect(result.status, result.stdout + result.stderr).toBe(5)
      expect(result.stdout).toMatch(/FAILED the kubernetes sweep: forbidden by RBAC: the sweep needs "list pods" in all namespaces/)
    } finally {
      await strict.stop()
    }
  })

  it('the CLI: --context without --kubernetes is refused', () => {
    const result = spawnSync(process.execPath, ['bin/run.js', 'cleanup', '--context', 'x'], {encoding: 'utf8'})
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/--kubernetes/)
  })
})
