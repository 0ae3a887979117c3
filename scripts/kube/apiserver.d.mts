// Types of apiserver.mjs (plain JavaScript, shared by the tests and the benchmarks).
export interface ApiResponse {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** a kube-apiserver audit event (audit.k8s.io/v1 Event), the fields the tests read */
export interface AuditEvent {
  stage: string
  verb: string
  requestURI: string
  user: {username: string, groups?: string[], extra?: Record<string, string[]>}
  objectRef?: {resource?: string, subresource?: string, namespace?: string, name?: string, apiGroup?: string}
  responseStatus?: {code?: number}
}

export interface RealApiServer {
  url: string
  /** the server's CA certificate file */
  caFile: string
  /** a kubeconfig that authenticates as the admin (client certificate, O=system:masters) */
  adminKubeconfig: string
  /** a REST call as the admin, or with a bearer token */
  request(method: string, path: string, body?: unknown, options?: {token?: string, contentType?: string}): Promise<ApiResponse>
  /** a token of this ServiceAccount from the real TokenRequest API */
  tokenFor(namespace: string, serviceAccount: string): Promise<string>
  /** a kubeconfig that authenticates with this bearer token */
  tokenKubeconfig(token: string, name: string): string
  /** a namespace, its default ServiceAccount and kube-root-ca.crt ConfigMap (what the controller-manager, not run here, would add) */
  createNamespace(name: string): Promise<void>
  /** a certificate of the test CA: a client's (subject /O=group/CN=name) or, with server, one for 127.0.0.1 */
  issueCertificate(name: string, subject: string, options?: {server?: boolean}): {cert: string, key: string}
  /** the audit events of ServiceAccounts' requests so far (level Metadata: user, verb, objectRef, responseStatus) */
  auditEvents(): AuditEvent[]
  /** the last lines of the apiserver's log, for a failing test's message */
  logTail(): string
  stop(): Promise<void>
}

export function buildKubeBinaries(): {apiserver: string, etcd: string}
export function startRealApiServer(): Promise<RealApiServer>
