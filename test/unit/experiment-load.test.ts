import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {schemaPathFrom} from '../../src/commands/init.js'
import {editDistance, ExperimentError, nearest} from '../../src/experiment/issues.js'
import {loadExperiment, MAX_FILE_BYTES, parseExperiment} from '../../src/experiment/load.js'
import {STARTER_FAULTS, starterExperiment} from '../../src/experiment/starters.js'

const MINIMAL = `apiVersion: chaos/v1
kind: Experiment
metadata:
  name: minimal
target:
  name: worker
  run: [sleep, "60"]
neighbors:
  - name: web
    pid: 4242
fault:
  type: cpu-hog
phases:
  baseline: 5s
  inject: 10s
hypothesis:
  - signal: latency_p99
    max_increase: 25%
`

const FULL = `# yaml-language-server: $schema=../schema/experiment.schema.json
apiVersion: chaos/v1
kind: Experiment
metadata:
  name: full
  description: every field, written the way people write them
  labels: {team: platform}
platform: process
target:
  name: worker
  run: [chaos, workload, --port, "18080"]
  env: {LOG_LEVEL: debug}
  cwd: /tmp
  isolation:
    level: cgroup
    memory: 256Mi
    cpus: 0.5
    cpuset: "0-1,3"
    pids: 128
    ioWeight: 100
    cpuWeight: 20
    network:
      rate: 100Mbit
  ready:
    http: http://127.0.0.1:18080/healthz
neighbors:
  - name: web
    run: [chaos, workload, --port, "18081"]
    isolation: {level: shared}
    probe: &probe
      http:
        url: http://127.0.0.1:18081/work
    metrics: http://127.0.0.1:18081/metrics
  - name: db
    unit: postgresql.service
    probe: *probe
  - name: cache
    cgroup: /system.slice/redis.service
    ready:
      http: https://127.0.0.1:6380/
      timeout: 1m
volumes:
  scratch:
    size: 1Gi
shared:
  memory: 2Gi
fault:
  type: disk-fill
  volume: scratch
  size: 50%
  rate: 10Mi/s
phases:
  baseline: 1m30s
  inject: 2m
  recover: 0s
  interval: 500ms
hypothesis:
  - signal: latency_p99
    neighbor: web
    max: 50ms
  - signal: error_rate
    max: 1%
  - signal: memory
    max: 256Mi
  - signal: throughput
    max_decrease: 10%
    min: 40
  - signal: cpu_usage
    max_increase: 300%
expect: breach
safety:
  maxDuration: 10m
  maxMemory: 1Gi
  maxDisk: 2Gi
  diskFloor: 5%
  allowPaths: [/var/tmp]
  allowHosts: [10.0.0.0/8]
`

const Mi = 1024 ** 2
const Gi = 1024 ** 3

function issuesOf(text: string, file = 'x.yaml') {
  try {
    parseExperiment(text, file)
  } catch (error) {
    expect(error).toBeInstanceOf(ExperimentError)
    return (error as ExperimentError).issues
  }
  throw new Error('expected the experiment to be refused')
}

describe('parseExperiment on valid files', () => {
  it('fills the defaults of a minimal file', () => {
    const e = parseExperiment(MINIMAL, 'minimal.yaml')
    expect(e.platform).toBe('process')
    expect(e.expect).toBe('contained')
    expect(e.target).toEqual({name: 'worker', run: ['sleep', '60'], isolation: {level: 'none'}})
    expect(e.neighbors).toEqual([{name: 'web', pid: 4242, isolation: {level: 'none'}}])
    expect(e.fault).toEqual({type: 'cpu-hog', load: 1})
    expect(e.phases).toEqual({baseline: 5000, inject: 10_000, recover: 5000, interval: 1000, warmup: 10_000})
    expect(e.hypothesis).toEqual([{signal: 'latency_p99', max_increase: 0.25}])
    expect(e.safety).toEqual({maxDuration: 30 * 60_000, maxMemory: 8 * Gi, maxDisk: 8 * Gi, maxProcesses: 2000, diskFloor: 0.1, allowPaths: [], allowHosts: [], abort: [], allowSystem: false, allowUnlabelled: false})
  })

  it('normalises every quantity of a full file', () => {
    const e = parseExperiment(FULL, 'full.yaml')
    expect(e.metadata).toEqual({name: 'full', description: 'every field, written the way people write them', labels: {team: 'platform'}})
    expect(e.target.isolation).toEqual({level: 'cgroup', memory: 256 * Mi, cpus: 0.5, cpuset: '0-1,3', pids: 128, ioWeight: 100, cpuWeight: 20, network: {rate: 100e6}})
    expect(e.target.env).toEqual({LOG_LEVEL: 'debug'})
    expect(e.target.ready).toEqual({http: 'http://127.0.0.1:18080/healthz', timeout: 15_000})
    expect(e.neighbors[0].probe).toEqual({http: {url: 'http://127.0.0.1:18081/work', rate: 50, timeout: 2000, method: 'GET'}})
    expect(e.neighbors[1].probe).toEqual(e.neighbors[0].probe) // through the YAML alias
    expect(e.neighbors[1].unit).toBe('postgresql.service')
    expect(e.neighbors[2].ready).toEqual({http: 'https://127.0.0.1:6380/', timeout: 60_000})
    expect(e.volumes).toEqual({scratch: {size: Gi}})
    expect(e.shared).toEqual({memory: 2 * Gi})
    expect(e.fault).toEqual({type: 'disk-fill', volume: 'scratch', size: {fraction: 0.5}, rate: 10 * Mi, mode: 'write'})
    expect(e.phases).toEqual({baseline: 90_000, inject: 120_000, recover: 0, interval: 500, warmup: 10_000})
    expect(e.hypothesis).toEqual([
      {signal: 'latency_p99', neighbor: 'web', max: 0.05},
      {signal: 'error_rate', max: 0.01},
      {signal: 'memory', max: 256 * Mi},
      {signal: 'throughput', max_decrease: 0.1, min: 40},
      {signal: 'cpu_usage', max_increase: 3},
    ])
    expect(e.expect).toBe('breach')
    expect(e.safety).toEqual({maxDuration: 600_000, maxMemory: Gi, maxDisk: 2 * Gi, maxProcesses: 2000, diskFloor: 0.05, allowPaths: ['/var/tmp'], allowHosts: ['10.0.0.0/8'], abort: [], allowSystem: false, allowUnlabelled: false})
  })

  it('reads each fault type with its defaults', () => {
    const withFault = (fault: string) => parseExperiment(MINIMAL.replace('  type: cpu-hog\n', fault), 'f.yaml').fault
    expect(withFault('  type: memory-leak\n  rate: 64Mi/s\n  limit: 90%\n')).toEqual({type: 'memory-leak', rate: 64 * Mi, limit: {fraction: 0.9}, hold: true})
    expect(withFault('  type: memory-leak\n  rate: 1Mi/s\n  limit: 200Mi\n  hold: false\n')).toEqual({type: 'memory-leak', rate: Mi, limit: {bytes: 200 * Mi}, hold: false})
    expect(withFault('  type: cpu-hog\n  load: 50%\n  workers: 2\n')).toEqual({type: 'cpu-hog', load: 0.5, workers: 2})
    expect(withFault('  type: disk-fill\n  path: /var/tmp\n')).toEqual({type: 'disk-fill', path: '/var/tmp', size: {fraction: 1}, mode: 'write'})
    expect(withFault('  type: network-flood\n')).toEqual({type: 'network-flood', destination: 'sink', direction: 'send', protocol: 'tcp', connections: 4})
    expect(withFault('  type: network-flood\n  destination: {host: 10.0.0.2, port: 9000}\n  protocol: udp\n  rate: 1Gbit\n'))
      .toEqual({type: 'network-flood', destination: {host: '10.0.0.2', port: 9000}, direction: 'send', protocol: 'udp', rate: 1e9, connections: 4})
  })
})

describe('parseExperiment on broken files', () => {
  it('reports every problem at once, in file order', () => {
    const text = MINIMAL
      .replace('  name: minimal', '  name: minimal\n  colour: red')
      .replace('inject: 10s', 'inject: soon')
      .replace('signal: latency_p99', 'signal: latency-p99')
    const issues = issuesOf(text)
    expect(issues.map((i) => [i.line, i.col, i.path])).toEqual([
      [5, 3, ['metadata', 'colour']],
      [16, 11, ['phases', 'inject']],
      [18, 13, ['hypothesis', 0, 'signal']],
    ])
    expect(issues[0].hint).toBe('allowed here: description, labels')
    expect(issues[2].message).toBe('hypothesis[0].signal: unknown value "latency-p99"; did you mean "latency_p99"?')
  })

  it('points at cpuIdle when a box asks to be idle and weighted at once, which the kernel refuses', () => {
    const issues = issuesOf(MINIMAL.replace('  run: [sleep, "60"]', '  run: [sleep, "60"]\n  isolation: {level: cgroup, cpuWeight: 10, cpuIdle: true}'))
    expect(issues.map((i) => [i.line, i.col, i.path])).toEqual([[8, 54, ['target', 'isolation', 'cpuIdle']]])
    expect(issues[0].message).toMatch(/cpuIdle and cpuWeight together/)
  })

  it('formats issues as file:line:col: message (hint)', () => {
    const error = new ExperimentError([
      {file: 'experiments/x.yaml', line: 12, col: 5, path: ['fault', 'rat'], message: 'unknown key "rat" in fault; did you mean "rate"?'},
      {file: 'experiments/x.yaml', line: 14, col: 3, path: ['fault', 'type'], message: 'unknown fault type "leak"', hint: 'expected one of: memory-leak, cpu-hog'},
    ])
    expect(error.format()).toBe([
      'experiments/x.yaml:12:5: unknown key "rat" in fault; did you mean "rate"?',
      'experiments/x.yaml:14:3: unknown fault type "leak" (expected one of: memory-leak, cpu-hog)',
    ].join('\n'))
    expect(error.message).toBe(error.format())
  })

  it('words type errors with what was expected and what was found', () => {
    const [issue] = issuesOf(MINIMAL.replace('pid: 4242', 'pid: [1, 2]'))
    expect(issue.message).toBe('neighbors[0].pid: expected a number, got a list')
    const [empty] = issuesOf(MINIMAL.replace('  name: worker\n  run: [sleep, "60"]\n', ''))
    expect(empty).toMatchObject({line: 5, col: 1, message: 'target: expected a mapping (key: value lines), got nothing (an empty value)'})
    const [union] = issuesOf(MINIMAL.replace('inject: 10s', 'inject: true'))
    expect(union.message).toBe('phases.inject: expected text or a number, got true')
    const [whole] = issuesOf(MINIMAL.replace('pid: 4242', 'pid: 42.5'))
    expect(whole.message).toBe('neighbors[0].pid: expected a whole number, got 42.5')
  })

  it('explains the option of a union that came closest', () => {
    const [issue] = issuesOf(MINIMAL.replace('  type: cpu-hog\n', '  type: network-flood\n  destination: {host: db}\n'))
    expect(issue.message).toBe('missing required key "port" in fault.destination')
    const [typo] = issuesOf(MINIMAL.replace('  type: cpu-hog\n', '  type: network-flood\n  destination: {host: db, prot: 5432}\n'))
    expect(typo.message).toBe('unknown key "prot" in fault.destination; did you mean "port"?')
  })

  it('suggests keys of the fault type actually written', () => {
    const [issue] = issuesOf(MINIMAL.replace('  type: cpu-hog\n', '  type: cpu-hog\n  worker: 2\n'))
    expect(issue.message).toBe('unknown key "worker" in fault; did you mean "workers"?')
  })

  it('points at record keys that are not valid names', () => {
    const [issue] = issuesOf(MINIMAL.replace('fault:', 'volumes:\n  Big Disk:\n    size: 1Gi\nfault:'))
    expect(issue).toMatchObject({line: 12, col: 3, path: ['volumes', 'Big Disk']})
    expect(issue.message).toContain('invalid name "Big Disk"')
  })

  it('points at the alias when the problem is in aliased text', () => {
    const text = MINIMAL.replace('neighbors:\n  - name: web\n    pid: 4242\n', 'neighbors:\n  - name: web\n    pid: 4242\n    probe: &p {http: {url: nope}}\n  - name: db\n    pid: 5\n    probe: *p\n')
    const issues = issuesOf(text)
    expect(issues.map((i) => `${i.line}:${i.col}`)).toEqual(['11:28', '14:12'])
  })

  it('refuses a file over 1 MiB before parsing it', () => {
    const [issue] = issuesOf(`${MINIMAL}#${'x'.repeat(MAX_FILE_BYTES)}\n`)
    expect(issue).toMatchObject({line: 1, col: 1})
    expect(issue.message).toContain('at most 1048576 bytes')
  })

  it('refuses deep nesting of every kind without crashing', () => {
    for (const deep of ['['.repeat(200_000), '- '.repeat(100_000) + 'x', '{a: '.repeat(100_000) + '1']) {
      const [issue] = issuesOf(deep)
      expect(issue.message).toContain('nested more than 64 levels')
    }
  })

  it('refuses keys that are lists or mappings', () => {
    const [issue] = issuesOf(MINIMAL.replace('metadata:', '? [a, b]\n: 1\nmetadata:'))
    expect(issue).toMatchObject({line: 3, col: 3, message: 'a key must be plain text, not a list or mapping'})
  })

  it('accepts a few aliases used normally', () => {
    expect(() => parseExperiment(FULL, 'full.yaml')).not.toThrow()
  })
})

describe('loadExperiment', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chaos-load-'))
  })
  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('reads and validates a file', async () => {
    const file = join(dir, 'ok.yaml')
    await writeFile(file, MINIMAL)
    expect((await loadExperiment(file)).metadata.name).toBe('minimal')
  })

  it('names the file in its issues', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(file, MINIMAL.replace('kind: Experiment', 'kind: Experimnt'))
    await expect(loadExperiment(file)).rejects.toThrow(`${file}:2:7: kind: expected "Experiment", got "Experimnt"`)
  })

  it('refuses a missing file, a directory and a huge file with an issue, not a crash', async () => {
    await expect(loadExperiment(join(dir, 'missing.yaml'))).rejects.toThrow('cannot read the file: no such file')
    await expect(loadExperiment(dir)).rejects.toThrow('not a regular file')
    const huge = join(dir, 'huge.yaml')
    await writeFile(huge, Buffer.alloc(MAX_FILE_BYTES + 1, 0x23))
    await expect(loadExperiment(huge)).rejects.toThrow('may be at most 1048576 bytes')
  })
})

describe('starters', () => {
  it.each(STARTER_FAULTS)('the %s starter is a valid experiment of that fault', (fault) => {
    const text = starterExperiment(fault, '../schema/experiment.schema.json')
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/experiment.schema.json')
    expect(parseExperiment(text, `${fault}.yaml`).fault.type).toBe(fault)
  })

  it('points the schema comment at the package, relative to the written file', () => {
    expect(schemaPathFrom('/repo/experiment.yaml', '/repo')).toBe('./schema/experiment.schema.json')
    expect(schemaPathFrom('/repo/experiments/x.yaml', '/repo')).toBe('../schema/experiment.schema.json')
    expect(schemaPathFrom('/elsewhere/x.yaml', '/repo')).toBe('../repo/schema/experiment.schema.json')
  })
})

describe('suggestions', () => {
  it('measures Damerau-Levenshtein distance', () => {
    expect(editDistance('rate', 'rate')).toBe(0)
    expect(editDistance('rat', 'rate')).toBe(1)
    expect(editDistance('memroy', 'memory')).toBe(1) // a transposition counts once
    expect(editDistance('neighbours', 'neighbors')).toBe(1)
    expect(editDistance('', 'abc')).toBe(3)
  })

  it('suggests only near candidates', () => {
    expect(nearest('memory-leek', ['memory-leak', 'cpu-hog'])).toBe('memory-leak')
    expect(nearest('ApiVersion', ['apiVersion', 'kind'])).toBe('apiVersion')
    expect(nearest('banana', ['rate', 'limit', 'hold'])).toBeUndefined()
    expect(nearest('x', ['y', 'z'])).toBeUndefined()
  })
})

describe('platform kubernetes: stated isolation and named levels', () => {
  const kube = (extra: string, targetPods = '{namespace: shop, selector: app=worker}') => `apiVersion: chaos/v1
kind: Experiment
metadata: {name: k}
platform: kubernetes
kubernetes:
  mechanism: helper-pod
${extra}
target:
  name: worker
  pods: ${targetPods}
neighbors:
  - name: api
    pods: {namespace: shop, selector: app=api}
fault: {type: cpu-hog, load: 50%}
phases: {baseline: 5s, inject: 5s}
hypothesis:
  - {signal: restarts, max: 0}
`

  it('a level changes only the keys it gives: no default undoes the experiment\'s namespace', () => {
    const e = parseExperiment(kube(`  level: guaranteed
  levels:
    besteffort:
      target: {selector: app=worker-be, isolation: {qos: BestEffort}}
      neighbors: {api: {selector: app=api-be}}`, '{namespace: shop, selector: app=worker, isolation: {qos: Guaranteed, node: dedicated}}'), 'k.yaml')
    expect(e.kubernetes!.level).toBe('guaranteed')
    expect(e.kubernetes!.levels!.besteffort).toEqual({target: {selector: 'app=worker-be', isolation: {qos: 'BestEffort'}}, neighbors: {api: {selector: 'app=api-be'}}})
    expect(e.target.pods!.isolation).toEqual({qos: 'Guaranteed', node: 'dedicated'})
    expect(parseExperiment(kube(''), 'k.yaml').kubernetes!.level).toBe('stated')
  })

  it('refuses a level for an unknown neighbour, a level named like the experiment\'s own, and an unknown QoS class, each at its line', () => {
    const unknown = issuesOf(kube(`  levels:
    besteffort:
      neighbors: {web: {selector: app=web}}`))
    expect(unknown.map((i) => i.message).join('\n')).toContain('no neighbour is named "web" (neighbours: api)')
    expect(unknown[0].line).toBe(9)
    const clash = issuesOf(kube(`  level: stated
  levels:
    stated: {target: {selector: app=x}}`))
    expect(clash.map((i) => i.message).join('\n')).toContain('level stated is the experiment\'s own pods')
    const qos = issuesOf(kube('', '{namespace: shop, selector: app=worker, isolation: {qos: Gold}}'))
    expect(qos[0].path).toContain('qos')
  })
})
