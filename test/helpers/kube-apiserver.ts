// A real kube-apiserver and etcd for the tests (scripts/kube/apiserver.mjs, shared with the benchmarks): built from
// the Go module proxy by scripts/kube/build.sh, on loopback, with real authentication and RBAC; no kubelet.
import {startRealApiServer as start, type RealApiServer} from '../../scripts/kube/apiserver.mjs'
import {requireTool} from './tools.js'

export type {ApiResponse, AuditEvent, RealApiServer} from '../../scripts/kube/apiserver.mjs'

export function startRealApiServer(): Promise<RealApiServer> {
  requireTool('openssl', 'openssl')
  return start()
}
