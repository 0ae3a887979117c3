// One SSH connection to a host, through ssh2 (a maintained SSH implementation, not the ssh binary parsed by hand).
// The host's key must be in the experiment's known_hosts file, as OpenSSH's StrictHostKeyChecking=yes asks: an
// unknown or changed key refuses the run before anything starts, and each way a connection can fail (unreachable,
// key unknown, key changed, login refused) has its own message.
import {createHmac} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {homedir} from 'node:os'

import type {Client, ClientChannel, ConnectConfig} from 'ssh2'

import type {SshHostSpec} from '../../experiment/schema.js'
import {PlanError} from '../platform.js'

/** A path from the experiment, with ~ meaning the home directory of the user running the toolkit. */
export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? homedir() + path.slice(1) : path
}

export interface KnownKey {
  type: string
  /** the key blob, base64, as known_hosts holds it */
  key: string
  revoked: boolean
}

/** The name known_hosts files a host under: the address, or [address]:port off port 22. */
function hostPattern(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`
}

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i')
  return re.test(name)
}

/** Whether one known_hosts host field (comma-separated patterns, or one hashed |1|salt|hash) names this host. */
function fieldNames(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|')
    if (!salt || !hash) return false
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
  }
  let matched = false
  for (const pattern of field.split(',')) {
    // a negated pattern that matches rules the line out, whatever else matched
    if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false
    } else if (globMatches(pattern, name)) matched = true
  }
  return matched
}

/** The keys a known_hosts text holds for this host (OpenSSH's format: plain, bracketed with a port, or hashed). */
export function knownKeysFor(text: string, address: string, port: number): KnownKey[] {
  const name = hostPattern(address, port)
  const keys: KnownKey[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const parts = line.split(/\s+/)
    let revoked = false
    if (parts[0].startsWith('@')) {
      const marker = parts.shift()
      // a certificate authority's key signs host certificates, which this toolkit does not check: not a host key;
      // a marker OpenSSH does not know makes it skip the line, and so does this
      if (marker !== '@revoked') continue
      revoked = true
    }
    const [hosts, type, key] = parts
    if (!hosts || !type || !key) continue
    if (fieldNames(hosts, name)) keys.push({type, key, revoked})
  }
  return keys
}

/** What the host's offered key is, against what known_hosts says: the one decision OpenSSH's strict checking makes. */
export function judgeHostKey(offered: Buffer, known: KnownKey[]): 'known' | 'unknown' | 'changed' | 'revoked' {
  const blob = offered.toString('base64')
  if (known.some((k) => k.revoked && k.key === blob)) return 'revoked'
  if (known.some((k) => !k.revoked && k.key === blob)) return 'known'
  return known.some((k) => !k.revoked) ? 'changed' : 'unknown'
}

export interface SshTarget {
  /** the host's name in the experiment */
  name: string
  spec: SshHostSpec
}

/** `user@address:port`, for messages. */
export function describeHost(target: SshTarget): string {
  return `host ${target.name} (${target.spec.user}@${target.spec.address}:${target.spec.port})`
}

/**
 * Connects and logs in, or refuses with one clear PlanError: 4 for what this machine cannot reach or is not allowed
 * (the host is down, refuses the key), 2 for what the experiment got wrong (a key file that does not exist).
 */
export async function connect(target: SshTarget): Promise<Client> {
  const {spec} = target
  const where = describeHost(target)
  const knownHostsFile = expandHome(spec.knownHosts)
  let knownText: string
  try {
    knownText = readFileSync(knownHostsFile, 'utf8')
  } catch (error) {
    throw new PlanError(`${where}: cannot read known_hosts ${knownHostsFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the host's key must be known before the toolkit logs in`, 2)
  }
  const known = knownKeysFor(knownText, spec.address, spec.port)
  if (known.length > 0 && known.every((k) => k.revoked)) {
    throw new PlanError(`${where}: the only key ${knownHostsFile} holds for it is marked @revoked; nothing was started`, 4)
  }
  if (known.length === 0) {
    throw new PlanError(`${where}: its host key is not in ${knownHostsFile}. Check the key out of band, then add it (ssh-keyscan -p ${spec.port} ${spec.address} >> ${spec.knownHosts}, once you trust it)`, 4)
  }
  let privateKey: Buffer | undefined
  if (spec.identityFile !== undefined) {
    const file = expandHome(spec.identityFile)
    try {
      privateKey = readFileSync(file)
    } catch (error) {
      throw new PlanError(`${where}: cannot read identityFile ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 2)
    }
  }
  if (spec.agent && !process.env.SSH_AUTH_SOCK && privateKey === undefined) {
    throw new PlanError(`${where}: agent: true, but SSH_AUTH_SOCK is not set (no SSH agent to ask for keys)`, 4)
  }
  // ssh2 loaded here, when a host experiment connects: no other run pays for it
  const {Client: SshClient} = await import('ssh2')
  const client = new SshClient()
  let keyVerdict: ReturnType<typeof judgeHostKey> | undefined
  // only the key types known_hosts holds for this host are negotiated, so the server cannot offer another type
  // whose key is (rightly) not in the file and be refused as "changed". An ssh-rsa key is signed with SHA-2 by
  // today's servers (OpenSSH 8.8 dropped SHA-1 signatures): the same key, offered under those names first
  const types = [...new Set(known.filter((k) => !k.revoked).flatMap((k) => (k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type])))]
  const config: ConnectConfig = {
    host: spec.address,
    port: spec.port,
    username: spec.user,
    readyTimeout: spec.connectTimeout,
    keepaliveInterval: 2000,
    keepaliveCountMax: 3,
    algorithms: {serverHostKey: types as NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']>},
    hostVerifier: (key: Buffer) => {
      keyVerdict = judgeHostKey(key, known)
      return keyVerdict === 'known'
    },
    ...(privateKey ? {privateKey} : {}),
    ...(spec.agent && process.env.SSH_AUTH_SOCK ? {agent: process.env.SSH_AUTH_SOCK, agentForward: true} : {}),
  }
  return new Promise<Client>((resolve, reject) => {
    client.once('ready', () => resolve(client))
    client.once('error', (error: Error & {level?: string, code?: string}) => {
      client.end()
      if (keyVerdict === 'changed') reject(new PlanError(`${where}: its host key is NOT the one ${knownHostsFile} holds for it. Someone may be in the middle, or the host was reinstalled; nothing was started`, 4))
      else if (keyVerdict === 'revoked') reject(new PlanError(`${where}: its host key is marked @revoked in ${knownHostsFile}; nothing was started`, 4))
      else if (error.level === 'client-authentication') reject(new PlanError(`${where}: the host refused the login as ${spec.user} with ${spec.identityFile ?? 'the agent\'s keys'} (is the public key in ~${spec.user}/.ssh/authorized_keys there?)`, 4))
      else if (error.level === 'client-timeout') reject(new PlanError(`${where}: no SSH answer within ${spec.connectTimeout / 1000}s`, 4))
      else if (error.code !== undefined && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN/.test(error.code)) reject(new PlanError(`${where}: unreachable (${error.code})`, 4))
      else reject(new PlanError(`${where}: SSH failed: ${error.message}`, 4))
    })
    client.connect(config)
  })
}

export interface ExecResult {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/** Runs one command on the host and collects its output (for the plan's checks). */
export function execCollect(client: Client, command: string, timeoutMs = 20_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error)
      let stdout = ''
      let stderr = ''
      const timer = setTimeout(() => {
        channel.close()
        reject(new Error(`${command}: no answer within ${timeoutMs / 1000}s`))
      }, timeoutMs)
      channel.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
      channel.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      channel.on('close', (code: number | null, signal: string | null) => {
        clearTimeout(timer)
        resolve({code: code ?? null, signal: signal ?? null, stdout, stderr})
      })
      channel.end()
    })
  })
}

/** Starts a long-lived command whose stdin stays open: its end (the channel, the connection) is the command's signal to stop. */
export function execStream(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel)))
  })
}

/** A word for a POSIX shell, quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
