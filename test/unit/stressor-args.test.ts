import {describe, expect, it} from 'vitest'
import {parseStressorArgv, UsageError} from '../../src/stressors/args.js'
import {stressorArgv, type StressorArgs} from '../../src/stressors/protocol.js'

const base = {runId: 'a1b2c3d4', deadline: 1_800_000_000_000, parent: 4242, cgroups: [] as string[]}

describe('parseStressorArgv', () => {
  const examples: StressorArgs[] = [
    {...base, kind: 'memory', params: {rate: 64 * 2 ** 20, limit: 2 ** 30, hold: true}},
    {...base, kind: 'cpu', cgroups: ['/sys/fs/cgroup/cpu/chaos-x', '/sys/fs/cgroup/cpuacct/chaos-x'], params: {workers: 2, loadPerWorker: 0.5}},
    {...base, kind: 'disk', params: {dir: '/var/tmp', bytes: 10 * 2 ** 20, rate: 2 ** 20, mode: 'write'}},
    {...base, kind: 'disk', params: {dir: '/var/tmp', bytes: 0, mode: 'fallocate'}},
    {...base, kind: 'disk', params: {dir: '/var/tmp', bytes: 1, mode: 'write', keepFree: 0.1}},
    {...base, kind: 'flood', params: {host: '127.0.0.1', port: 9000, protocol: 'udp', rate: 1e8, connections: 4}},
    {...base, kind: 'sink', params: {host: '::1', port: 0, protocol: 'tcp'}},
  ]
  it.each(examples)('reads back what stressorArgv wrote ($kind)', (args) => {
    expect(parseStressorArgv(stressorArgv(args))).toEqual(args)
  })

  it('fills in defaults the protocol allows to be omitted', () => {
    const args = parseStressorArgv(['flood', '--run', 'r', '--deadline', '1', '--parent', '1', '--params', '{"host":"127.0.0.1","port":1,"connections":1}'])
    expect(args.params).toEqual({host: '127.0.0.1', port: 1, protocol: 'tcp', rate: undefined, connections: 1})
  })

  const argv = (kind: string, params: unknown, extra: string[] = []) =>
    [kind, '--run', 'r1', '--deadline', '1000', '--parent', '1', ...extra, '--params', JSON.stringify(params)]

  it.each([
    ['an unknown kind', argv('fork-bomb', {})],
    ['a missing value', ['cpu', '--run']],
    ['an unknown option', argv('cpu', {workers: 1, loadPerWorker: 1}, ['--nice', '5'])],
    ['a run id with a slash', ['cpu', '--run', '../etc', '--deadline', '1', '--parent', '1', '--params', '{}']],
    ['a negative deadline', ['cpu', '--run', 'r', '--deadline', '-5', '--parent', '1', '--params', '{}']],
    ['parent 0', ['cpu', '--run', 'r', '--deadline', '5', '--parent', '0', '--params', '{}']],
    ['a relative cgroup', argv('cpu', {workers: 1, loadPerWorker: 1}, ['--cgroup', 'chaos-x'])],
    ['params that are not JSON', ['cpu', '--run', 'r', '--deadline', '5', '--parent', '1', '--params', '{workers']],
    ['params that are an array', argv('cpu', [1])],
    ['a load above one core', argv('cpu', {workers: 1, loadPerWorker: 1.5})],
    ['fractional workers', argv('cpu', {workers: 1.5, loadPerWorker: 0.5})],
    ['a zero memory rate', argv('memory', {rate: 0, limit: 10, hold: true})],
    ['a string limit', argv('memory', {rate: 10, limit: '1Gi', hold: true})],
    ['a relative disk dir', argv('disk', {dir: 'tmp', bytes: 1, mode: 'write'})],
    ['an unknown disk mode', argv('disk', {dir: '/tmp', bytes: 1, mode: 'dd'})],
    ['a floor above the whole disk', argv('disk', {dir: '/tmp', bytes: 1, mode: 'write', keepFree: 1.5})],
    ['port 70000', argv('flood', {host: '127.0.0.1', port: 70000, connections: 1})],
    ['flood port 0', argv('flood', {host: '127.0.0.1', port: 0, connections: 1})],
    ['no connections', argv('flood', {host: '127.0.0.1', port: 80, connections: 0})],
    ['an unknown protocol', argv('sink', {host: '127.0.0.1', port: 0, protocol: 'sctp'})],
  ])('refuses %s', (_what, args) => {
    expect(() => parseStressorArgv(args)).toThrow(UsageError)
  })

  it('requires each of --run, --deadline, --parent and --params', () => {
    const full = argv('cpu', {workers: 1, loadPerWorker: 1})
    for (const flag of ['--run', '--deadline', '--parent', '--params']) {
      const index = full.indexOf(flag)
      const without = [...full.slice(0, index), ...full.slice(index + 2)]
      expect(() => parseStressorArgv(without)).toThrow(`${flag} is required`)
    }
  })
})
