// Network namespaces on this host (made by the process platform, removed by rollback): the target gets a
// namespace of its own, linked by a veth pair to a second namespace that holds the experiment's sink. Flood traffic then only ever travels between two
// namespaces the experiment created, and a tbf qdisc on the target's end is its egress limit.
import {run, runOrThrow} from './exec.js'

export interface NetnsLink {
  /** the target's namespace and interface */
  targetNs: string
  targetIf: string
  targetAddress: string
  /** the sink's namespace and interface */
  sinkNs: string
  sinkIf: string
  sinkAddress: string
}

/** Link-local /30 per run: never routed beyond the two namespaces. */
export function linkAddresses(index: number): {target: string, sink: string} {
  const third = 200 + (index % 50)
  return {target: `169.254.${third}.1`, sink: `169.254.${third}.2`}
}

/** The file of a named namespace; a container's namespace is reached by its own path (/proc/PID/ns/net). */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`
}

/**
 * The command prefix that runs a command in the namespace at this path. nsenter switches only the network
 * namespace; `ip netns exec` would also remount /sys, hiding the cgroup hierarchies that the process must still be
 * able to join.
 */
export function enterNetns(path: string): string[] {
  return ['nsenter', `--net=${path}`, '--']
}

function runInNetns(path: string, command: string[]): Promise<string> {
  const [program, ...args] = [...enterNetns(path), ...command]
  return runOrThrow(program, args)
}

/** Runs a command in a named namespace (see enterNetns). */
export function netnsPrefix(name: string): string[] {
  return enterNetns(netnsPath(name))
}

export async function createNetns(name: string): Promise<void> {
  await runOrThrow('ip', ['netns', 'add', name])
  await runOrThrow('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
}

export async function linkNamespaces(link: NetnsLink): Promise<void> {
  await runOrThrow('ip', ['link', 'add', link.targetIf, 'netns', link.targetNs, 'type', 'veth', 'peer', 'name', link.sinkIf, 'netns', link.sinkNs])
  await runOrThrow('ip', ['-n', link.targetNs, 'addr', 'add', `${link.targetAddress}/30`, 'dev', link.targetIf])
  await runOrThrow('ip', ['-n', link.sinkNs, 'addr', 'add', `${link.sinkAddress}/30`, 'dev', link.sinkIf])
  await runOrThrow('ip', ['-n', link.targetNs, 'link', 'set', link.targetIf, 'up'])
  await runOrThrow('ip', ['-n', link.sinkNs, 'link', 'set', link.sinkIf, 'up'])
}

/**
 * Token bucket filter on the interface's egress: the namespace's bandwidth limit. The namespace is given by its path;
 * without one, the interface is in the toolkit's own namespace (the host's end of a container's veth).
 */
export async function limitEgress(nsPath: string | undefined, ifname: string, bitsPerSecond: number): Promise<void> {
  const rate = `${Math.round(bitsPerSecond / 1000)}kbit`
  // a burst of at least one jiffy's worth of bytes at this rate, and a queue of ~50 ms
  const burst = Math.max(32 * 1024, Math.round(bitsPerSecond / 8 / 250))
  const tc = ['tc', 'qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', rate, 'burst', String(burst), 'latency', '50ms']
  if (nsPath) await runInNetns(nsPath, tc)
  else await runOrThrow(tc[0], tc.slice(1))
}

/**
 * The toolkit's own end of a veth whose other end is ifname in the namespace at nsPath (a container's eth0 and the
 * host's vethXXXX on the container's bridge): its egress is the container's ingress.
 */
export async function vethPeerHere(nsPath: string, ifname: string): Promise<string> {
  const [inside] = JSON.parse(await runInNetns(nsPath, ['ip', '-j', 'link', 'show', 'dev', ifname])) as {link_index?: number}[]
  if (inside?.link_index === undefined) throw new Error(`${ifname} in ${nsPath} is not one end of a veth pair`)
  const here = JSON.parse(await runOrThrow('ip', ['-j', 'link', 'show'])) as {ifindex: number, ifname: string}[]
  const peer = here.find((l) => l.ifindex === inside.link_index)
  if (!peer) throw new Error(`the other end of ${ifname} in ${nsPath} (interface ${inside.link_index}) is not in this namespace`)
  return peer.ifname
}

/** Interface byte counters inside a namespace, given by its path (what crossed the link, whoever sent it). */
export async function interfaceBytes(nsPath: string, ifname: string): Promise<{tx: number, rx: number}> {
  const out = await runInNetns(nsPath, ['ip', '-s', '-j', 'link', 'show', 'dev', ifname])
  const [info] = JSON.parse(out) as {stats64?: {tx: {bytes: number}, rx: {bytes: number}}}[]
  return {tx: info?.stats64?.tx.bytes ?? 0, rx: info?.stats64?.rx.bytes ?? 0}
}

/** Kills what still runs in the namespace, then deletes it (its veth end goes with it). */
export async function deleteNetns(name: string): Promise<boolean> {
  const pids = await run('ip', ['netns', 'pids', name])
  for (const pid of pids.stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch { /* gone */ }
  }
  const result = await run('ip', ['netns', 'delete', name])
  return result.code === 0 || /No such file/.test(result.stderr)
}

export async function listNetns(): Promise<string[]> {
  const result = await run('ip', ['netns', 'list'])
  return result.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean)
}
