// A real OpenSSH server for the tests of platform host: Debian's /usr/sbin/sshd with its own config, host key,
// client key and known_hosts in a temp directory, listening on a free loopback port, or (netns: true) on the address
// of a network namespace of its own, a second "host" joined to this one by a veth pair. Nothing of the machine's own
// ssh setup is used or changed: not /etc/ssh, not ~/.ssh, not port 22.
//
// stop() ends the listener only. Each connection is served by a process of its own that sshd moves into a session
// of its own (setsid), so it and the commands it runs outlive the listener until their client goes (ClientAliveInterval
// notices a dead one within ~3 s): a test that needs them gone checks for that itself, as a real host would need.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {run, runOrThrow} from '../../src/host/exec.js'
import {greets, knownHostsLine, sshdConfig} from '../../scripts/loopback-sshd.js'
import {freePort} from './prometheus-server.js'
import {requireTool} from './tools.js'

// sshd re-executes itself for every connection, which it refuses to do unless started by an absolute path
const SSHD = '/usr/sbin/sshd'
// sshd's privilege-separation directory: compiled in, not configurable, and created by Debian's init script or systemd
// unit, neither of which starts this sshd
const PRIVSEP_DIR = '/run/sshd'

export {knownHostsLine}

export interface SshHost {
  /** where sshd listens: 127.0.0.1, or the namespace's end of the veth pair (10.213.X.2) */
  address: string
  port: number
  user: string
  /** the client's private key (ed25519, no passphrase); its public half is the only authorized key */
  identityFile: string
  /** one line, `[address]:port ssh-ed25519 AAAA...`, in OpenSSH's known_hosts format */
  knownHosts: string
  /** the host key's, as `ssh-keygen -lf` prints it: SHA256:... */
  hostKeyFingerprint: string
  /** the temp directory with the keys, config and pid file; removed by stop() */
  dir: string
  /** the listening sshd */
  pid: number
  /** the network namespace sshd runs in (netns: true), removed by stop() with its veth pair */
  netns?: string
  /** Ends the listener (not the sessions, see above), removes the namespace and the directory. Idempotent. */
  stop(): Promise<void>
}

export async function startSshd(options: {netns?: boolean} = {}): Promise<SshHost> {
  requireTool(SSHD, 'openssh-server')
  requireTool('ssh-keygen', 'openssh-client')
  // setpriv: the listener dies with the test process, so a crashed test leaves no root-login sshd behind
  requireTool('setpriv', 'util-linux')
  if (options.netns) requireTool('ip', 'iproute2')
  // sshd must be root to log in as root (and to switch users at all); network namespaces need root too
  if (process.getuid?.() !== 0) throw new Error('startSshd needs root: sshd logs its clients in as root')
  mkdirSync(PRIVSEP_DIR, {recursive: true, mode: 0o755})

  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-sshd-'))
  let namespace: Namespace | undefined
  try {
    const hostKey = path.join(dir, 'host_ed25519')
    const clientKey = path.join(dir, 'id_ed25519')
    await generateKey(hostKey, 'csshd-test-host')
    await generateKey(clientKey, 'csshd-test-client')
    const authorizedKeys = path.join(dir, 'authorized_keys')
    writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), {mode: 0o600})
    const hostKeyFingerprint = await fingerprint(`${hostKey}.pub`)

    if (options.netns) namespace = await createNamespace()
    const address = namespace?.address ?? '127.0.0.1'
    const {child, port} = await listen(dir, address, hostKey, authorizedKeys, namespace?.name)

    const knownHosts = path.join(dir, 'known_hosts')
    writeFileSync(knownHosts, knownHostsLine(address, port, readFileSync(`${hostKey}.pub`, 'utf8')))

    let stopping: Promise<void> | undefined
    return {
      address, port, user: 'root', identityFile: clientKey, knownHosts, hostKeyFingerprint, dir, pid: child.pid!,
      netns: namespace?.name,
      stop: () => (stopping ??= (async () => {
        await terminate(child)
        if (namespace) await removeNamespace(namespace)
        rmSync(dir, {recursive: true, force: true})
      })()),
    }
  } catch (error) {
    if (namespace) await removeNamespace(namespace)
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
}

/** A new ed25519 key pair, `file` and `file.pub`, without a passphrase: e.g. a client key sshd was never told of. */
export async function generateKey(file: string, comment = 'chaos-test'): Promise<void> {
  requireTool('ssh-keygen', 'openssh-client')
  await runOrThrow('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])
}

/**
 * Runs `command` on the host with the ssh client, for a test's own checks (never through the code under test).
 * Only the host's files decide: no ~/.ssh/config, no agent, no default keys, no prompt.
 */
export async function sshExec(host: SshHost, command: string): Promise<{code: number | null, stdout: string, stderr: string}> {
  requireTool('ssh', 'openssh-client')
  const args = [
    '-F', 'none',
    '-i', host.identityFile, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none',
    '-o', `UserKnownHostsFile=${host.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10',
    '-p', String(host.port), `${host.user}@${host.address}`, command,
  ]
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({code, stdout, stderr}))
  })
}

async function fingerprint(publicKeyFile: string): Promise<string> {
  // "256 SHA256:... comment (ED25519)"
  const out = await runOrThrow('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile])
  const found = out.split(/\s+/)[1]
  if (!found?.startsWith('SHA256:')) throw new Error(`ssh-keygen -lf ${publicKeyFile} printed no SHA256 fingerprint: ${out}`)
  return found
}

/** Starts sshd on a free port, retrying when another process takes the port first; resolves once it greets. */
async function listen(dir: string, address: string, hostKey: string, authorizedKeys: string, netns: string | undefined, attempts = 3): Promise<{child: ChildProcess, port: number}> {
  const config = path.join(dir, 'sshd_config')
  for (let attempt = 1; ; attempt++) {
    // inside a fresh namespace every port is free; any one will do
    const port = await freePort()
    writeFileSync(config, sshdConfig(address, port, hostKey, authorizedKeys, path.join(dir, 'sshd.pid')))
    // -D: stay in the foreground as our child; -e: log to stderr (kept below for the error messages)
    const sshd = ['setpriv', '--pdeathsig', 'SIGKILL', '--', SSHD, '-D', '-e', '-f', config]
    // `ip netns exec` execs its command in place: the child's pid is sshd's
    const argv = netns ? ['ip', 'netns', 'exec', netns, ...sshd] : sshd
    const child = spawn(argv[0], argv.slice(1), {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    if (await greets(address, port, child, 10_000)) return {child, port}
    await terminate(child)
    if (attempt < attempts && /Address already in use/.test(stderr)) continue
    throw new Error(`sshd did not start on ${address}:${port}: ${stderr.trim() || `exit ${child.exitCode ?? child.signalCode}`}`)
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

interface Namespace {
  name: string
  /** the root namespace's end of the veth pair; the namespace's end is its eth0 */
  hostIf: string
  address: string
}

/**
 * A namespace named csshd-test-* (not chaos-*: `chaos cleanup`, which some tests run, removes namespaces named so), with lo up and
 * eth0 at 10.213.X.2/30, the other end of its veth at 10.213.X.1/30 here: a /30 of its own, routed nowhere else.
 */
async function createNamespace(attempts = 5): Promise<Namespace> {
  for (let attempt = 1; ; attempt++) {
    const id = randomBytes(3).toString('hex')
    const name = `csshd-test-${id}`
    const hostIf = `csshd-${id}`
    const subnet = await unusedSubnet()
    const namespace = {name, hostIf, address: `${subnet}.2`}
    try {
      await runOrThrow('ip', ['netns', 'add', name])
      await runOrThrow('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
      await runOrThrow('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name])
      await runOrThrow('ip', ['addr', 'add', `${subnet}.1/30`, 'dev', hostIf])
      await runOrThrow('ip', ['link', 'set', hostIf, 'up'])
      await runOrThrow('ip', ['-n', name, 'addr', 'add', `${subnet}.2/30`, 'dev', 'eth0'])
      await runOrThrow('ip', ['-n', name, 'link', 'set', 'eth0', 'up'])
      return namespace
    } catch (error) {
      await removeNamespace(namespace)
      // another test's namespace may have taken the same subnet between the look and the add
      if (attempt >= attempts) throw error
    }
  }
}

/** A 10.213.X prefix that no interface of this namespace has an address in. */
async function unusedSubnet(): Promise<string> {
  const used = new Set([...(await runOrThrow('ip', ['-4', '-o', 'addr', 'show'])).matchAll(/inet 10\.213\.(\d+)\./g)].map((m) => Number(m[1])))
  const free = Array.from({length: 256}, (_, x) => x).filter((x) => !used.has(x))
  if (free.length === 0) throw new Error('every 10.213.X.0/30 is in use on this machine')
  return `10.213.${free[Math.floor(Math.random() * free.length)]}`
}

async function removeNamespace(namespace: Namespace): Promise<void> {
  // deleting one end deletes the pair; done explicitly, since a namespace whose name is deleted lives on (with its
  // eth0, and so this end) while a session's process is still in it
  await run('ip', ['link', 'delete', namespace.hostIf])
  await run('ip', ['netns', 'delete', namespace.name])
}
