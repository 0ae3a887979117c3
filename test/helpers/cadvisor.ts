// A real cAdvisor for the tests: google/cadvisor v0.61.1's manager, handlers and Prometheus collector, embedded as the
// kubelet embeds them, in a main of the project's own (scripts/kube/cadvisor/main.go; upstream's cmd module is not on
// the Go module proxy). scripts/kube/build.sh builds it from the proxy (about a minute cold) or reuses the cached
// binary, as test/helpers/kube-apiserver.ts does for kube-apiserver. It serves /metrics on a free loopback port; stop()
// ends the process (it creates no file, cgroup or container of its own).
import {execFileSync, spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {freePort} from './prometheus-server.js'

const BUILD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'kube', 'build.sh')

export interface CadvisorOptions {
  /** register cAdvisor's docker handler (endpoint unix:///var/run/docker.sock): containers get name, image, labels */
  docker?: boolean
  /** the kubelet's labels (pod, namespace, container) from this JSON file, keyed by cgroup name (see main.go) */
  labelsFile?: string
  /** --housekeeping_interval; the kubelet's 10s by default, '1s' for a test that must not wait */
  housekeeping?: string
  /**
   * --raw_cgroup_prefix_whitelist: the raw cgroups collected besides "/" (Docker's are the docker handler's and
   * always collected when docker is on). Empty is every cgroup on the machine, which costs cAdvisor more CPU.
   */
  rawPrefixes?: string[]
}

export interface Cadvisor {
  url: string
  port: number
  pid: number
  /** stderr's last 8 KB (klog) */
  log(): string
  stop(): Promise<void>
}

/** The binary's path: built or reused by scripts/kube/build.sh (its CADVISOR= line). */
export function cadvisorBinary(): string {
  const out = execFileSync('bash', [BUILD, 'cadvisor'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000})
  const line = out.split('\n').find((l) => l.startsWith('CADVISOR='))
  if (!line) throw new Error(`scripts/kube/build.sh printed no CADVISOR= line:\n${out}`)
  return line.slice('CADVISOR='.length).trim()
}

export async function startCadvisor(options: CadvisorOptions = {}): Promise<Cadvisor> {
  const binary = cadvisorBinary()
  const port = await freePort()
  const args = [
    '--listen_ip', '127.0.0.1', '--port', String(port),
    '--housekeeping_interval', options.housekeeping ?? '10s',
    // every container at every interval: a test reads counters that must move within seconds
    '--allow_dynamic_housekeeping=false',
    '--raw_cgroup_prefix_whitelist', (options.rawPrefixes ?? []).join(','),
    '--docker', options.docker ? 'unix:///var/run/docker.sock' : '',
    '--v', '1',
  ]
  if (options.labelsFile) args.push('--labels-file', options.labelsFile)
  const child = spawn(binary, args, {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
  let gone = false
  void exited.then(() => (gone = true))
  const deadline = Date.now() + 30_000
  while (!gone && Date.now() < deadline) {
    const response = await fetch(`${url}/metrics`, {signal: AbortSignal.timeout(2000)}).catch(() => undefined)
    // the root container is there once the manager has started: metrics that mean something
    if (response?.ok && (await response.text()).includes('container_last_seen{')) {
      return {url, port, pid: child.pid!, log: () => stderr, stop}
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  await stop()
  throw new Error(`cAdvisor (${binary}) did not serve /metrics on port ${port} within 30 s${gone ? ` (it exited: ${child.exitCode ?? child.signalCode})` : ''}:\n${stderr}`)
}
