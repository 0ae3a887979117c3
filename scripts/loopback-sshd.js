// A throwaway OpenSSH server on loopback for counting experiments/host/ through the real runner, as the tests'
// own sshd does (test/helpers/sshd.ts, which takes its config, banner check and known_hosts line from here): its own host and client keys, config and known_hosts in a temp directory,
// a free port on 127.0.0.1, root login by key only. Nothing of the machine's own ssh setup is used or changed (not
// /etc/ssh, not ~/.ssh, not port 22), and the listener dies with the process that started it.
import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import YAML from 'yaml'

const SSHD = '/usr/sbin/sshd'

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** sshd's configuration: listening at address:port only, keys only, root by key, no environment from clients. */
export function sshdConfig(address, port, hostKey, authorizedKeys, pidFile) {
  return [
    `ListenAddress ${address}:${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    // keys only: the toolkit logs in as root with a key, as it would on a real host
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // the keys live in a temp directory, not in a home that sshd would check the ownership and modes of
    'StrictModes no',
    // a client killed without closing its connection is noticed in ~3 s, and its session ended
    'ClientAliveInterval 1',
    'ClientAliveCountMax 3',
    // the toolkit may open many channels on one connection, and several connections at once
    'MaxSessions 64',
    'MaxStartups 64',
    // no Subsystem (no sftp), and no AcceptEnv line: this sshd accepts no environment variables from the client
    '',
  ].join('\n')
}

/** The known_hosts line for a host key (the contents of its .pub) at this address and port. */
export function knownHostsLine(address, port, publicKey) {
  const [type, key] = publicKey.trim().split(/\s+/)
  // OpenSSH writes and looks up a host on any port but 22 as [address]:port
  const host = port === 22 ? address : `[${address}]:${port}`
  return `${host} ${type} ${key}\n`
}

/** Whether sshd, before it exits or the time is up, accepts a connection and sends its SSH-2.0 banner. */
export async function greets(address, port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const banner = await new Promise((resolve) => {
      const socket = net.connect({host: address, port})
      let received = ''
      const done = () => {
        socket.destroy()
        resolve(received)
      }
      socket.setTimeout(1000, done)
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1')
        if (received.includes('\n')) done()
      })
      socket.once('error', done)
      socket.once('close', done)
    })
    if (banner.startsWith('SSH-2.0-')) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

/** Starts sshd; resolves to where it listens and the client's files, and stop(). */
export async function startLoopbackSshd() {
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})
  const dir = mkdtempSync(join(tmpdir(), 'chaos-count-sshd-'))
  const hostKey = join(dir, 'host_ed25519')
  const identityFile = join(dir, 'id_ed25519')
  for (const file of [hostKey, identityFile]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'chaos-count', '-f', file])
  const authorizedKeys = join(dir, 'authorized_keys')
  writeFileSync(authorizedKeys, readFileSync(`${identityFile}.pub`), {mode: 0o600})
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  writeFileSync(config, sshdConfig('127.0.0.1', port, hostKey, authorizedKeys, join(dir, 'sshd.pid')))
  // setpriv: the listener dies with this process, so an interrupted count leaves no root-login sshd behind
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', SSHD, '-D', '-e', '-f', config], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-2000)))
  if (!(await greets('127.0.0.1', port, child, 10_000))) {
    child.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
    throw new Error(`sshd did not start on 127.0.0.1:${port}: ${stderr.trim()}`)
  }
  const knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, knownHostsLine('127.0.0.1', port, readFileSync(`${hostKey}.pub`, 'utf8')))
  return {
    dir, port, identityFile, knownHosts,
    stop() {
      child.kill('SIGTERM')
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/**
 * A copy of a host experiment (one host) in the sshd's directory with its host pointed there, the rest unchanged;
 * other files are returned as they are. Experiments with several hosts need hosts of their own (namespaces): refused.
 */
export function pointAt(file, sshd) {
  const text = readFileSync(file, 'utf8')
  const doc = YAML.parseDocument(text)
  if (doc.get('platform') !== 'host') return file
  const hosts = doc.get('hosts')
  const names = hosts ? hosts.items.map((pair) => String(pair.key.value ?? pair.key)) : []
  if (names.length !== 1) throw new Error(`${file}: --ssh points one host at the loopback sshd; this file has ${names.length}`)
  for (const [field, value] of Object.entries({address: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.identityFile, knownHosts: sshd.knownHosts})) {
    doc.setIn(['hosts', names[0], field], value)
  }
  const copy = join(sshd.dir, basename(file))
  writeFileSync(copy, doc.toString())
  return copy
}
