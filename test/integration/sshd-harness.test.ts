// The harness the tests of platform host stand on (test/helpers/sshd.ts): a real sshd on loopback and one in a
// network namespace of its own answer with the generated client key, refuse any other key, are refused by a client
// whose known_hosts holds another host key, and leave no listener, namespace, veth or directory after stop().
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateKey, knownHostsLine, sshExec, startSshd, type SshHost} from '../helpers/sshd.js'

/** Processes whose command line names this directory: the sshd listening with its config. */
function processesOf(dir: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmdline.includes(dir)) found.push(`${pid} ${cmdline}`)
    } catch { /* gone */ }
  }
  return found
}

function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'}).split('\n').map((l) => l.split(' ')[0]).filter(Boolean)
}

function linkExists(name: string): boolean {
  return JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], {encoding: 'utf8'})).some((l: {ifname: string}) => l.ifname === name)
}

describe.each([
  {where: 'on loopback', netns: false},
  {where: 'in a network namespace', netns: true},
])('a real sshd $where', ({netns}) => {
  let host: SshHost
  let scratch: string

  beforeAll(async () => {
    host = await startSshd({netns})
    scratch = mkdtempSync(join(tmpdir(), 'chaos-test-sshd-harness-'))
  })
  afterAll(async () => {
    await host?.stop()
    if (scratch) rmSync(scratch, {recursive: true, force: true})
  })

  it('runs a command as root with the generated key and known_hosts', async () => {
    if (netns) {
      expect(host.netns).toMatch(/^csshd-test-/)
      expect(host.address).toMatch(/^10\.213\.\d+\.2$/)
    } else {
      expect(host.netns).toBeUndefined()
      expect(host.address).toBe('127.0.0.1')
    }
    expect(host.user).toBe('root')
    expect(host.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(readFileSync(host.knownHosts, 'utf8')).toMatch(new RegExp(`^\\[${host.address.replace(/\./g, '\\.')}\\]:${host.port} ssh-ed25519 AAAA\\S+\\n$`))

    const result = await sshExec(host, 'echo hello; id -u')
    expect(result, result.stderr).toMatchObject({code: 0, stdout: 'hello\n0\n'})
  })

  if (netns) {
    it('serves its commands from inside the namespace: its eth0 has the address', async () => {
      const result = await sshExec(host, 'ip -4 -o addr show dev eth0')
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain(`inet ${host.address}/30`)
    })
  }

  it('refuses a key that is not in authorized_keys', async () => {
    const stranger = join(scratch, 'id_stranger')
    await generateKey(stranger)
    const result = await sshExec({...host, identityFile: stranger}, 'echo hello')
    expect(result.code).not.toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('Permission denied')
  })

  it('is refused by a client whose known_hosts holds another host key', async () => {
    const impostor = join(scratch, 'host_impostor')
    await generateKey(impostor)
    const knownHosts = join(scratch, 'known_hosts_impostor')
    writeFileSync(knownHosts, knownHostsLine(host.address, host.port, readFileSync(`${impostor}.pub`, 'utf8')))
    const result = await sshExec({...host, knownHosts}, 'echo hello')
    expect(result.code).not.toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('Host key verification failed')
  })

  it('stop() leaves no sshd, namespace, veth or directory, and can be called again', async () => {
    expect(processesOf(host.dir)).toHaveLength(1)
    const hostIf = netns ? execFileSync('ip', ['-o', '-4', 'addr', 'show', 'to', `${host.address.replace(/\.2$/, '.1')}/32`], {encoding: 'utf8'}).split(/\s+/)[1] : undefined
    if (netns) expect(hostIf).toMatch(/^csshd-/)

    await host.stop()
    await host.stop()

    expect(processesOf(host.dir)).toEqual([])
    expect(existsSync(`/proc/${host.pid}`)).toBe(false)
    expect(existsSync(host.dir)).toBe(false)
    if (netns) {
      expect(netnsNames()).not.toContain(host.netns)
      expect(linkExists(hostIf!)).toBe(false)
    }
  })
})
