// A network flood from the target: stressors in the target's box (and its network namespace, when it has one)
// sending to a sink the experiment starts, or to a destination the experiment explicitly allows. Never anywhere
// else: loopback, the experiment's own namespaces, or safety.allowHosts.
//
// Or toward it (direction receive): the roles swap. A receiver runs in the target's box and namespace, and a source
// the toolkit starts in the sink's place (its namespace; charged to the target's box, as the sink is: the far end
// is part of the fault) floods it, so the target's receive path (softirq, socket buffers, its own reads) is the one
// saturated. The dose is what the target's receiver read; its link's ingress limit is the far end's egress tbf.
import {BlockList, isIP} from 'node:net'

import {formatBitRate} from '../experiment/units.js'
import type {Experiment} from '../experiment/schema.js'
import type {FloodEndpoint} from '../platforms/capabilities.js'
import {capabilityOf, PlanError} from '../platforms/platform.js'
import type {FloodParams, SinkParams} from '../stressors/protocol.js'
import type {StressorHandle} from '../stressors/spawn.js'
import {type ActiveFault, type FaultDriver, efficacyOf} from './fault.js'

type NetworkFloodSpec = Extract<import('../experiment/schema.js').FaultSpec, {type: 'network-flood'}>

/**
 * The null dose's rate: the smallest at which the paced flood still sends its smallest chunk (1 KiB) every 10 ms.
 * The schema's floor (8 kbit/s) would send one chunk a second, so a block of a second or two delivers 0 or 2 chunks
 * and the dose would land or not by luck.
 */
export const NULL_FLOOD_BITS_PER_SECOND = 1024 * 8 * 100

/** A flood that delivers less than this was not a flood: the dose did not land. */
const MIN_UNBOUNDED_BITS_PER_SECOND = 50e6

export function destinationAllowed(host: string, experiment: Experiment): boolean {
  const family = isIP(host)
  if (family === 0) return false
  const allowed = new BlockList()
  allowed.addSubnet('127.0.0.0', 8, 'ipv4')
  allowed.addAddress('::1', 'ipv6')
  for (const entry of experiment.safety.allowHosts) {
    const [address, bits] = entry.split('/')
    const entryFamily = isIP(address)
    if (entryFamily === 0) continue
    const type = entryFamily === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) allowed.addAddress(address, type)
    else allowed.addSubnet(address, Number(bits), type)
  }
  return allowed.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

export const networkFlood: FaultDriver<NetworkFloodSpec> = {
  type: 'network-flood',

  nullDose: (spec) => ({...spec, rate: NULL_FLOOD_BITS_PER_SECOND, connections: 1}),

  guard(spec, experiment, platform) {
    // what the platform cannot flood from (its target's shape) is refused first, as the platform's own word
    const flood = capabilityOf(platform, 'flood', 'network-flood')
    flood.checkFlood?.()
    if (spec.direction === 'receive' && !flood.floodsTowardTarget) {
      throw new PlanError(`network-flood direction receive: the ${platform.name} platform cannot yet place a source in the sink's place and a receiver in the target; the process, docker and host platforms can`)
    }
    if (spec.direction === 'receive') {
      return `network-flood: ${spec.protocol} x${spec.connections} from the experiment's source to a receiver in the target at ${spec.rate ? formatBitRate(spec.rate) : 'full speed'}`
    }
    if (spec.destination !== 'sink' && !destinationAllowed(spec.destination.host, experiment)) {
      throw new PlanError(`network-flood destination ${spec.destination.host} is not allowed: floods go to loopback, the experiment's own sink, or addresses listed in safety.allowHosts (literal IPs or CIDRs)`)
    }
    const where = spec.destination === 'sink' ? 'the experiment\'s sink' : `${spec.destination.host}:${spec.destination.port}`
    return `network-flood: ${spec.protocol} x${spec.connections} to ${where} at ${spec.rate ? formatBitRate(spec.rate) : 'full speed'}`
  },

  plan(spec, experiment, platform) {
    const network = experiment.target.isolation.network
    const route = capabilityOf(platform, 'flood', 'network-flood').floodRoute?.() ?? (network ? `through the target's own link (tbf ${formatBitRate(network.rate)} on its ${spec.direction === 'receive' ? 'ingress' : 'egress'})` : 'on the host\'s loopback')
    return `${this.guard(spec, experiment, platform)}, ${route}, charged to ${platform.target.boundary}`
  },

  async start(spec, ctx) {
    const endpoint = capabilityOf(ctx.platform, 'flood', 'network-flood').flood()
    if (spec.direction === 'receive') return startReceive(spec, ctx, endpoint)
    let sink: StressorHandle | undefined
    let host: string
    let port: number
    if (spec.destination === 'sink') {
      const sinkParams: SinkParams = {host: endpoint.sinkHost, port: 0, protocol: spec.protocol}
      sink = ctx.launchStressor({kind: 'sink', params: sinkParams, deadline: ctx.deadline, where: 'sink'})
      const ready = await sink.ready
      host = endpoint.sinkHost
      port = ready.port!
    } else {
      ({host, port} = spec.destination)
    }
    const params: FloodParams = {host, port, protocol: spec.protocol, rate: spec.rate, connections: spec.connections}
    const flood = ctx.launchStressor({kind: 'flood', params, deadline: ctx.deadline, where: 'target'})
    await flood.ready
    const startedAt = Date.now()
    const delivered = () => sink?.latest()?.bytes ?? flood.latest()?.bytes ?? 0
    return {
      progress: () => `sending ${formatBitRate((delivered() * 8) / Math.max(0.001, (Date.now() - startedAt) / 1000))}`,
      async stop() {
        await Promise.all([flood.stop(), sink?.stop()])
      },
      efficacy: (window) => floodEfficacy(spec, window, delivered(), endpoint.inNamespace ? endpoint.egressLimit : undefined, '',
        (achieved, what) => `${achieved} delivered (${what}), ${Math.round((flood.latest()?.bytes ?? 0) / 1e6)} MB sent`),
    } satisfies ActiveFault
  },
}

/** The receive direction: a receiver in the target's place, flooded by a source in the sink's place. */
async function startReceive(spec: NetworkFloodSpec, ctx: Parameters<FaultDriver<NetworkFloodSpec>['start']>[1], endpoint: FloodEndpoint): Promise<ActiveFault> {
  const host = endpoint.targetHost
  if (!host) throw new PlanError(`network-flood direction receive: the ${ctx.platform.name} platform gave no address for a receiver in the target`)
  const receiver = ctx.launchStressor({kind: 'sink', params: {host, port: 0, protocol: spec.protocol} satisfies SinkParams, deadline: ctx.deadline, where: 'target'})
  const {port} = await receiver.ready
  let source: StressorHandle | undefined
  try {
    source = ctx.launchStressor({kind: 'flood', params: {host, port: port!, protocol: spec.protocol, rate: spec.rate, connections: spec.connections} satisfies FloodParams, deadline: ctx.deadline, where: 'sink'})
    await source.ready
  } catch (error) {
    await Promise.all([receiver.stop(), source?.stop()])
    throw error
  }
  const startedAt = Date.now()
  const received = () => receiver.latest()?.bytes ?? 0
  return {
    progress: () => `the target receiving ${formatBitRate((received() * 8) / Math.max(0.001, (Date.now() - startedAt) / 1000))}`,
    async stop() {
      await Promise.all([source!.stop(), receiver.stop()])
    },
    efficacy: (window) => floodEfficacy(spec, window, received(), endpoint.inNamespace ? endpoint.ingressLimit : undefined, ' inbound',
      (achieved, what) => `${achieved} received by the target (${what}), ${Math.round((source!.latest()?.bytes ?? 0) / 1e6)} MB sent to it`),
  }
}

/**
 * Whether a flood's dose landed: the bits counted at its receiving end over the window against the rate asked, or the
 * target's link limit in the flood's direction, or, unbounded on loopback, the floor that makes it a flood at all.
 */
function floodEfficacy(spec: NetworkFloodSpec, window: {startedAt: number, endedAt: number}, bytes: number, limit: number | undefined, way: string, note: (achieved: string, what: string) => string) {
  const seconds = (window.endedAt - window.startedAt) / 1000
  const achieved = (bytes * 8) / seconds
  const asked = spec.rate !== undefined ? Math.min(spec.rate, limit ?? Infinity) : limit ?? MIN_UNBOUNDED_BITS_PER_SECOND
  const what = spec.rate !== undefined ? `${formatBitRate(spec.rate)} asked` : limit ? `unbounded, capped by the target's link at ${formatBitRate(limit)}${way}` : 'unbounded'
  return efficacyOf(asked, achieved, 'bits/s', note(formatBitRate(achieved), what), spec.rate !== undefined || limit ? 0.9 : 1)
}
