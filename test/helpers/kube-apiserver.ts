// A real kube-apiserver and etcd for the tests, built from the Go module proxy by scripts/kube/build.sh (cached per
// version; about 13 minutes cold on 2 cores, under a second warm). They listen on loopback only, with throw-away
// certificates from openssl: client-certificate authentication for the test's admin (O=system:masters),
// ServiceAccount tokens from the real TokenRequest API for the toolkit, and RBAC authorization. No kubelet, no
// scheduler and no controller-manager run: a pod the tests create is stored, validated and defaulted by the real
// server, and stays Pending unless a test writes its status the way a node would.
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request as httpsRequest} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {freePort} from './prometheus-server.js'
import {terminate} from './sshd.js'
import {requireTool} from './tools.js'

export interface ApiResponse {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
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
  /** the last lines of the apiserver's log, for a failing test's message */
  logTail(): string
  stop(): Promise<void>
}

/** Builds (or reuses) the binaries; their paths, from build.sh's KEY=path lines. */
export function buildKubeBinaries(): {apiserver: string, etcd: string} {
  const out = execFileSync('bash', ['scripts/kube/build.sh'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 40 * 60_000})
  const value = (key: string) => {
    const line = out.split('\n').find((l) => l.startsWith(`${key}=`))
    if (!line) throw new Error(`scripts/kube/build.sh printed no ${key}= line:\n${out}`)
    return line.slice(key.length + 1).trim()
  }
  return {apiserver: value('KUBE_APISERVER'), etcd: value('ETCD')}
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'})
}

/** A CA, the server's certificate for 127.0.0.1, the admin's client certificate and the ServiceAccount signing key. */
function certificates(dir: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=chaos-test-ca'])
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver'])
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.crt'])
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'admin.key', '-out', 'admin.csr', '-subj', '/O=system:masters/CN=chaos-test-admin'])
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  openssl(dir, ['x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'client.ext', '-out', 'admin.crt'])
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048'])
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'])
}

export async function startRealApiServer(): Promise<RealApiServer> {
  requireTool('openssl', 'openssl')
  const bin = buildKubeBinaries()
  const dir = mkdtempSync(join(tmpdir(), 'chaos-apiserver-'))
  certificates(dir)
  const [etcdPort, peerPort, port] = [await freePort(), await freePort(), await freePort()]
  const etcd = spawn(bin.etcd, [
    '--name', 'test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`, '--log-level', 'warn',
  ], {stdio: 'ignore'})
  let log = ''
  const apiserver = spawn(bin.apiserver, [
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--tls-cert-file=${dir}/server.crt`, `--tls-private-key-file=${dir}/server.key`, `--client-ca-file=${dir}/ca.crt`,
    `--service-account-key-file=${dir}/sa.pub`, `--service-account-signing-key-file=${dir}/sa.key`,
    '--service-account-issuer=https://kubernetes.default.svc',
    '--authorization-mode=Node,RBAC', '--service-cluster-ip-range=10.0.0.0/24',
    // no controller-manager runs to reconcile the kubernetes Service's endpoints
    '--endpoint-reconciler-type=none', `--cert-dir=${dir}/certs`,
  ], {stdio: ['ignore', 'ignore', 'pipe']})
  apiserver.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000)
  })
  const url = `https://127.0.0.1:${port}`
  const ca = readFileSync(join(dir, 'ca.crt'))
  const cert = readFileSync(join(dir, 'admin.crt'))
  const key = readFileSync(join(dir, 'admin.key'))

  const request: RealApiServer['request'] = (method, path, body, options = {}) => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = {accept: 'application/json'}
    if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json'
    if (options.token) headers.authorization = `Bearer ${options.token}`
    const req = httpsRequest(`${url}${path}`, {method, ca, headers, ...(options.token ? {} : {cert, key})}, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => {
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // plain text (readyz)
        }
        resolve({status: res.statusCode ?? 0, body: parsed})
      })
    })
    req.once('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)))
    req.end(payload)
  })

  const stop = async () => {
    // the apiserver first: one whose etcd is already gone hangs in its graceful shutdown
    await terminate(apiserver, 10_000)
    await terminate(etcd, 10_000)
    rmSync(dir, {recursive: true, force: true})
  }

  const started = Date.now()
  for (;;) {
    if (apiserver.exitCode !== null) {
      await stop()
      throw new Error(`kube-apiserver exited (${apiserver.exitCode}):\n${log.slice(-3000)}`)
    }
    const ready = await request('GET', '/readyz').catch(() => undefined)
    if (ready?.status === 200) break
    if (Date.now() - started > 120_000) {
      await stop()
      throw new Error(`kube-apiserver not ready after 120 s:\n${log.slice(-3000)}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }

  const kubeconfig = (name: string, user: Record<string, string>) => {
    const file = join(dir, `${name}.kubeconfig`)
    writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': name,
      clusters: [{name: 'real', cluster: {server: url, 'certificate-authority': join(dir, 'ca.crt')}}],
      users: [{name, user}],
      contexts: [{name, context: {cluster: 'real', user: name}}],
    }))
    return file
  }

  return {
    url,
    caFile: join(dir, 'ca.crt'),
    adminKubeconfig: kubeconfig('admin', {'client-certificate': join(dir, 'admin.crt'), 'client-key': join(dir, 'admin.key')}),
    request,
    async tokenFor(namespace, serviceAccount) {
      const res = await request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {expirationSeconds: 3600}})
      if (res.status !== 201) throw new Error(`TokenRequest for ${namespace}/${serviceAccount}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.status.token as string
    },
    tokenKubeconfig: (token, name) => kubeconfig(name, {token}),
    logTail: () => log.slice(-3000),
    stop,
  }
}
