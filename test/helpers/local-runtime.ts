// A pod's containers as real local processes, for the tests' two stand-ins of a kubelet: the fake API server's
// runtime (fake-kube-api.ts) and the test node agent that serves a real kube-apiserver (node-agent.ts). The image
// is ignored; a command starting with "chaos" runs this checkout's bin/run.js. Each container runs in a cgroup of its
// own, <root>/pod<uid>/<id>, with its resources.limits applied and joined before exec (as runc does), so that a helper
// pod really finds and joins the target container's cgroup by its id, and an OOM kill in it is the kernel's.
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import type {ServerResponse} from 'node:http'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Cgroup, type CgroupLayout} from '../../src/host/cgroupfs.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any

/**
 * A pod annotated so gets a network namespace of its own (loopback only), shared by its containers and ephemeral
 * containers, as a real pod's sandbox is. Other pods stay on the host's network, so a probe can reach them on
 * 127.0.0.1 (neither stand-in has a pod network).
 */
export const OWN_NETNS_ANNOTATION = 'fake.chaos.test/own-netns'

export interface RunningContainer {
  name: string
  containerId: string
  cgroup?: Cgroup
  child?: ChildProcess
  /** stdout and stderr together, the last MB: what the kubelet's log would hold */
  log: string
  /** responses following the log (follow=true) */
  followers: Set<ServerResponse>
  startedAt: string
  ended: boolean
  ephemeral: boolean
  stopping?: boolean
  lastCpu?: {t: number, seconds: number}
}

export interface ContainerExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** the kernel's OOM killer ended it: its cgroup counts an oom_kill */
  oom: boolean
  finishedAt: string
}

export function now(): string {
  return new Date().toISOString()
}

/** A pod's conditions as the kubelet writes them: scheduled and initialized, ready or not. */
export function conditions(ready: boolean, at = now()): Json[] {
  const r = ready ? 'True' : 'False'
  return [
    {type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: at},
    {type: 'Initialized', status: 'True', lastTransitionTime: at},
    {type: 'Ready', status: r, lastTransitionTime: at},
    {type: 'ContainersReady', status: r, lastTransitionTime: at},
    {type: 'PodScheduled', status: 'True', lastTransitionTime: at},
  ]
}

export function containerIdOf(): string {
  return randomBytes(32).toString('hex')
}

/** The pod's own cgroup, with the sum of its containers' limits when every container states one (as the kubelet's). */
export function createPodBox(layout: CgroupLayout, path: string, containers: Json[]): Cgroup {
  const box = new Cgroup(layout, path)
  box.create()
  const limits = containers.map((c: Json) => c.resources?.limits ?? {})
  if (limits.every((l: Json) => l.cpu !== undefined)) box.applyLimits({cpus: limits.reduce((s: number, l: Json) => s + parseCpu(l.cpu), 0)})
  if (limits.every((l: Json) => l.memory !== undefined)) box.applyLimits({memory: limits.reduce((s: number, l: Json) => s + parseQuantity(l.memory), 0)})
  return box
}

/** A network namespace of the pod's own (loopback up), as a pod sandbox's: its containers share it. */
export function createPodNetns(prefix: string): string {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`
  execFileSync('ip', ['netns', 'add', name])
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  return name
}

export function deletePodNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name])
  } catch { /* already gone */ }
}

/** A volume bound into a container's own mount namespace at its mount path, as a kubelet's runtime does. */
export interface ContainerMount {
  source: string
  target: string
  readOnly: boolean
}

/**
 * Starts one container of a pod in its cgroup at `cgroupPath` (created here, with the container's limits). onExit is
 * called once the process has ended and its output is read (or a moment later, if a descendant keeps the pipes open),
 * unless the container was being stopped.
 */
export function launchContainer(o: {layout: CgroupLayout, cgroupPath: string, spec: Json, id: string, ephemeral: boolean, netns?: string, mounts?: ContainerMount[], env?: Record<string, string>, onExit: (exit: ContainerExit) => void, who?: string}): RunningContainer {
  const c = o.spec
  const box = new Cgroup(o.layout, o.cgroupPath)
  box.create()
  const limits = c.resources?.limits ?? {}
  if (limits.cpu !== undefined) box.applyLimits({cpus: parseCpu(limits.cpu)})
  if (limits.memory !== undefined) box.applyLimits({memory: parseQuantity(limits.memory)})
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])]
  const inPod = argv[0] === 'chaos' ? [process.execPath, join(REPO, 'bin', 'run.js'), ...argv.slice(1)] : argv
  const inNetns = o.netns ? ['ip', 'netns', 'exec', o.netns, ...inPod] : inPod
  // volumes: bound in a mount namespace of the container's own (private propagation), so this machine sees none of
  // them; every mount point must exist (node-agent.ts creates the missing ones)
  const mounts = o.mounts ?? []
  const command = mounts.length === 0 ? inNetns : [
    'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c',
    'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 125; [ "$3" = ro ] && { mount -o remount,bind,ro "$2" || exit 125; }; shift 3; done; shift; exec "$@"',
    'local-mounts', ...mounts.flatMap((m) => [m.source, m.target, m.readOnly ? 'ro' : 'rw']), '--', ...inNetns,
  ]
  // with an environment given, the container's is that and its spec's alone, as a container's is (nothing of this
  // process's, such as a KUBECONFIG, leaks in); PATH and HOME as an image would set them
  const base = o.env ? {PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...o.env} : process.env
  const env = {...base, ...Object.fromEntries((c.env ?? []).map((e: Json) => [e.name, e.value ?? '']))}
  // join the container's cgroup before exec, as runc does
  const child = spawn('/bin/sh', ['-c', 'while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"', 'local-runc', ...box.dirs(), '--', ...command], {env, stdio: ['ignore', 'pipe', 'pipe']})
  const rc: RunningContainer = {name: c.name, containerId: `containerd://${o.id}`, cgroup: box, child, log: '', followers: new Set(), startedAt: now(), ended: false, ephemeral: o.ephemeral}
  const onData = (chunk: Buffer) => {
    const text = chunk.toString()
    rc.log = (rc.log + text).slice(-1_000_000)
    for (const f of rc.followers) f.write(text)
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  // 'exit' can come before the last output is read: the kubelet's log has all of it, so the container ends once its
  // pipes are drained too
  const drained = Promise.all([child.stdout!, child.stderr!].map((stream) => new Promise<void>((resolve) => {
    if (stream.readableEnded || stream.destroyed) resolve()
    stream.once('close', resolve)
    stream.once('end', resolve)
  })))
  child.on('exit', async (code, signal) => {
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1000).unref())])
    rc.ended = true
    for (const f of rc.followers) f.end()
    rc.followers.clear()
    if (rc.stopping) return
    try {
      o.onExit({code, signal, oom: signal === 'SIGKILL' && oomKilled(box), finishedAt: now()})
    } catch (error) {
      // a bug here must not take the test process (and with it the cleanup of these processes) down
      process.stderr.write(`${o.who ?? 'local runtime'}: ${(error as Error).stack}\n`)
    }
  })
  return rc
}

/** Stops a container as the kubelet does (SIGTERM, SIGKILL after the grace period) and removes its cgroup. */
export async function stopContainer(rc: RunningContainer, graceMs = 2000): Promise<void> {
  rc.stopping = true
  const child = rc.child
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  await rc.cgroup?.remove()
}

/** A container's terminated state as the kubelet reports it. */
export function terminatedState(rc: RunningContainer, exit: ContainerExit): Json {
  return {
    exitCode: exit.code ?? 128 + 9, ...(exit.signal ? {signal: 9} : {}),
    reason: exit.oom ? 'OOMKilled' : exit.code === 0 ? 'Completed' : 'Error',
    startedAt: rc.startedAt, finishedAt: exit.finishedAt, containerID: rc.containerId,
  }
}

/** Writes a container's log to a response; with follow, keeps it open until the container ends. */
export function serveContainerLog(res: ServerResponse, rc: RunningContainer, follow: boolean): void {
  res.writeHead(200, {'content-type': 'text/plain', 'transfer-encoding': 'chunked'})
  res.write(rc.log)
  if (!follow || rc.ended) return void res.end()
  rc.followers.add(res)
  res.on('close', () => rc.followers.delete(res))
}

export function oomKilled(box: Cgroup): boolean {
  const paths = box.paths()
  const file = paths.version === 2 ? join(paths.dir, 'memory.events') : paths.memory ? join(paths.memory, 'memory.oom_control') : undefined
  try {
    const count = file !== undefined && existsSync(file) ? /oom_kill (\d+)/.exec(readFileSync(file, 'utf8'))?.[1] : undefined
    return count !== undefined && Number(count) > 0
  } catch {
    return false
  }
}

export function parseCpu(q: string | number): number {
  const text = String(q)
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text)
}

export function parseQuantity(q: string | number): number {
  const m = /^([\d.]+)([EPTGMK]i?|[mk])?$/.exec(String(q))
  if (!m) return NaN
  const mult: Record<string, number> = {Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3}
  return Number(m[1]) * (m[2] ? mult[m[2]] ?? 1 : 1)
}
