// Exec over WebSocket without a runtime: the fake API server's answers (HTTP refusals as meta/v1 Status validated
// against the OpenAPI schema, the channel-3 Status of a container with no process), the toolkit's reading of a
// status, and which command lines `chaos k8s helper-stop` takes for a run's helper.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Status} from '@kubernetes-models/apimachinery/apis/meta/v1/Status'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {WebSocket} from 'ws'

import {ExecError, exitCodeOf} from '../../src/platforms/kubernetes/exec.js'
import {findHelpers, helperRunOf} from '../../src/platforms/kubernetes/helper-stop.js'
import {FakeKubeApi, workloadPod} from '../helpers/fake-kube-api.js'
import {exitStatus, internalErrorStatus, successStatus} from '../helpers/fake-kube-exec.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
let fake: FakeKubeApi
const ca = () => Buffer.from(JSON.parse(fake.kubeconfig()).clusters[0].cluster['certificate-authority-data'], 'base64')
const EXEC = '/api/v1/namespaces/shop/pods/web-0/exec?command=true&stdout=true&stderr=true'

/** A WebSocket exec: the HTTP refusal (status, body) or the messages received until the server closes. */
function wsExec(path: string, protocols: string[]): Promise<{status: number, body?: string, protocol?: string, messages: Buffer[]}> {
  return new Promise((resolve, reject) => {
    const messages: Buffer[] = []
    const ws = new WebSocket(fake.url.replace('https', 'wss') + path, protocols, {ca: ca()})
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => {
        resolve({status: res.statusCode!, body, messages})
        ws.terminate()
      })
    })
    ws.on('error', () => undefined)
    ws.on('message', (data: Buffer) => messages.push(data))
    ws.on('close', () => resolve({status: 101, protocol: ws.protocol, messages}))
    setTimeout(() => reject(new Error('no answer')), 10_000)
  })
}

beforeAll(async () => {
  fake = new FakeKubeApi()
  await fake.start()
  fake.addNamespace('shop')
  await fake.addPod(workloadPod({name: 'web-0', namespace: 'shop', port: 1}))
})

afterAll(async () => {
  await fake.stop()
})

describe('fake kube-apiserver: exec over WebSocket, without a runtime', () => {
  it('a pod, a container or a subprotocol it cannot serve is refused before the upgrade, with a Status', async () => {
    const cases = [
      {path: EXEC.replace('web-0', 'nope'), protocols: ['v5.channel.k8s.io'], status: 404, message: 'pods "nope" not found', reason: 'NotFound'},
      {path: `${EXEC}&container=db`, protocols: ['v5.channel.k8s.io'], status: 400, message: 'container db is not valid for pod web-0', reason: 'BadRequest'},
      {path: EXEC, protocols: ['v3.channel.k8s.io', 'channel.k8s.io'], status: 400, message: 'the fake API server speaks only v5.channel.k8s.io, v4.channel.k8s.io', reason: 'BadRequest'},
    ]
    for (const c of cases) {
      const answer = await wsExec(c.path, c.protocols)
      expect(answer.status).toBe(c.status)
      const body = JSON.parse(answer.body!)
      expect(body).toMatchObject({kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: c.reason, code: c.status})
      expect(body.message).toContain(c.message)
      expect(() => new Status(body).validate()).not.toThrow()
    }
  })

  it('a plain GET (no Upgrade header) is 400 Upgrade request required', async () => {
    const answer = await new Promise<{status: number, json: any}>((resolve, reject) => {
      const req = request(new URL(EXEC, fake.url), {ca: ca()}, (res) => {
        let text = ''
        res.on('data', (d) => { text += d })
        res.on('end', () => resolve({status: res.statusCode!, json: JSON.parse(text)}))
      })
      req.on('error', reject)
      req.end()
    })
    expect(answer.status).toBe(400)
    expect(answer.json).toMatchObject({kind: 'Status', reason: 'BadRequest', message: 'Upgrade request required'})
  })

  it('v5: upgraded, then the kubelet\'s "container not found" as an InternalError Status on channel 3', async () => {
    const answer = await wsExec(EXEC, ['v5.channel.k8s.io', 'v4.channel.k8s.io'])
    expect(answer.status).toBe(101)
    expect(answer.protocol).toBe('v5.channel.k8s.io')
    // the empty message on stdout that announces the stream, then the status
    expect(answer.messages[0]).toEqual(Buffer.from([1]))
    expect(answer.messages[1][0]).toBe(3)
    const status = JSON.parse(answer.messages[1].subarray(1).toString())
    expect(status).toEqual(internalErrorStatus('unable to upgrade connection: container not found ("app")'))
    expect(() => new Status(status).validate()).not.toThrow()
    expect(() => exitCodeOf(status)).toThrow(/Internal error occurred: unable to upgrade connection: container not found \("app"\)/)
  })

  it('v4: the kubelet\'s own WebSocket server refuses with HTTP 500 and its text', async () => {
    const answer = await wsExec(EXEC, ['v4.channel.k8s.io'])
    expect(answer).toMatchObject({status: 500, body: 'container not found ("app")'})
  })

  it('the get and the create check are both recorded, and RBAC refuses each in the apiserver\'s words', async () => {
    fake.requests.length = 0
    await wsExec(EXEC, ['v5.channel.k8s.io'])
    expect(fake.requests.map((r) => `${r.method} ${r.verb} ${r.resource}/${r.subresource} ${r.status}`)).toEqual(['GET get pods/exec 101', 'GET create pods/exec 101'])
    const strict = new FakeKubeApi({allow: ['get pods/exec'], user: 'alice'})
    const previous = fake
    try {
      await strict.start()
      strict.addNamespace('shop')
      await strict.addPod(workloadPod({name: 'web-0', namespace: 'shop', port: 1}))
      fake = strict
      const compound = await wsExec(EXEC, ['v5.channel.k8s.io'])
      expect(compound.status).toBe(403)
      const body = JSON.parse(compound.body!)
      // apierrors.NewForbidden with RBAC's (empty) reason
      expect(body).toEqual({kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "web-0" is forbidden: ', reason: 'Forbidden', details: {name: 'web-0', kind: 'pods'}, code: 403})
      expect(() => new Status(body).validate()).not.toThrow()
    } finally {
      fake = previous
      await strict.stop()
    }
  })
})

describe('the status channel', () => {
  it('Success is exit 0, NonZeroExitCode carries the code, as the kubelet writes them', () => {
    expect(JSON.stringify(successStatus())).toBe('{"metadata":{},"status":"Success"}')
    expect(JSON.stringify(exitStatus(['sh', '-c', 'exit 3'], 3))).toBe('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')
    expect(exitCodeOf(successStatus())).toBe(0)
    expect(exitCodeOf(exitStatus(['false'], 1))).toBe(1)
    expect(exitCodeOf(exitStatus(['x'], 137))).toBe(137)
    expect(() => exitCodeOf({status: 'Failure', reason: 'NonZeroExitCode', details: {causes: []}})).toThrow(ExecError)
  })
})

describe('helper-stop: which processes are a run\'s helper', () => {
  const run = 'a1b2c3d4'
  const helper = ['/usr/local/bin/node', '/app/bin/run.js', 'k8s', 'helper', '--run', run, '--kind', 'cpu', '--params', '{"workers":1,"loadPerWorker":0.5}', '--deadline', '1700000000000']

  it('reads --run and --kind after "k8s helper", in either flag form', () => {
    expect(helperRunOf(helper)).toEqual({run, kind: 'cpu'})
    expect(helperRunOf(['chaos', 'k8s', 'helper', `--run=${run}`, '--kind=memory'])).toEqual({run, kind: 'memory'})
  })

  it('takes nothing else: helper-stop itself, a shell that names a helper, a bare "k8s helper", a helper without --run', () => {
    expect(helperRunOf(['node', '/app/bin/run.js', 'k8s', 'helper-stop', '--run', run])).toBeUndefined()
    expect(helperRunOf(['sh', '-c', `chaos k8s helper --run ${run}`])).toBeUndefined()
    expect(helperRunOf(['k8s', 'helper', '--run', run])).toBeUndefined()
    expect(helperRunOf(['node', 'run.js', 'k8s', 'helper', '--kind', 'cpu'])).toBeUndefined()
    expect(helperRunOf(['node', 'dist/stressors/main.js', 'cpu', '--run', run])).toBeUndefined()
  })

  it('finds the helpers of that run only, PID 1 included when it is one', () => {
    const proc = mkdtempSync(join(tmpdir(), 'chaos-proc-'))
    try {
      const add = (pid: number, argv: string[]) => {
        mkdirSync(join(proc, String(pid)))
        writeFileSync(join(proc, String(pid), 'cmdline'), argv.length ? `${argv.join('\0')}\0` : '')
      }
      add(1, helper)
      add(7, ['sleep', '3600']) // the target's own process
      add(8, helper.map((a) => (a === run ? 'other' : a)))
      add(9, [...helper.slice(0, 7), 'memory', ...helper.slice(8)])
      add(10, []) // a kernel thread
      mkdirSync(join(proc, 'self'))
      expect(findHelpers(run, {proc})).toEqual([{pid: 1, kind: 'cpu'}, {pid: 9, kind: 'memory'}])
      expect(findHelpers(run, {proc, kind: 'memory'})).toEqual([{pid: 9, kind: 'memory'}])
      expect(findHelpers('nobody', {proc})).toEqual([])
    } finally {
      rmSync(proc, {recursive: true, force: true})
    }
  })
})
