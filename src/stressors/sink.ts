// The receiving end of a flood: listens on host:port (TCP or UDP) and throws away everything it gets,
// counting the bytes. Port 0 picks a free port, reported in the ready message.
import dgram from 'node:dgram'
import {once} from 'node:events'
import net from 'node:net'
import type {SinkParams} from './protocol.js'
import {errorMessage, StressorError, type RunningStressor} from './runtime.js'

const UDP_RECEIVE_BUFFER = 8 * 1024 * 1024

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
  const server = net.createServer((socket) => {
    socket.on('data', (data: Buffer) => { counter.bytes += data.length })
    socket.on('error', () => { /* a flood that dies resets its connections */ })
  })
  server.listen({host: params.host, port: params.port, backlog: 1024})
  // once() rejects if 'error' comes first (port taken, address not here)
  await once(server, 'listening')
  return (server.address() as net.AddressInfo).port
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
