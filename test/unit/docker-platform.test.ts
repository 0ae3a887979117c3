// The Docker platform's pure parts: finding a container's cgroups from /proc/PID/cgroup (v1 and v2, cgroupfs and
// systemd drivers), the engine address, and the schema's platform-specific keys. The engine itself is exercised
// for real in test/integration/docker-*.test.ts.
import {describe, expect, it} from 'vitest'

import {parseExperiment} from '../../src/experiment/load.js'
import type {CgroupLayout} from '../../src/host/cgroupfs.js'
import {parseProcCgroup} from '../../src/platforms/docker/cgroups.js'
import {engineAddress, engineProblem} from '../../src/platforms/docker/engine.js'

const v1: CgroupLayout = {
  version: 1, root: '/sys/fs/cgroup',
  mounts: {cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory', cpuset: '/sys/fs/cgroup/cpuset', pids: '/sys/fs/cgroup/pids', blkio: '/sys/fs/cgroup/blkio'},
}

describe('a container\'s cgroups from /proc/PID/cgroup', () => {
  it('cgroup v1, cgroupfs driver: one directory per hierarchy under /docker/ID', () => {
    const text = ['9:name=systemd:/docker/abc', '8:pids:/docker/abc', '7:blkio:/docker/abc', '6:freezer:/docker/abc', '4:memory:/docker/abc',
      '3:cpuset:/docker/abc', '2:cpuacct:/docker/abc', '1:cpu:/docker/abc', '0::/docker/abc'].join('\n')
    const found = parseProcCgroup(text, v1)!
    expect(found.path).toBe('/docker/abc')
    expect(found.paths).toEqual({
      version: 1, cpu: '/sys/fs/cgroup/cpu/docker/abc', cpuacct: '/sys/fs/cgroup/cpuacct/docker/abc', memory: '/sys/fs/cgroup/memory/docker/abc',
      cpuset: '/sys/fs/cgroup/cpuset/docker/abc', pids: '/sys/fs/cgroup/pids/docker/abc', blkio: '/sys/fs/cgroup/blkio/docker/abc',
    })
    expect(found.dirs).toHaveLength(6)
  })

  it('cgroup v1 with a shared parent (HostConfig.CgroupParent) and co-mounted cpu,cpuacct', () => {
    const layout: CgroupLayout = {version: 1, root: '/sys/fs/cgroup', mounts: {cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory'}}
    const found = parseProcCgroup('5:cpu,cpuacct:/chaos-1a2b3c4d/shared/abc\n4:memory:/chaos-1a2b3c4d/shared/abc\n', layout)!
    expect(found.dirs).toEqual(['/sys/fs/cgroup/cpu,cpuacct/chaos-1a2b3c4d/shared/abc', '/sys/fs/cgroup/memory/chaos-1a2b3c4d/shared/abc'])
    expect(found.path).toBe('/chaos-1a2b3c4d/shared/abc')
  })

  it('cgroup v2, systemd driver: the unified path of the container\'s scope', () => {
    const found = parseProcCgroup('0::/system.slice/docker-abc.scope\n', {version: 2, root: '/sys/fs/cgroup'})!
    expect(found).toEqual({dirs: ['/sys/fs/cgroup/system.slice/docker-abc.scope'], paths: {version: 2, dir: '/sys/fs/cgroup/system.slice/docker-abc.scope'}, path: '/system.slice/docker-abc.scope'})
  })

  it('nothing recognisable: undefined', () => {
    expect(parseProcCgroup('', v1)).toBeUndefined()
    expect(parseProcCgroup('1:name=systemd:/x\n', {version: 2, root: '/sys/fs/cgroup'})).toBeUndefined()
  })
})

describe('the engine address', () => {
  it('defaults to the local socket; a unix DOCKER_HOST is local, a tcp one is remote', () => {
    expect(engineAddress({})).toMatchObject({socketPath: '/var/run/docker.sock', local: true})
    expect(engineAddress({DOCKER_HOST: 'unix:///run/user/0/docker.sock'})).toMatchObject({socketPath: '/run/user/0/docker.sock', local: true})
    expect(engineAddress({DOCKER_HOST: 'tcp://10.0.0.5:2376'})).toMatchObject({url: 'tcp://10.0.0.5:2376', local: false})
  })

  it('a socket that does not exist is a clear problem, found without asking anything', async () => {
    expect(await engineProblem(500, {DOCKER_HOST: 'unix:///nonexistent/docker.sock'})).toBe('no Docker engine socket at /nonexistent/docker.sock (dockerd is not running)')
  })
})

const docker = (workflow: string, level = 'container') => `
apiVersion: chaos/v1
kind: Experiment
metadata: {name: d}
platform: docker
target:
  name: worker
${workflow}
  isolation: {level: ${level}, memory: 128Mi}
neighbors:
  - {name: api, image: chaos-demo:local, ports: [19202, "19203:8080"], probe: {http: {url: "http://127.0.0.1:19202/work"}}}
fault: {type: cpu-hog}
phases: {baseline: 5s, inject: 5s}
hypothesis: [{signal: error_rate, max: 1%}]
`

describe('the schema for platform docker', () => {
  it('takes image (with run as its command) or container, ports, and level container', () => {
    const e = parseExperiment(docker('  image: chaos-demo:local\n  run: [chaos, workload, --port, "1"]'), 'd.yaml')
    expect(e.platform).toBe('docker')
    expect(e.target.image).toBe('chaos-demo:local')
    expect(e.neighbors[0].ports).toEqual([19202, '19203:8080'])
    expect(parseExperiment(docker('  container: my-app', 'none').replace(', memory: 128Mi', ''), 'd.yaml').target.container).toBe('my-app')
  })

  it('refuses the process platform\'s words on docker, and docker\'s on process', () => {
    expect(() => parseExperiment(docker('  run: [chaos, workload]'), 'd.yaml')).toThrow(/give image: too/)
    expect(() => parseExperiment(docker('  pid: 1'), 'd.yaml')).toThrow(/pid is for platform process/)
    expect(() => parseExperiment(docker('  image: x', 'cgroup'), 'd.yaml')).toThrow(/the levels are none, shared and container/)
    expect(() => parseExperiment(docker('  image: x').replace('platform: docker', 'platform: process'), 'd.yaml')).toThrow(/image is for platform docker/)
    expect(() => parseExperiment(docker('  image: x\n  container: y'), 'd.yaml')).toThrow(/only one of .*got image and container/)
  })
})
