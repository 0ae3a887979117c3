// A network flood from the target: stressors in the target's box (and its network namespace, when it has one)
// sending to a sink the experiment starts, or to a destination the experiment explicitly allows. Never anywhere
// else: loopback, the experiment's own namespaces, or safety.allowHosts.
import {BlockList, isIP} from 'node:net'

import {formatBitRate} from '../experiment/units.js'
import type {Experiment} from '../experiment/schema.js'
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
    capabilityOf(platform, 'flood', 'network-flood').checkFlood?.()
    if (spec.destination !== 'sink' && !destinationAllowed(spec.destination.host, experiment)) {
      throw new PlanError(`network-flood destination ${spec.destination.host} is not allowed: floods go to loopback, the experiment's own sink, or addresses listed in safety.allowHosts (literal IPs or CIDRs)`)
    }
    const where = spec.destination === 'sink' ? 'the experiment\'s sink' : `${spec.destination.host}:${spec.destination.port}`
    return `network-flood: ${spec.protocol} x${spec.connections} to ${where} at ${spec.rate ? formatBitRate(spec.rate) : 'full speed'}`
  },

  plan(spec, experiment, platform) {
    const network = experiment.target.isolation.network
    const route = capabilityOf(platform, 'flood', 'network-flood').floodRoute?.() ?? (network ? `through the target's own link (tbf ${formatBitRate(network.rate)})` : 'on the host\'s loopback')
    return `${this.guard(spec, experiment, platform)}, ${route}, charged to ${platform.target.boundary}`
  },

  async start(spec, ctx) {
    const endpoint = capabilityOf(ctx.platform, 'flood', 'network-flood').flood()
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
      efficacy(window) {
        const seconds = (window.endedAt - window.startedAt) / 1000
        const achieved = (delivered() * 8) / seconds
        const limit = endpoint.inNamespace ? endpoint.egressLimit : undefined
        const asked = spec.rate !== undefined ? Math.min(spec.rate, limit ?? Infinity) : limit ?? MIN_UNBOUNDED_BITS_PER_SECOND
        const what = spec.rate !== undefined ? `${formatBitRate(spec.rate)} asked` : limit ? `unbounded, capped by the target's link at ${formatBitRate(limit)}` : 'unbounded'
        return efficacyOf(asked, achieved, 'bits/s', `${formatBitRate(achieved)} delivered (${what}), ${Math.round((flood.latest()?.bytes ?? 0) / 1e6)} MB sent`,
          spec.rate !== undefined || limit ? 0.9 : 1)
      },
    } satisfies ActiveFault
  },
}
