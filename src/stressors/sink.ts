// The receiving end of a flood: listens on host:port (TCP or UDP) and throws away everything it gets,
// counting the bytes. Port 0 picks a free port, reported in the ready message.
//
// A receive flood makes this the target's own receiver, so its cost per byte is part of the dose: a receiver that
// tops out below the link reads less than a real one would. TCP reads therefore go into one preallocated buffer
// (Node's `onread` user buffer): no allocation and no stream 'data' event per 64 KiB chunk, which is what kept the
// flood at 57-69% of iperf3 (docs/benchmarks.md row 4).
import dgram from 'node:dgram'
import {once} from 'node:events'
import net from 'node:net'
import type {SinkParams} from './protocol.js'
import {errorMessage, StressorError, type RunningStressor} from './runtime.js'

const UDP_RECEIVE_BUFFER = 8 * 1024 * 1024
/** one buffer for every connection's reads: the bytes are only counted, so they may overwrite each other */
const TCP_READ_BUFFER = 1024 * 1024

export async function startSink(params: SinkParams): Promise<RunningStressor> {
  const counter = {bytes: 0}
  try {
    const port = params.protocol === 'tcp' ? await listenTcp(params, counter) : await bindUdp(params, counter)
    return {port, figures: () => ({bytes: counter.bytes})}
  } catch (error) {
    throw new StressorError(`cannot listen on ${params.host}:${params.port}/${params.protocol}: ${errorMessage(error)}`)
  }
}

async function listenTcp(params: SinkParams, counter: {bytes: number}): Promise<number> {
  const buffer = Buffer.allocUnsafe(TCP_READ_BUFFER)
  const onread = {buffer, callback: (n: number) => { counter.bytes += n; return true }}
  const server = net.createServer({pauseOnConnect: true}, (accepted) => {
    const socket = readIntoBuffer(accepted, onread)
    socket.on('error', () => { /* a flood that dies resets its connections */ })
    socket.resume()
  })
  server.listen({host: params.host, port: params.port, backlog: 1024})
  // once() rejects if 'error' comes first (port taken, address not here)
  await once(server, 'listening')
  return (server.address() as net.AddressInfo).port
}

/**
 * net.Server takes no `onread` (only `new net.Socket` does), so the accepted connection's handle is handed to a
 * socket that reads into the buffer. `_handle` is Node's own field, stable since Node 0.x; where it is missing the
 * accepted socket is read the ordinary way (slower, still counted).
 */
function readIntoBuffer(accepted: net.Socket, onread: {buffer: Buffer, callback: (n: number) => boolean}): net.Socket {
  const internal = accepted as net.Socket & {_handle?: unknown}
  const handle = internal._handle
  if (handle === null || handle === undefined) {
    accepted.on('data', (data: Buffer) => onread.callback(data.length))
    return accepted
  }
  internal._handle = null
  return new net.Socket({handle, onread} as net.SocketConstructorOpts)
}

async function bindUdp(params: SinkParams, counter: {bytes: number}): Promise<number> {
  const socket = dgram.createSocket(net.isIPv6(params.host) ? 'udp6' : 'udp4')
  socket.on('message', (message) => { counter.bytes += message.length })
  socket.bind(params.port, params.host)
  await once(socket, 'listening')
  socket.on('error', () => { /* nothing a receiver can do about a bad datagram */ })
  try {
    socket.setRecvBufferSize(UDP_RECEIVE_BUFFER)
  } catch { /* capped by net.core.rmem_max: smaller is fine */ }
  return socket.address().port
}
