// Exec over WebSocket, as `kubectl exec` does: GET .../pods/{name}/exec?command=..&container=.. upgraded to a
// WebSocket speaking v5.channel.k8s.io (Kubernetes 1.30+) or v4.channel.k8s.io. Each binary message starts with its
// channel: 1 stdout, 2 stderr, 3 the command's fate as a meta/v1 Status ({status: Success}, or reason
// NonZeroExitCode with the code in details.causes[reason=ExitCode]). client-node's Exec speaks the channels; the
// connection is opened here (one WebSocketInterface) so that a refusal's Status body is read rather than lost, and
// only v5/v4 are offered (their channel 3 is JSON; client-node's own handler also offers v1-v3, whose is not).
//
// RBAC: the upgrade is a GET, authorized as "get pods/exec"; since Kubernetes 1.35 (AuthorizePodWebsocketUpgrade-
// CreatePermission, on by default) the apiserver also requires "create pods/exec". A Role needs both (rbac.ts).
import {STATUS_CODES} from 'node:http'
import {Writable} from 'node:stream'

import type {Cluster} from './client.js'

type WebSocket = import('ws').WebSocket
type V1Status = import('@kubernetes/client-node').V1Status

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io']

export interface ExecRequest {
  namespace: string
  pod: string
  /** a container or an ephemeral container of the pod */
  container: string
  command: string[]
  /** for the whole exec, connection included; default the cluster's request timeout */
  timeoutMs?: number
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** A failed exec: refused (code: the HTTP status, reason: the Status reason), broken, or timed out. */
export class ExecError extends Error {
  constructor(message: string, readonly code?: number, readonly reason?: string) {
    super(message)
    this.name = 'ExecError'
  }
}

/** Runs a command in a container and resolves with its exit code and output once the status channel reports. */
export async function execInContainer(cluster: Pick<Cluster, 'k8s' | 'kc' | 'timeoutMs'>, request: ExecRequest): Promise<ExecResult> {
  const {WebSocket} = await import('ws')
  const {namespace, pod, container} = request
  const where = `exec in pod ${namespace}/${pod}, container ${container}`
  const timeoutMs = request.timeoutMs ?? cluster.timeoutMs
  let socket: WebSocket | undefined

  const handler = {
    async connect(path: string, textHandler: ((text: string) => boolean) | null, binaryHandler: ((stream: number, buff: Buffer) => boolean) | null): Promise<WebSocket> {
      const server = cluster.kc.getCurrentCluster()?.server
      if (!server) throw new ExecError(`${where}: the kubeconfig's current context names no cluster`)
      const opts: import('ws').ClientOptions = {}
      await cluster.kc.applyToHTTPSOptions(opts)
      return new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(server.replace(/^http/, 'ws').replace(/\/$/, '') + path, EXEC_PROTOCOLS, {...opts, handshakeTimeout: timeoutMs, perMessageDeflate: false})
        socket = ws
        ws.on('unexpected-response', (req, res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => { body += d })
          res.on('end', () => {
            reject(refusal(request, where, res.statusCode ?? 0, body))
            ws.terminate()
          })
        })
        ws.on('error', (error) => reject(new ExecError(`${where}: ${error.message}`)))
        ws.on('open', () => resolve(ws))
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          let keep = true
          try {
            if (!isBinary) keep = textHandler ? textHandler(data.toString()) : true
            // channel 255 (v5 close) carries nothing for us; everything else goes to client-node's demultiplexer
            else if (data.length > 0 && data[0] !== 255) keep = binaryHandler ? binaryHandler(data[0], data.subarray(1)) : true
          } catch (error) {
            ws.emit('error', new Error(`unreadable message on channel ${data[0]}: ${(error as Error).message}`))
            keep = false
          }
          if (!keep) ws.close()
        })
      })
    },
  }

  const stdout = collector()
  const stderr = collector()
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<ExecResult>((resolve, reject) => {
      let status: V1Status | undefined
      timer = setTimeout(() => {
        socket?.terminate()
        reject(new ExecError(`${where}: no exit status within ${timeoutMs / 1000}s`))
      }, timeoutMs)
      const exec = new cluster.k8s.Exec(cluster.kc, handler)
      exec.exec(namespace, pod, container, request.command, stdout.stream, stderr.stream, null, false, (s) => {
        status = s
        try {
          resolve({exitCode: exitCodeOf(s, where), stdout: stdout.text(), stderr: stderr.text()})
        } catch (error) {
          reject(error)
        }
      }).then((ws) => {
        ws.on('error', (error) => reject(new ExecError(`${where}: ${error.message}`)))
        ws.on('close', () => {
          if (!status) reject(new ExecError(`${where}: the connection closed before the command's exit status arrived`))
        })
      }, (error: unknown) => reject(error instanceof ExecError ? error : new ExecError(`${where}: ${(error as Error)?.message ?? String(error)}`)))
    })
  } finally {
    clearTimeout(timer)
  }
}

/** The exit code a status reports; an error for a status that is not about the command's exit (e.g. InternalError). */
export function exitCodeOf(status: V1Status, where = 'exec'): number {
  if (status.status === 'Success') return 0
  if (status.reason === 'NonZeroExitCode') {
    const code = Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message)
    if (Number.isInteger(code)) return code
  }
  throw new ExecError(`${where}: ${status.message ?? JSON.stringify(status)}`, status.code, status.reason)
}

/** The error for an HTTP answer instead of the upgrade, with the API server's words. */
function refusal(request: ExecRequest, where: string, code: number, body: string): ExecError {
  let status: {message?: string, reason?: string} = {}
  try {
    status = JSON.parse(body) as typeof status
  } catch {
    status = {message: body.trim()}
  }
  const said = status.message || STATUS_CODES[code] || ''
  if (code === 403) {
    // the authorization filter names the verb it checked; the 1.35+ compound check (create) names none
    const verb = /cannot (\w+) resource "pods\/exec"/.exec(said)?.[1] ?? 'create'
    return new ExecError(`${where}: forbidden by RBAC: this identity may not "${verb} pods/exec" in namespace ${request.namespace}. ` +
      `Exec over WebSocket needs "get pods/exec" and, since Kubernetes 1.35, "create pods/exec" (chaos k8s manifests grants both). The API server said: ${said}`, 403, status.reason ?? 'Forbidden')
  }
  if (code === 404) return new ExecError(`${where}: not found (404): ${said}`, 404, status.reason ?? 'NotFound')
  return new ExecError(`${where}: the API server refused it (${code} ${status.reason ?? STATUS_CODES[code] ?? ''}): ${said}`, code, status.reason)
}

function collector(): {stream: Writable, text: () => string} {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk))
      callback()
    },
  })
  return {stream, text: () => Buffer.concat(chunks).toString('utf8')}
}
