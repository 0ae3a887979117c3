// Network flood: `connections` TCP connections (or UDP sockets) sending one preallocated buffer over and over,
// as fast as the socket takes it (TCP: write until write() says stop, then wait for 'drain') or paced to a bit
// rate by one token bucket shared by all connections. A refused or reset connection is retried with backoff:
// a flood towards a neighbour that restarts must pick up again by itself.
//
// Second guard (the toolkit validates destinations before launch): only loopback, and private or link-local
// addresses only when CHAOS_FLOOD_ALLOW_NETNS=1, which the toolkit sets when the flood runs inside a network
// namespace of its own, or the one private address in CHAOS_FLOOD_ALLOW_ADDRESS (a container of the run's own).
// Host names are refused outright: resolving one could already leave the machine.
import dgram from 'node:dgram'
import net from 'node:net'
import type {FloodParams} from './protocol.js'
import {StressorError, type RunningStressor} from './runtime.js'
import {TokenBucket} from './token-bucket.js'

/** bytes per TCP write when unpaced: big enough that per-write overhead disappears */
const TCP_CHUNK = 256 * 1024
/** a UDP payload that fits a 1500-byte MTU without fragmentation (1500 - 20 IP - 8 UDP) */
const UDP_PAYLOAD = 1472
/** UDP sends handed to libuv and not yet completed, per socket */
const UDP_IN_FLIGHT = 64
const BACKOFF_FIRST_MS = 50
const BACKOFF_MAX_MS = 2000

const loopback = new net.BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')

const privateOrLinkLocal = new net.BlockList()
privateOrLinkLocal.addSubnet('10.0.0.0', 8, 'ipv4')
privateOrLinkLocal.addSubnet('172.16.0.0', 12, 'ipv4')
privateOrLinkLocal.addSubnet('192.168.0.0', 16, 'ipv4')
privateOrLinkLocal.addSubnet('169.254.0.0', 16, 'ipv4')
privateOrLinkLocal.addSubnet('fc00::', 7, 'ipv6')
privateOrLinkLocal.addSubnet('fe80::', 10, 'ipv6')

/** Why the flood may not go to host, or undefined when it may. */
export function floodRefusal(host: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const version = net.isIP(host)
  if (version === 0) return `refusing to flood ${JSON.stringify(host)}: only literal addresses are accepted`
  const family = version === 4 ? 'ipv4' : 'ipv6'
  if (loopback.check(host, family)) return undefined
  // one address the toolkit named (a container of the run's own, flooded from the host's end of its bridge), and
  // only if it is private: a mistake there still cannot leave the machine's private networks
  if (env.CHAOS_FLOOD_ALLOW_ADDRESS !== undefined && env.CHAOS_FLOOD_ALLOW_NETNS !== '1') {
    if (host === env.CHAOS_FLOOD_ALLOW_ADDRESS && privateOrLinkLocal.check(host, family)) return undefined
    return `refusing to flood ${host}: outside a network namespace of the toolkit's, only loopback or the one private address it named (${env.CHAOS_FLOOD_ALLOW_ADDRESS})`
  }
  if (env.CHAOS_FLOOD_ALLOW_NETNS === '1') {
    if (privateOrLinkLocal.check(host, family)) return undefined
    return `refusing to flood ${host}: only loopback, private or link-local addresses inside the toolkit's network namespace`
  }
  return `refusing to flood ${host}: only loopback (127.0.0.0/8, ::1) outside a network namespace of the toolkit's`
}

/** Bytes per write when paced: about 10 ms of the rate, so pacing stays smooth, within [1 KiB, 64 KiB]. */
export function pacedChunkBytes(bitsPerSecond: number): number {
  return Math.round(Math.min(64 * 1024, Math.max(1024, bitsPerSecond / 8 / 100)))
}

export function startFlood(params: FloodParams): RunningStressor {
  const refusal = floodRefusal(params.host)
  if (refusal) throw new StressorError(refusal)
  const counter = {bytes: 0}
  const chunkBytes = params.protocol === 'udp' ? UDP_PAYLOAD : params.rate === undefined ? TCP_CHUNK : pacedChunkBytes(params.rate)
  const payload = Buffer.alloc(chunkBytes, 0x5a)
  // bursts of at most 20 ms of the rate (or one write), however long the connections were down
  const bucket = params.rate === undefined
    ? undefined
    : new TokenBucket(params.rate, Math.max(params.rate * 0.02, chunkBytes * 8), performance.now())
  for (let i = 0; i < params.connections; i++) {
    if (params.protocol === 'tcp') tcpFlow(params, payload, bucket, counter)
    else udpFlow(params, payload, bucket, counter)
  }
  return {figures: () => ({bytes: counter.bytes})}
}

function tcpFlow(params: FloodParams, payload: Buffer, bucket: TokenBucket | undefined, counter: {bytes: number}): void {
  let backoff = BACKOFF_FIRST_MS
  const payloadBits = payload.length * 8
  const counted = (error?: Error | null) => {
    if (!error) counter.bytes += payload.length
  }

  const connect = () => {
    const socket = net.connect({host: params.host, port: params.port, noDelay: true})
    let waiting: NodeJS.Timeout | undefined
    let open = false
    const pump = () => {
      waiting = undefined
      while (open) {
        if (bucket) {
          const wait = bucket.take(payloadBits, performance.now())
          if (wait > 0) {
            waiting = setTimeout(pump, Math.max(1, wait))
            return
          }
        }
        if (!socket.write(payload, counted)) return // 'drain' resumes
      }
    }
    socket.on('connect', () => {
      open = true
      backoff = BACKOFF_FIRST_MS
      pump()
    })
    socket.on('drain', () => {
      if (waiting === undefined) pump()
    })
    // the sink never answers; reading anyway notices its end
    socket.resume()
    socket.on('error', () => { /* 'close' follows */ })
    socket.on('close', () => {
      open = false
      clearTimeout(waiting)
      setTimeout(connect, backoff)
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
    })
  }
  connect()
}

function udpFlow(params: FloodParams, payload: Buffer, bucket: TokenBucket | undefined, counter: {bytes: number}): void {
  const payloadBits = payload.length * 8
  let backoff = BACKOFF_FIRST_MS
  let pausedUntil = 0
  let inFlight = 0
  let scheduled = false
  let connected = false
  const socket = dgram.createSocket(net.isIPv6(params.host) ? 'udp6' : 'udp4')

  const schedule = (ms: number) => {
    if (scheduled) return
    scheduled = true
    if (ms <= 0) setImmediate(pump)
    else setTimeout(pump, Math.max(1, ms))
  }
  const sent = (error: Error | null) => {
    inFlight--
    if (error) {
      // ICMP port unreachable on a connected socket: the sink is not (yet) there
      pausedUntil = performance.now() + backoff
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
    } else {
      counter.bytes += payload.length
      backoff = BACKOFF_FIRST_MS
    }
    if (inFlight < UDP_IN_FLIGHT / 2) schedule(0)
  }
  // sends a batch at most, then yields, so timers (progress, dead-man's switch) keep their turn
  function pump(): void {
    scheduled = false
    if (!connected) return
    const now = performance.now()
    if (now < pausedUntil) return schedule(pausedUntil - now)
    for (let batch = 0; inFlight < UDP_IN_FLIGHT && batch < UDP_IN_FLIGHT; batch++) {
      if (bucket) {
        const wait = bucket.take(payloadBits, now)
        if (wait > 0) return schedule(wait)
      }
      inFlight++
      socket.send(payload, sent)
    }
    if (inFlight < UDP_IN_FLIGHT) schedule(0)
  }

  socket.on('error', () => {
    pausedUntil = performance.now() + backoff
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
    schedule(pausedUntil - performance.now())
  })
  socket.connect(params.port, params.host, () => {
    connected = true
    pump()
  })
}
