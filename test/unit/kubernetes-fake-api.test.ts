// The fake Kubernetes API server's answers checked against the Kubernetes OpenAPI schemas (kubernetes-models), and
// its protocol behaviour (pagination, selectors, watch, Status errors, the ephemeralcontainers subresource) against
// what the API reference says. The toolkit's own objects (the helper pod) are validated the same way.
import {request} from 'node:https'

import {Status} from '@kubernetes-models/apimachinery/apis/meta/v1/Status'
import {WatchEvent} from '@kubernetes-models/apimachinery/apis/meta/v1/WatchEvent'
import {SelfSubjectAccessReview} from 'kubernetes-models/authorization.k8s.io/v1/SelfSubjectAccessReview'
import {Namespace} from 'kubernetes-models/v1/Namespace'
import {Pod} from 'kubernetes-models/v1/Pod'
import {PodList} from 'kubernetes-models/v1/PodList'
import {LimitRangeList} from 'kubernetes-models/v1/LimitRangeList'
import {ResourceQuotaList} from 'kubernetes-models/v1/ResourceQuotaList'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {helperPod} from '../../src/platforms/kubernetes/index.js'
import {FakeKubeApi, workloadPod} from '../helpers/fake-kube-api.js'

let fake: FakeKubeApi

/** The CA the fake's kubeconfig hands to clients. */
const caOf = (server: FakeKubeApi) => Buffer.from(JSON.parse(server.kubeconfig()).clusters[0].cluster['certificate-authority-data'], 'base64')

/* eslint-disable @typescript-eslint/no-explicit-any */
function call(method: string, path: string, body?: unknown, contentType = 'application/json', server = fake): Promise<{status: number, json: any, text: string}> {
  const url = new URL(path, server.url)
  return new Promise((resolve, reject) => {
    const req = request(url, {method, ca: caOf(server), headers: {'content-type': contentType}}, (res) => {
      let text = ''
      res.on('data', (d) => { text += d })
      res.on('end', () => {
        let json
        try {
          json = JSON.parse(text)
        } catch { /* text */ }
        resolve({status: res.statusCode!, json, text})
      })
    })
    req.on('error', reject)
    if (body !== undefined) req.write(JSON.stringify(body))
    req.end()
  })
}

beforeAll(async () => {
  fake = new FakeKubeApi()
  await fake.start()
  fake.addNamespace('shop', {'chaos.allowed': 'true'})
  fake.addPodsBulk(Array.from({length: 25}, (_, i) => workloadPod({name: `web-${String(i).padStart(2, '0')}`, namespace: 'shop', port: 1000 + i, cpu: '500m', memory: '256Mi', labels: {app: i % 2 ? 'web' : 'api', ...(i === 3 ? {canary: 'yes'} : {})}})))
  await fake.addPod(workloadPod({name: 'pending', namespace: 'shop', port: 1, labels: {app: 'web'}}), {phase: 'Pending'})
})

afterAll(async () => {
  await fake.stop()
})

describe('fake kube-apiserver: shapes validate against the Kubernetes OpenAPI schemas', () => {
  it('Pod, PodList and Namespace', async () => {
    const list = await call('GET', '/api/v1/namespaces/shop/pods')
    expect(list.status).toBe(200)
    expect(() => new PodList(list.json).validate()).not.toThrow()
    for (const item of list.json.items) expect(() => new Pod({...item}).validate()).not.toThrow()
    const ns = await call('GET', '/api/v1/namespaces/shop')
    expect(() => new Namespace(ns.json).validate()).not.toThrow()
    expect(ns.json.metadata.labels['kubernetes.io/metadata.name']).toBe('shop')
  })

  it('ResourceQuotaList and LimitRangeList, per namespace', async () => {
    fake.addResourceQuota('shop', 'compute', {'limits.cpu': '4', 'limits.memory': '8Gi'})
    fake.addLimitRange('shop', 'defaults', {default: {cpu: '500m', memory: '256Mi'}, defaultRequest: {cpu: '100m', memory: '128Mi'}})
    fake.addResourceQuota('other', 'elsewhere', {pods: '10'})
    try {
      const quotas = await call('GET', '/api/v1/namespaces/shop/resourcequotas')
      expect(quotas.status).toBe(200)
      expect(() => new ResourceQuotaList(quotas.json).validate()).not.toThrow()
      expect(quotas.json.items.map((q: any) => q.metadata.name)).toEqual(['compute'])
      const ranges = await call('GET', '/api/v1/namespaces/shop/limitranges')
      expect(() => new LimitRangeList(ranges.json).validate()).not.toThrow()
      expect(ranges.json.items[0].spec.limits[0]).toMatchObject({type: 'Container', default: {cpu: '500m'}})
    } finally {
      fake.removeNamespaceLimits('shop')
      fake.removeNamespaceLimits('other')
    }
    expect((await call('GET', '/api/v1/namespaces/shop/resourcequotas')).json.items).toEqual([])
  })

  it('the toolkit\'s helper pod is a valid Pod', () => {
    const pod = helperPod('chaos-1a2b3c4d-h1', '1a2b3c4d', 'node-1', 'chaos-toolkit:0.1.0', ['chaos', 'k8s', 'helper'], Date.now() + 10_000)
    expect(() => new Pod(pod as any).validate()).not.toThrow()
  })

  it('paginates with limit and continue at one resourceVersion, remainingItemCount only without selectors', async () => {
    const names: string[] = []
    let token: string | undefined
    let rv: string | undefined
    let pages = 0
    do {
      const page = await call('GET', `/api/v1/namespaces/shop/pods?limit=10${token ? `&continue=${encodeURIComponent(token)}` : ''}`)
      expect(() => new PodList(page.json).validate()).not.toThrow()
      rv ??= page.json.metadata.resourceVersion
      expect(page.json.metadata.resourceVersion).toBe(rv)
      if (page.json.metadata.continue) expect(page.json.metadata.remainingItemCount).toBe(26 - names.length - page.json.items.length)
      names.push(...page.json.items.map((p: any) => p.metadata.name))
      token = page.json.metadata.continue
      pages++
    } while (token)
    expect(pages).toBe(3)
    expect(names).toHaveLength(26)
    const selected = await call('GET', '/api/v1/namespaces/shop/pods?limit=5&labelSelector=app%3Dweb')
    expect(selected.json.metadata.continue).toBeDefined()
    expect(selected.json.metadata.remainingItemCount).toBeUndefined()
    const stale = await call('GET', '/api/v1/namespaces/shop/pods?limit=5&continue=bm90LWEtdG9rZW4')
    expect(stale.status).toBe(410)
    expect(() => new Status(stale.json).validate()).not.toThrow()
  })

  it('label selectors in kubectl syntax and field selectors; a bad selector is a 400 Status', async () => {
    const q = (s: string) => call('GET', `/api/v1/namespaces/shop/pods?${s}`).then((r) => r.json.items.map((p: any) => p.metadata.name))
    expect(await q(`labelSelector=${encodeURIComponent('app=web,!canary')}`)).toHaveLength(12)
    expect(await q(`labelSelector=${encodeURIComponent('app in (web),canary')}`)).toEqual(['web-03'])
    expect(await q(`labelSelector=${encodeURIComponent('app notin (web)')}`)).toHaveLength(13)
    expect(await q(`labelSelector=${encodeURIComponent('app!=api')}&fieldSelector=${encodeURIComponent('status.phase=Running')}`)).toHaveLength(12)
    expect(await q(`fieldSelector=${encodeURIComponent('status.phase!=Running')}`)).toEqual(['pending'])
    const bad = await call('GET', `/api/v1/namespaces/shop/pods?fieldSelector=${encodeURIComponent('spec.color=red')}`)
    expect(bad.status).toBe(400)
    expect(bad.json.message).toBe('field label not supported: spec.color')
    expect(() => new Status(bad.json).validate()).not.toThrow()
  })

  it('404 NotFound and 403 Forbidden are Status objects worded like the apiserver\'s', async () => {
    const missing = await call('GET', '/api/v1/namespaces/shop/pods/nope')
    expect(missing.status).toBe(404)
    expect(missing.json).toMatchObject({kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'pods "nope" not found', details: {name: 'nope', kind: 'pods'}})
    expect(() => new Status(missing.json).validate()).not.toThrow()
    const strict = new FakeKubeApi({allow: ['get pods'], user: 'system:serviceaccount:ns:sa'})
    await strict.start()
    try {
      strict.addNamespace('ns')
      const denied = await call('GET', '/api/v1/namespaces/ns/pods', undefined, 'application/json', strict)
      expect(denied.status).toBe(403)
      expect(denied.json.message).toBe('pods is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "pods" in API group "" in the namespace "ns"')
      expect(() => new Status(denied.json).validate()).not.toThrow()
      const review = await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {resourceAttributes: {namespace: 'ns', verb: 'patch', resource: 'pods', subresource: 'ephemeralcontainers'}}}, 'application/json', strict)
      expect(review.status).toBe(201)
      expect(review.json.status.allowed).toBe(false)
      expect(() => new SelfSubjectAccessReview({...review.json, metadata: {}}).validate()).not.toThrow()
    } finally {
      await strict.stop()
    }
  })

  it('watch streams newline-delimited WatchEvents from a resourceVersion', async () => {
    const list = await call('GET', '/api/v1/namespaces/shop/pods?limit=1')
    const rv = list.json.metadata.resourceVersion
    const events: any[] = []
    const done = new Promise<void>((resolve) => {
      const req = request(new URL(`/api/v1/namespaces/shop/pods?watch=1&resourceVersion=${rv}&labelSelector=app%3Dwatched`, fake.url), {ca: caOf(fake)}, (res) => {
        let buf = ''
        res.on('data', (d) => {
          buf += d
          let i
          while ((i = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, i)))
            buf = buf.slice(i + 1)
            if (events.length === 2) {
              req.destroy()
              resolve()
            }
          }
        })
      })
      req.end()
    })
    await new Promise((r) => setTimeout(r, 50))
    fake.addPodsBulk([workloadPod({name: 'watched', namespace: 'shop', port: 2, labels: {app: 'watched'}})])
    await call('DELETE', '/api/v1/namespaces/shop/pods/watched')
    await done
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED'])
    for (const e of events) {
      expect(() => new WatchEvent(e).validate()).not.toThrow()
      expect(() => new Pod(e.object).validate()).not.toThrow()
    }
  })

  it('the ephemeralcontainers subresource adds by strategic merge and refuses removals and resources', async () => {
    const path = '/api/v1/namespaces/shop/pods/web-01/ephemeralcontainers'
    const added = await call('PATCH', path, {spec: {ephemeralContainers: [{name: 'dbg', image: 'busybox', targetContainerName: 'app', command: ['sleep', '1']}]}}, 'application/strategic-merge-patch+json')
    expect(added.status).toBe(200)
    expect(() => new Pod(added.json).validate()).not.toThrow()
    expect(added.json.spec.ephemeralContainers.map((e: any) => e.name)).toEqual(['dbg'])
    const removed = await call('PUT', path, {...added.json, spec: {...added.json.spec, ephemeralContainers: []}})
    expect(removed.status).toBe(422)
    expect(removed.json.message).toContain('may not be removed')
    const limited = await call('PATCH', path, {spec: {ephemeralContainers: [{name: 'dbg2', image: 'busybox', resources: {limits: {cpu: '1'}}}]}}, 'application/strategic-merge-patch+json')
    expect(limited.status).toBe(422)
    const wrongType = await call('PATCH', path, {}, 'application/yaml')
    expect(wrongType.status).toBe(415)
  })
})
