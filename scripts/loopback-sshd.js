// A throwaway OpenSSH server on loopback for counting experiments/host/ through the real runner, as the tests'
// own sshd does (test/helpers/sshd.ts): its own host and client keys, config and known_hosts in a temp directory,
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

function greets(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  const once = () => new Promise((resolve) => {
    const socket = net.connect({host: '127.0.0.1', port})
    let received = ''
    const done = () => {
      socket.destroy()
      resolve(received.startsWith('SSH-2.0'))
    }
    socket.setTimeout(1000, done)
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1')
      if (received.includes('\n')) done()
    })
    socket.on('error', done)
  })
  return (async () => {
    while (Date.now() < deadline) {
      if (await once()) return true
      await new Promise((r) => setTimeout(r, 100))
    }
    return false
  })()
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
  writeFileSync(config, [
    `ListenAddress 127.0.0.1:${port}`, `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`, `AuthorizedKeysFile ${authorizedKeys}`,
    'PermitRootLogin prohibit-password', 'PubkeyAuthentication yes', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'UsePAM no', 'StrictModes no', 'ClientAliveInterval 1', 'ClientAliveCountMax 3', 'MaxSessions 64', 'MaxStartups 64', '',
  ].join('\n'))
  // setpriv: the listener dies with this process, so an interrupted count leaves no root-login sshd behind
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', SSHD, '-D', '-e', '-f', config], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-2000)))
  if (!(await greets(port, 10_000))) {
    child.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
    throw new Error(`sshd did not start on 127.0.0.1:${port}: ${stderr.trim()}`)
  }
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/)
  const knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${type} ${key}\n`)
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
