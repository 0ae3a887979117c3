// platform host's pure parts: which known_hosts entries name a host (OpenSSH's format: plain names, [address]:port off
// port 22, comma lists, * and ? wildcards, !negations, hashed |1|salt|hash names, @cert-authority and @revoked
// markers), the verdict on the key a host offers, each host's run id, and the schema's refusals of host experiments.
import {createHmac, randomBytes} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {ExperimentError} from '../../src/experiment/issues.js'
import {parseExperiment} from '../../src/experiment/load.js'
import {hostRunId} from '../../src/platforms/host/index.js'
import {judgeHostKey, knownKeysFor, type KnownKey} from '../../src/platforms/host/ssh.js'

// three distinct key blobs, as known_hosts holds them (base64 of the key's wire form; any bytes do for matching)
const blob = (seed: string) => Buffer.from(`ssh-ed25519-test-key-${seed}`).toString('base64')
const A = blob('a')
const B = blob('b')
const C = blob('c')

/** A hashed known_hosts name, as `ssh-keygen -H` writes it: |1|base64(salt)|base64(HMAC-SHA1(salt, name)). */
function hashed(name: string, salt = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`
}

/** The key blobs (and whether revoked) the text holds for the host, in file order. */
const keys = (text: string, address: string, port: number) => knownKeysFor(text, address, port).map((k) => `${k.revoked ? 'revoked ' : ''}${k.type} ${k.key}`)

describe('knownKeysFor: which known_hosts lines name a host', () => {
  it('a plain entry names its host on port 22, by name, address or case, and no other', () => {
    const text = `10.0.0.5 ssh-ed25519 ${A}\nApp.Example.com ecdsa-sha2-nistp256 ${B}\n`
    expect(keys(text, '10.0.0.5', 22)).toEqual([`ssh-ed25519 ${A}`])
    // OpenSSH compares host names without case
    expect(keys(text, 'app.example.com', 22)).toEqual([`ecdsa-sha2-nistp256 ${B}`])
    // a dot is a dot, not any character: 10.0.0.5 does not name 10.0.005 or 10a0.0.5
    expect(keys(text, '10a0.0.5', 22)).toEqual([])
    expect(keys(text, '10.0.0.50', 22)).toEqual([])
    expect(keys(text, '10.0.0', 22)).toEqual([])
    // a plain entry is for port 22 only
    expect(keys(text, '10.0.0.5', 2222)).toEqual([])
  })

  it('[address]:port names the host on that port only; on port 22 the bare address does, not [address]:22', () => {
    const text = [
      `[10.0.0.5]:2222 ssh-ed25519 ${A}`,
      `[10.0.0.5]:22 ssh-ed25519 ${B}`,
      `10.0.0.5 ssh-rsa ${C}`,
    ].join('\n')
    expect(keys(text, '10.0.0.5', 2222)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, '10.0.0.5', 22)).toEqual([`ssh-rsa ${C}`])
    expect(keys(text, '10.0.0.5', 22222)).toEqual([])
    expect(keys(text, '10.0.0.5', 222)).toEqual([])
    expect(keys(text, '10.0.0.6', 2222)).toEqual([])
  })

  it('a comma list names each host in it', () => {
    const text = `app,10.0.0.5,[10.0.0.6]:2200 ssh-ed25519 ${A}\n`
    expect(keys(text, 'app', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, '10.0.0.5', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, '10.0.0.6', 2200)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, '10.0.0.6', 22)).toEqual([])
    expect(keys(text, 'ap', 22)).toEqual([])
    expect(keys(text, 'app,10.0.0.5', 22)).toEqual([])
  })

  it('* matches any run of characters and ? exactly one', () => {
    const text = [
      `*.example.com ssh-ed25519 ${A}`,
      `10.0.0.? ssh-ed25519 ${B}`,
      `[10.1.*]:2222 ssh-ed25519 ${C}`,
    ].join('\n')
    expect(keys(text, 'app.example.com', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, 'a.b.example.com', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, 'example.com', 22)).toEqual([])
    expect(keys(text, 'app.example.org', 22)).toEqual([])
    expect(keys(text, '10.0.0.7', 22)).toEqual([`ssh-ed25519 ${B}`])
    expect(keys(text, '10.0.0.17', 22)).toEqual([])
    expect(keys(text, '10.0.0.', 22)).toEqual([])
    expect(keys(text, '10.1.2.3', 2222)).toEqual([`ssh-ed25519 ${C}`])
    expect(keys(text, '10.1.2.3', 22)).toEqual([])
  })

  it('a negated pattern that matches rules the whole line out; one that does not changes nothing; negations alone name nothing', () => {
    const text = [
      `*.example.com,!bad.example.com ssh-ed25519 ${A}`,
      `!10.0.0.9 ssh-ed25519 ${B}`,
    ].join('\n')
    expect(keys(text, 'good.example.com', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, 'bad.example.com', 22)).toEqual([])
    // the negation rules the line out whichever order the patterns are in
    expect(keys(`!bad.example.com,*.example.com ssh-ed25519 ${A}`, 'bad.example.com', 22)).toEqual([])
    expect(keys(`!bad.example.com,*.example.com ssh-ed25519 ${A}`, 'good.example.com', 22)).toEqual([`ssh-ed25519 ${A}`])
    // a line of negations only is a match for no host
    expect(keys(text, '10.0.0.8', 22)).toEqual([])
    expect(keys(text, '10.0.0.9', 22)).toEqual([])
    // a negated wildcard
    expect(keys(`10.0.0.*,!10.0.0.1? ssh-ed25519 ${C}`, '10.0.0.12', 22)).toEqual([])
    expect(keys(`10.0.0.*,!10.0.0.1? ssh-ed25519 ${C}`, '10.0.0.2', 22)).toEqual([`ssh-ed25519 ${C}`])
  })

  it('a hashed entry names the host whose name (or [host]:port) it is the HMAC-SHA1 of, with its salt', () => {
    const salt = randomBytes(20)
    const text = [
      `${hashed('10.0.0.5', salt)} ssh-ed25519 ${A}`,
      `${hashed('[10.0.0.5]:2222')} ssh-ed25519 ${B}`,
    ].join('\n')
    expect(keys(text, '10.0.0.5', 22)).toEqual([`ssh-ed25519 ${A}`])
    expect(keys(text, '10.0.0.5', 2222)).toEqual([`ssh-ed25519 ${B}`])
    expect(keys(text, '10.0.0.6', 22)).toEqual([])
    expect(keys(text, '10.0.0.5', 2223)).toEqual([])
    // the same hash under another salt is not the host's: the salt is part of the hash
    const otherSalt = Buffer.from(salt)
    otherSalt[0] ^= 1
    const [, , , hash] = hashed('10.0.0.5', salt).split('|')
    expect(keys(`|1|${otherSalt.toString('base64')}|${hash} ssh-ed25519 ${A}`, '10.0.0.5', 22)).toEqual([])
    // and a malformed hashed field names nothing (not even what its hash would)
    expect(keys(`|1|${salt.toString('base64')} ssh-ed25519 ${A}`, '10.0.0.5', 22)).toEqual([])
  })

  it('ignores @cert-authority lines (a CA key is not a host key), keeps @revoked ones marked', () => {
    const text = [
      `@cert-authority *.example.com ssh-ed25519 ${A}`,
      `@cert-authority app.example.com ssh-ed25519 ${C}`,
      `@revoked app.example.com ssh-ed25519 ${B}`,
      `app.example.com ssh-rsa ${C}`,
    ].join('\n')
    expect(knownKeysFor(text, 'app.example.com', 22)).toEqual([
      {type: 'ssh-ed25519', key: B, revoked: true},
      {type: 'ssh-rsa', key: C, revoked: false},
    ])
    expect(keys(`@cert-authority * ssh-ed25519 ${A}\n`, 'app.example.com', 22)).toEqual([])
  })

  it('skips a line with a marker OpenSSH does not know, as OpenSSH does (it is not a trusted key)', () => {
    expect(knownKeysFor(`@trusted app.example.com ssh-ed25519 ${A}\napp.example.com ssh-rsa ${C}`, 'app.example.com', 22)).toEqual([
      {type: 'ssh-rsa', key: C, revoked: false},
    ])
  })

  it('skips comments, blank and indented-blank lines, CRLF ends and short lines; keeps every entry for the host', () => {
    const text = [
      '# known hosts of the lab',
      '',
      '   ',
      `# 10.0.0.5 ssh-ed25519 ${C}`,
      // a comment whose first word would name the host as a comma list, were it read as an entry
      `#,10.0.0.5 ssh-ed25519 ${C}`,
      `10.0.0.5 ssh-ed25519 ${A} root@app comment words`,
      '10.0.0.5 ssh-ed25519',
      '10.0.0.5',
      `\t10.0.0.5   ecdsa-sha2-nistp256\t${B}\r`,
      '',
    ].join('\n')
    expect(knownKeysFor(text, '10.0.0.5', 22)).toEqual([
      {type: 'ssh-ed25519', key: A, revoked: false},
      {type: 'ecdsa-sha2-nistp256', key: B, revoked: false},
    ])
    expect(knownKeysFor('', '10.0.0.5', 22)).toEqual([])
  })
})

describe('judgeHostKey: the offered key against known_hosts', () => {
  const offered = (b64: string) => Buffer.from(b64, 'base64')
  const known = (...entries: [string, boolean?][]): KnownKey[] => entries.map(([key, revoked]) => ({type: 'ssh-ed25519', key, revoked: revoked ?? false}))

  it('known when one of the host\'s keys is the offered one', () => {
    expect(judgeHostKey(offered(A), known([A]))).toBe('known')
    expect(judgeHostKey(offered(A), known([B], [A]))).toBe('known')
  })

  it('changed when the host has keys, none of them the offered one', () => {
    expect(judgeHostKey(offered(A), known([B]))).toBe('changed')
    expect(judgeHostKey(offered(A), known([B], [C]))).toBe('changed')
    // a revoked other key besides a good other key: still a changed key
    expect(judgeHostKey(offered(A), known([B, true], [C]))).toBe('changed')
  })

  it('unknown when no entry names the host, or only revoked keys that are not the offered one', () => {
    expect(judgeHostKey(offered(A), [])).toBe('unknown')
    expect(judgeHostKey(offered(A), known([B, true]))).toBe('unknown')
  })

  it('revoked when the offered key is marked @revoked, even if also listed as good', () => {
    expect(judgeHostKey(offered(A), known([A, true]))).toBe('revoked')
    expect(judgeHostKey(offered(A), known([A], [A, true]))).toBe('revoked')
    expect(judgeHostKey(offered(A), known([A, true], [A]))).toBe('revoked')
  })

  it('end to end with knownKeysFor: revoked under a wildcard, changed for the bracketed port, unknown elsewhere', () => {
    const text = [`@revoked * ssh-ed25519 ${A}`, `[10.0.0.5]:2222 ssh-ed25519 ${B}`, `${hashed('10.0.0.6')} ssh-ed25519 ${C}`].join('\n')
    expect(judgeHostKey(offered(A), knownKeysFor(text, '10.0.0.5', 2222))).toBe('revoked')
    expect(judgeHostKey(offered(B), knownKeysFor(text, '10.0.0.5', 2222))).toBe('known')
    expect(judgeHostKey(offered(C), knownKeysFor(text, '10.0.0.5', 2222))).toBe('changed')
    expect(judgeHostKey(offered(C), knownKeysFor(text, '10.0.0.5', 22))).toBe('unknown')
    expect(judgeHostKey(offered(C), knownKeysFor(text, '10.0.0.6', 22))).toBe('known')
    expect(judgeHostKey(offered(B), knownKeysFor(text, '10.0.0.6', 22))).toBe('changed')
  })
})

describe('hostRunId', () => {
  it('is 8 hex digits, never the run id, distinct between hosts', () => {
    for (const runId of ['00000000', '0badf00d', 'deadbeef', '7fffffff', 'fffffff0']) {
      const ids = Array.from({length: 8}, (_, i) => hostRunId(runId, i))
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}$/)
      expect(ids).not.toContain(runId)
      expect(new Set(ids).size).toBe(ids.length)
    }
    expect(hostRunId('0badf00d', 0)).toBe('0badf00e')
    expect(hostRunId('0badf00d', 1)).toBe('0badf00f')
    expect(hostRunId('0000000f', 0)).toBe('00000010')
  })

  it('wraps at ffffffff, still 8 digits and still not the run id', () => {
    expect(hostRunId('ffffffff', 0)).toBe('00000000')
    expect(hostRunId('ffffffff', 1)).toBe('00000001')
    expect(hostRunId('fffffffe', 0)).toBe('ffffffff')
    expect(hostRunId('fffffffe', 1)).toBe('00000000')
  })
})

// ---- the schema's refusals ------------------------------------------------------------------------------------

interface HostExperiment {
  platform?: string
  hosts?: string
  targetHost?: string
}

function experiment({platform = 'host', hosts, targetHost}: HostExperiment): string {
  return [
    'apiVersion: chaos/v1',
    'kind: Experiment',
    'metadata: {name: host-schema}',
    `platform: ${platform}`,
    ...(hosts === undefined ? [] : [hosts]),
    'target:',
    '  name: worker',
    '  run: [chaos, workload, --port, "19101"]',
    ...(targetHost === undefined ? [] : [`  host: ${targetHost}`]),
    '  isolation: {level: cgroup, memory: 64Mi}',
    'neighbors:',
    '  - name: api',
    '    run: [chaos, workload, --port, "19102"]',
    '    probe: {http: {url: "http://127.0.0.1:19102/work"}}',
    'fault: {type: memory-leak, rate: 16Mi/s, limit: 64Mi}',
    'phases: {baseline: 3s, inject: 3s}',
    'hypothesis: [{signal: error_rate, max: 1%}]',
    '',
  ].join('\n')
}

const GOOD_HOSTS = 'hosts:\n  app: {address: 127.0.0.1, port: 2222, identityFile: /tmp/id_ed25519, knownHosts: /tmp/known_hosts}'

function issuesOf(text: string) {
  try {
    parseExperiment(text, 'x.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(ExperimentError)
    return (error as ExperimentError).issues
  }
  throw new Error('expected the experiment to be refused')
}

/** 1-based line and column of `needle` in the text. */
function position(text: string, needle: string): {line: number, col: number} {
  const lines = text.split('\n')
  const line = lines.findIndex((l) => l.includes(needle))
  if (line < 0) throw new Error(`${needle} is not in the text`)
  return {line: line + 1, col: lines[line].indexOf(needle) + 1}
}

describe('the schema of platform host', () => {
  it('accepts a good host experiment (the baseline the refusals below differ from), with its defaults', () => {
    const e = parseExperiment(experiment({hosts: GOOD_HOSTS, targetHost: 'app'}), 'x.yaml')
    expect(e.platform).toBe('host')
    expect(e.target.host).toBe('app')
    expect(e.hosts?.app).toMatchObject({address: '127.0.0.1', port: 2222, user: 'root', identityFile: '/tmp/id_ed25519', agent: false, node: 'node', connectTimeout: 10_000})
    // and with no host: named, the only host is everyone's
    expect(parseExperiment(experiment({hosts: GOOD_HOSTS}), 'x.yaml').target.host).toBeUndefined()
    // agent: true alone is a way in
    expect(parseExperiment(experiment({hosts: 'hosts:\n  app: {address: 10.0.0.5, agent: true}'}), 'x.yaml').hosts?.app).toMatchObject({agent: true, port: 22})
  })

  it('refuses platform host without hosts', () => {
    const issues = issuesOf(experiment({}))
    expect(issues).toHaveLength(1)
    expect(issues[0].path).toEqual(['hosts'])
    expect(issues[0].message).toMatch(/platform host needs hosts/)
    // an empty hosts: is no better
    const empty = issuesOf(experiment({hosts: 'hosts: {}'}))
    expect(empty.map((i) => i.message)).toEqual([expect.stringMatching(/platform host needs hosts/)])
  })

  it('refuses a workflow naming a host that is not in hosts, at its host: line', () => {
    const text = experiment({hosts: GOOD_HOSTS, targetHost: 'db'})
    const issues = issuesOf(text)
    expect(issues).toHaveLength(1)
    expect(issues[0].path).toEqual(['target', 'host'])
    expect(issues[0].message).toMatch(/no host is named "db" \(hosts: app\)/)
    const at = position(text, 'host: db')
    // a scalar's issue points at the value itself (the loader's rule): the line of host:, the column of "db"
    expect({line: issues[0].line, col: issues[0].col}).toEqual({line: at.line, col: at.col + 'host: '.length})
  })

  it('refuses a neighbour naming an unknown host, at its own line', () => {
    const text = experiment({hosts: GOOD_HOSTS}).replace('    run: [chaos, workload, --port, "19102"]', '    run: [chaos, workload, --port, "19102"]\n    host: cache')
    const issues = issuesOf(text)
    expect(issues.map((i) => i.path)).toEqual([['neighbors', 0, 'host']])
    expect(issues[0].line).toBe(position(text, 'host: cache').line)
  })

  it('refuses hosts on platform process, and host: on a workflow there', () => {
    const issues = issuesOf(experiment({platform: 'process', hosts: GOOD_HOSTS}))
    expect(issues).toHaveLength(1)
    expect(issues[0].path).toEqual(['hosts'])
    expect(issues[0].message).toMatch(/hosts is for platform host/)
    const text = experiment({platform: 'process', targetHost: 'app'})
    const onWorkflow = issuesOf(text)
    expect(onWorkflow.map((i) => i.path)).toEqual([['target', 'host']])
    expect(onWorkflow[0].message).toMatch(/host is for platform host/)
    expect(onWorkflow[0].line).toBe(position(text, 'host: app').line)
  })

  it('refuses a host with neither identityFile nor agent (agent: false is neither)', () => {
    for (const hosts of ['hosts:\n  app: {address: 127.0.0.1, port: 2222}', 'hosts:\n  app: {address: 127.0.0.1, agent: false}']) {
      const issues = issuesOf(experiment({hosts}))
      expect(issues).toHaveLength(1)
      expect(issues[0].path).toEqual(['hosts', 'app', 'identityFile'])
      expect(issues[0].message).toMatch(/a host needs identityFile, or agent: true/)
    }
  })

  it('refuses a password: in a host as an unrecognized key, at its line', () => {
    const text = experiment({hosts: 'hosts:\n  app:\n    address: 127.0.0.1\n    identityFile: /tmp/id\n    password: hunter2'})
    const issues = issuesOf(text)
    expect(issues).toHaveLength(1)
    expect(issues[0].path).toEqual(['hosts', 'app', 'password'])
    expect(issues[0].message).toBe('unknown key "password" in hosts.app')
    expect(issues[0].hint).toMatch(/^allowed here: /)
    expect(issues[0].hint).not.toMatch(/password/)
    expect(issues[0].line).toBe(position(text, 'password:').line)
    // the password itself is never repeated back
    expect(new ExperimentError(issues).format()).not.toContain('hunter2')
  })
})
