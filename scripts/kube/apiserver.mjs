// A real kube-apiserver and etcd on loopback, from the binaries scripts/kube/build.sh builds from the Go module proxy
// (cached per version; about 13 minutes cold on 2 cores, under a second warm). Throw-away certificates from openssl:
// client-certificate authentication for an admin (O=system:masters), ServiceAccount tokens from the real
// TokenRequest API, RBAC authorization. No kubelet, scheduler or controller-manager runs: pods are stored, validated
// and defaulted by the real server and stay Pending. Plain JavaScript, so that the tests (test/helpers/kube-apiserver.ts)
// and the benchmarks (test/bench/k8s-select.js --real) share it; its types are in apiserver.d.mts.
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request as httpsRequest} from 'node:https'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))

/** Builds (or reuses) the binaries; their paths, from build.sh's KEY=path lines. */
export function buildKubeBinaries() {
  const out = execFileSync('bash', [join(HERE, 'build.sh')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 40 * 60_000})
  const value = (key) => {
    const line = out.split('\n').find((l) => l.startsWith(`${key}=`))
    if (!line) throw new Error(`scripts/kube/build.sh printed no ${key}= line:\n${out}`)
    return line.slice(key.length + 1).trim()
  }
  return {apiserver: value('KUBE_APISERVER'), etcd: value('ETCD')}
}

const freePort = () => new Promise((resolve, reject) => {
  const server = createServer().once('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const {port} = server.address()
    server.close(() => resolve(port))
  })
})

/** A CA, the server's certificate for 127.0.0.1, the admin's client certificate and the ServiceAccount signing key. */
function certificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'})
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=chaos-test-ca')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver')
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.crt')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'admin.key', '-out', 'admin.csr', '-subj', '/O=system:masters/CN=chaos-test-admin')
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  openssl('x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'client.ext', '-out', 'admin.crt')
  // the apiserver's identity towards kubelets (logs, exec): the test node agent (test/helpers/node-agent.ts) admits
  // only certificates of this CA
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'kubelet-client.key', '-out', 'kubelet-client.csr', '-subj', '/O=system:masters/CN=kube-apiserver-kubelet-client')
  openssl('x509', '-req', '-in', 'kubelet-client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'client.ext', '-out', 'kubelet-client.crt')
  openssl('genrsa', '-out', 'sa.key', '2048')
  openssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub')
}

/** SIGTERM, then SIGKILL after 10 s. */
async function stopChild(child) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

export async function startRealApiServer() {
  const bin = buildKubeBinaries()
  const dir = mkdtempSync(join(tmpdir(), 'chaos-apiserver-'))
  let ports
  try {
    certificates(dir)
    ports = [await freePort(), await freePort(), await freePort()]
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
  const [etcdPort, peerPort, port] = ports
  const etcd = spawn(bin.etcd, [
    '--name', 'test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`, '--log-level', 'warn',
  ], {stdio: 'ignore'})
  // the audit log of what ServiceAccounts did (who, which verb on what, the answer): a test reads from it what the
  // toolkit asked the server under its own identity, in a pod or outside one
  writeFileSync(join(dir, 'audit-policy.yaml'), [
    'apiVersion: audit.k8s.io/v1', 'kind: Policy', 'omitStages: [RequestReceived, ResponseStarted]', 'rules:',
    '  - level: Metadata', '    userGroups: ["system:serviceaccounts"]', '  - level: None', '',
  ].join('\n'))
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
    // as clusters run it (kubeadm's default): the toolkit's helper pod is privileged
    '--allow-privileged=true',
    // how it reaches a node's kubelet (here the test node agent): by the node's InternalIP, with a client
    // certificate, verifying the kubelet's serving certificate against the test CA
    `--kubelet-client-certificate=${dir}/kubelet-client.crt`, `--kubelet-client-key=${dir}/kubelet-client.key`,
    `--kubelet-certificate-authority=${dir}/ca.crt`, '--kubelet-preferred-address-types=InternalIP',
    `--audit-policy-file=${dir}/audit-policy.yaml`, `--audit-log-path=${dir}/audit.log`,
  ], {stdio: ['ignore', 'ignore', 'pipe']})
  apiserver.stderr.on('data', (chunk) => {
    log = (log + chunk.toString()).slice(-20_000)
  })
  // a binary that cannot be started is an exit like any other: the wait below reports it with the log
  let failedToStart
  for (const child of [etcd, apiserver]) child.once('error', (error) => { failedToStart ??= error })
  const url = `https://127.0.0.1:${port}`
  const ca = readFileSync(join(dir, 'ca.crt'))
  const cert = readFileSync(join(dir, 'admin.crt'))
  const key = readFileSync(join(dir, 'admin.key'))

  const request = (method, path, body, options = {}) => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers = {accept: 'application/json'}
    if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json'
    if (options.token) headers.authorization = `Bearer ${options.token}`
    const req = httpsRequest(`${url}${path}`, {method, ca, headers, ...(options.token ? {} : {cert, key})}, (res) => {
      let text = ''
      res.on('data', (chunk) => { text += chunk.toString() })
      res.on('end', () => {
        let parsed = text
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
    await stopChild(apiserver)
    await stopChild(etcd)
    rmSync(dir, {recursive: true, force: true})
  }

  const started = Date.now()
  for (;;) {
    if (failedToStart || apiserver.exitCode !== null || etcd.exitCode !== null) {
      await stop()
      throw new Error(`${failedToStart ? `could not start: ${failedToStart.message}` : `kube-apiserver exited (${apiserver.exitCode}), etcd (${etcd.exitCode})`}:\n${log.slice(-3000)}`)
    }
    const ready = await request('GET', '/readyz').catch(() => undefined)
    if (ready?.status === 200) break
    if (Date.now() - started > 120_000) {
      await stop()
      throw new Error(`kube-apiserver not ready after 120 s:\n${log.slice(-3000)}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }

  const kubeconfig = (name, user) => {
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
      return res.body.status.token
    },
    tokenKubeconfig: (token, name) => kubeconfig(name, {token}),
    /**
     * A namespace with what the controller-manager (not run here) would add to it: its default ServiceAccount
     * (admission refuses pods without it) and the kube-root-ca.crt ConfigMap (the CA a pod's service account volume
     * holds; a kubelet does not start a pod whose volume it cannot fill)
     */
    async createNamespace(name) {
      for (const [path, body] of [
        ['/api/v1/namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name}}],
        [`/api/v1/namespaces/${name}/serviceaccounts`, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'default'}}],
        [`/api/v1/namespaces/${name}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'kube-root-ca.crt'}, data: {'ca.crt': ca.toString()}}],
      ]) {
        const res = await request('POST', path, body)
        if (res.status !== 201) throw new Error(`POST ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
      }
    },
    /**
     * A certificate of the test CA: a client's (subject as /O=group/CN=name), or a server's for 127.0.0.1 (server:
     * true). A node's own identity (/O=system:nodes/CN=system:node:NAME) is one the Node authorizer knows.
     */
    issueCertificate(name, subject, {server = false} = {}) {
      const openssl = (...args) => execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'})
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
      writeFileSync(join(dir, `${name}.ext`), server ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n')
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`)
      return {cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`)}
    },
    /** the audit events of ServiceAccounts' requests so far (level Metadata: who, verb, objectRef, responseStatus) */
    auditEvents() {
      let text = ''
      try {
        text = readFileSync(join(dir, 'audit.log'), 'utf8')
      } catch {
        return []
      }
      return text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line))
    },
    logTail: () => log.slice(-3000),
    stop,
  }
}
