// Exec over WebSocket for the fake Kubernetes API server (fake-kube-api.ts): the `'upgrade'` side of
// GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=..&container=..&stdin=..&stdout=..&stderr=..&tty=..
//
// What a real kube-apiserver does, in its order, and what this file copies:
// 1. The authorization filter authorizes the request from its HTTP method: a WebSocket upgrade is a GET, so the verb
//    is `get` on pods/exec (SPDY's POST is `create`). Denied: 403 and the usual Forbidden message.
// 2. Since Kubernetes 1.35 (feature gate AuthorizePodWebsocketUpgradeCreatePermission, beta, on by default) the pod
//    registry's ExecREST.Connect also asks the authorizer for `create` on pods/exec (ensureAuthorizedForVerb in
//    pkg/registry/core/pod/rest); denied: 403 `pods "NAME" is forbidden: REASON`, where RBAC gives no reason.
//    So both checks are recorded in `fake.requests` (a `get` and a `create` record for one request), as both are
//    what the real authorizer sees.
// 3. streamLocation: the pod (404 `pods "x" not found`), the container (400 `container x is not valid for pod y`,
//    or `a container name must be specified for pod y, choose one of: [a b]`), the node (400 `pod y does not have
//    a host assigned`).
// 4. The stream itself. With v5.channel.k8s.io the apiserver upgrades the connection itself and translates to the
//    kubelet (StreamTranslatorHandler); kubelet errors then arrive in-band as a Status on channel 3, e.g. a container
//    that is not running: `Internal error occurred: unable to upgrade connection: container not found ("x")` (500,
//    InternalError). With v4.channel.k8s.io the apiserver proxies the kubelet's own WebSocket server, whose refusal
//    is the HTTP answer: 500, text `container not found ("x")`.
//
// Channels (one leading byte per binary message): 0 stdin, 1 stdout, 2 stderr, 3 error (a meta/v1 Status as JSON
// from v4 on), 4 resize; v5 adds 255 close, which a client sends as [255, 0] when its stdin ends. The server first
// sends an empty message on the lowest writable channel (stdout, else stderr, else error), and the Status on channel
// 3 when the command ends, then closes. It sends no 255 frames itself (nor does the real one).
//
// With `runtime: true` the command runs as a local process in the container's cgroup (and the pod's network
// namespace when it has one), like the fake kubelet's containers: `chaos ...` runs this checkout's bin/run.js. An
// ephemeral container can be exec'd into while it runs. Without the runtime there is no container process at all,
// so every container answers as one that is not running (point 4). Approximations, all of the fake's own: only v5
// and v4 are spoken (v1-v3 and base64 are refused with 400); tty=true merges stderr into stdout but allocates no
// terminal and ignores resize messages; a command that cannot be executed exits 127 (sh's "not found") rather than
// failing as runc does; a client that goes away leaves its command running, as containerd does, until the container
// (its cgroup) is stopped.
import {type ChildProcess, spawn} from 'node:child_process'
import {STATUS_CODES, type IncomingMessage} from 'node:http'
import {constants} from 'node:os'
import {dirname, join} from 'node:path'
import type {Duplex} from 'node:stream'
import {fileURLToPath} from 'node:url'

import {type WebSocket, WebSocketServer} from 'ws'

import type {FakeKubeApi, RequestRecord} from './fake-kube-api.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The subprotocols spoken, best first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io']

export const CHANNEL = {stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255} as const

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

interface Session {
  ws: WebSocket
  child: ChildProcess
}

// keyed by what serves the exec: the fake API server, or the test node agent (node-agent.ts), which speaks the same
// protocol as a kubelet does to an API server that proxies WebSocket exec to it
const sessions = new WeakMap<object, Set<Session>>()
const servers = new WeakMap<object, WebSocketServer>()

/** meta/v1 Status of a command that exited 0, as the kubelet (and the apiserver's translator) marshal it. */
export function successStatus(): Json {
  return {metadata: {}, status: 'Success'}
}

/** meta/v1 Status of a command that exited non-zero (remotecommand.ServeExec). */
export function exitStatus(command: string[], code: number): Json {
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode', details: {causes: [{reason: 'ExitCode', message: String(code)}]},
  }
}

/** apierrors.NewInternalError, as marshalled on channel 3. */
export function internalErrorStatus(message: string): Json {
  return {metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', details: {causes: [{message}]}, code: 500}
}

/** Closes every exec session of this server and kills its commands (called by FakeKubeApi.stop, TestNodeAgent.stop). */
export function closeExecSessions(fake: object): void {
  for (const s of sessions.get(fake) ?? []) {
    s.ws.terminate()
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
  }
  sessions.get(fake)?.clear()
  servers.get(fake)?.close()
  servers.delete(fake)
}

/** The https server's 'upgrade' listener. */
export function handleExecUpgrade(fake: FakeKubeApi, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => undefined)
  try {
    upgrade(fake, req, socket, head)
  } catch (error) {
    refuse(socket, 500, statusObject(500, 'InternalError', (error as Error).message))
  }
}

function statusObject(code: number, reason: string, message: string, details?: Json): Json {
  return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? {details} : {}), code}
}

/** An HTTP answer instead of the upgrade; the connection is closed after it. */
export function refuse(socket: Duplex, code: number, body: Json | string, records: {status: number}[] = []): void {
  for (const r of records) r.status = code
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'
  socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`)
}

const flag = (q: URLSearchParams, name: string) => ['true', '1'].includes((q.get(name) ?? '').toLowerCase())

function upgrade(fake: FakeKubeApi, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const q = url.searchParams
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname)
  const method = req.method ?? 'GET'
  if (!m) {
    fake.requests.push({method, path: url.pathname, verb: method === 'GET' ? 'get' : 'create', group: '', resource: '', status: 404})
    return refuse(socket, 404, statusObject(404, 'NotFound', 'the server could not find the requested resource'))
  }
  const [namespace, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])]
  // 1. the authorization filter: the verb of the HTTP method
  const record: RequestRecord = {method, path: url.pathname, verb: method === 'GET' ? 'get' : 'create', group: '', resource: 'pods', subresource: 'exec', namespace, name, status: 0}
  fake.requests.push(record)
  const records = [record]
  const denied = fake.forbidden(record)
  if (denied) return refuse(socket, 403, denied, records)
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return refuse(socket, 400, statusObject(400, 'BadRequest', `the fake API server speaks exec over WebSocket only, not ${req.headers.upgrade}`), records)
  }
  // 2. the compound authorization of the WebSocket upgrade (1.35+): create pods/exec as well
  if (record.verb !== 'create') {
    const create: RequestRecord = {...record, verb: 'create'}
    fake.requests.push(create)
    records.push(create)
    if (fake.forbidden(create)) return refuse(socket, 403, statusObject(403, 'Forbidden', `pods "${name}" is forbidden: `, {name, kind: 'pods'}), records)
  }
  // 3. the pod, the container, the node
  const pod = fake.getPod(namespace, name)
  if (!pod) return refuse(socket, 404, statusObject(404, 'NotFound', `pods "${name}" not found`, {name, kind: 'pods'}), records)
  const all: Json[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])]
  let container = q.get('container') ?? ''
  if (!container) {
    if (pod.spec.containers.length === 1) container = pod.spec.containers[0].name
    else return refuse(socket, 400, statusObject(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${all.map((c) => c.name).join(' ')}]`), records)
  } else if (!all.some((c) => c.name === container)) {
    return refuse(socket, 400, statusObject(400, 'BadRequest', `container ${container} is not valid for pod ${name}`), records)
  }
  if (!pod.spec.nodeName) return refuse(socket, 400, statusObject(400, 'BadRequest', `pod ${name} does not have a host assigned`), records)
  const command = q.getAll('command')
  const streams = {stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr'), tty: flag(q, 'tty')}
  if (!streams.stdin && !streams.stdout && !streams.stderr) return refuse(socket, 400, statusObject(400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr'), records)
  if (command.length === 0) return refuse(socket, 400, statusObject(400, 'BadRequest', 'the fake API server needs a command to exec (command=...)'), records)
  // 4. the stream
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean)
  const protocol = offered.find((p) => EXEC_PROTOCOLS.includes(p))
  if (!protocol) return refuse(socket, 400, statusObject(400, 'BadRequest', `the fake API server speaks only ${EXEC_PROTOCOLS.join(', ')}; the client offered: ${offered.join(', ') || 'none'}`), records)
  const running = fake.options.runtime ? fake.runningContainer(namespace, name, container) : undefined
  const notFound = `container not found (${JSON.stringify(container)})`
  // the kubelet's own WebSocket server (v4) refuses before it upgrades
  if (!running && protocol !== 'v5.channel.k8s.io') return refuse(socket, 500, notFound, records)
  for (const r of records) r.status = 101
  execServer(fake).handleUpgrade(req, socket, head, (ws) => {
    const first = streams.stdout ? CHANNEL.stdout : streams.stderr ? CHANNEL.stderr : CHANNEL.error
    ws.send(Buffer.from([first]))
    if (!running) {
      // the apiserver's translator upgraded; the kubelet refused; the refusal comes in-band
      sendStatus(ws, internalErrorStatus(`unable to upgrade connection: ${notFound}`))
      return
    }
    const spec = all.find((c) => c.name === container)
    startSession(fake, ws, {command, ...streams, cgroupDirs: running.cgroupDirs, netns: fake.netnsOf(namespace, name), env: spec?.env ?? []})
  })
}

/** The WebSocket server of this owner's exec sessions (it speaks EXEC_PROTOCOLS only). */
export function execServer(owner: object): WebSocketServer {
  let wss = servers.get(owner)
  if (!wss) {
    wss = new WebSocketServer({noServer: true, perMessageDeflate: false, handleProtocols: (protocols) => [...protocols].find((p) => EXEC_PROTOCOLS.includes(p)) ?? false})
    servers.set(owner, wss)
  }
  return wss
}

function sendStatus(ws: WebSocket, status: Json): void {
  ws.send(Buffer.concat([Buffer.from([CHANNEL.error]), Buffer.from(JSON.stringify(status))]), () => ws.close(1000))
}

export interface ExecSpec {
  command: string[]
  stdin: boolean
  stdout: boolean
  stderr: boolean
  tty: boolean
  cgroupDirs: string[]
  netns?: string
  env: {name: string, value?: string}[]
}

/** Runs the command in the container's cgroup (and network namespace) and streams it over the channels. */
export function startSession(fake: object, ws: WebSocket, spec: ExecSpec): void {
  const argv = spec.command[0] === 'chaos' ? [process.execPath, join(REPO, 'bin', 'run.js'), ...spec.command.slice(1)] : spec.command
  const inPod = spec.netns ? ['ip', 'netns', 'exec', spec.netns, ...argv] : argv
  const env = {...process.env, ...Object.fromEntries(spec.env.map((e) => [e.name, e.value ?? '']))}
  // joins the container's cgroup before exec, as runc does for `runc exec`
  const child = spawn('/bin/sh', ['-c', 'while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"', 'fake-runc-exec', ...spec.cgroupDirs, '--', ...inPod],
    {env, stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']})
  const session: Session = {ws, child}
  if (!sessions.has(fake)) sessions.set(fake, new Set())
  sessions.get(fake)!.add(session)
  const forward = (channel: number) => (chunk: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), chunk]))
  }
  child.stdout!.on('data', spec.stdout ? forward(CHANNEL.stdout) : () => undefined)
  // with a tty there is one output stream
  child.stderr!.on('data', spec.tty ? (spec.stdout ? forward(CHANNEL.stdout) : () => undefined) : spec.stderr ? forward(CHANNEL.stderr) : () => undefined)
  child.stdin?.on('error', () => undefined)
  child.on('error', () => undefined)
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return
    const channel = data[0]
    if (channel === CHANNEL.stdin && child.stdin?.writable) child.stdin.write(data.subarray(1))
    else if (channel === CHANNEL.close && ws.protocol === 'v5.channel.k8s.io' && data[1] === CHANNEL.stdin) child.stdin?.end()
    // CHANNEL.resize: no terminal to resize
  })
  ws.on('close', () => {
    // the command goes on (as containerd's does); its stdin ends
    child.stdin?.end()
    sessions.get(fake)?.delete(session)
  })
  ws.on('error', () => undefined)
  child.on('close', (code, signal) => {
    sessions.get(fake)?.delete(session)
    if (ws.readyState !== ws.OPEN) return
    const exitCode = code ?? 128 + signalNumber(signal)
    sendStatus(ws, exitCode === 0 ? successStatus() : exitStatus(spec.command, exitCode))
  })
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] ?? 0 : 0
}
