// The probe's lean HTTP/1.1 client against servers that frame their answers every way HTTP/1.x allows: a
// Content-Length, chunks (split anywhere), until close, HEAD, an interim 100; a server that drops an idle
// keep-alive socket (asked again once, on a new socket), garbage (bad_response) and a refused port.
import http from 'node:http'
import net, {type AddressInfo} from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {type Http1Options, Http1Pool, type Http1Result} from '../../src/metrics/http1.js'

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** A raw TCP server: each request (up to its blank line) gets `answer(n)` written as given, in pieces. */
async function raw(answer: (n: number) => {pieces: string[], close?: boolean}): Promise<{port: number, connections: () => number}> {
  let requests = 0
  let connections = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    connections++
    sockets.add(socket)
    let buffered = ''
    socket.on('data', async (data) => {
      buffered += data.toString('latin1')
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4)
        const {pieces, close} = answer(requests++)
        for (const piece of pieces) {
          socket.write(piece)
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
        if (close) socket.end()
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return {port: (server.address() as AddressInfo).port, connections: () => connections}
}

function pool(port: number, extra: Partial<Http1Options> = {}): Http1Pool {
  const p = new Http1Pool({host: '127.0.0.1', port, path: '/work', method: 'GET', maxIdle: 8, ...extra})
  closers.push(() => p.destroy())
  return p
}

const ask = (p: Http1Pool) => new Promise<Http1Result>((resolve) => p.send(resolve))

describe('Http1Pool', () => {
  it('reads a Content-Length body split across packets, and reuses the socket', async () => {
    const server = await raw(() => ({pieces: ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 10\r\n\r\n01234', '56789']}))
    const p = pool(server.port)
    for (let i = 0; i < 5; i++) expect(await ask(p)).toEqual({status: 200})
    expect(server.connections()).toBe(1)
  })

  it('reads chunks split anywhere, with extensions and a trailer', async () => {
    const server = await raw(() => ({pieces: ['HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r', '\nabcd\r\n1', '0\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n', '\r\n']}))
    const p = pool(server.port)
    expect(await ask(p)).toEqual({status: 503})
    expect(await ask(p)).toEqual({status: 503})
    expect(server.connections()).toBe(1)
  })

  it('a body without length ends at close; Connection: close is honoured; an interim 100 is skipped', async () => {
    const untilClose = await raw(() => ({pieces: ['HTTP/1.0 200 OK\r\n\r\nhello'], close: true}))
    const p = pool(untilClose.port)
    expect(await ask(p)).toEqual({status: 200})
    expect(await ask(p)).toEqual({status: 200})
    expect(untilClose.connections()).toBe(2)

    const interim = await raw(() => ({pieces: ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n']}))
    const q = pool(interim.port)
    expect(await ask(q)).toEqual({status: 204})
    expect(await ask(q)).toEqual({status: 204})
    expect(interim.connections()).toBe(2)
  })

  it('HEAD reads no body even with a Content-Length', async () => {
    const server = await raw(() => ({pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n']}))
    const p = pool(server.port, {method: 'HEAD'})
    expect(await ask(p)).toEqual({status: 200})
    expect(await ask(p)).toEqual({status: 200})
  })

  it('asks again once on a new socket when the server dropped the idle one; garbage is bad_response', async () => {
    // answers, then closes the connection as soon as the next request arrives, without a word
    const server = await raw((n) => (n % 2 === 0 ? {pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']} : {pieces: [], close: true}))
    const p = pool(server.port)
    expect(await ask(p)).toEqual({status: 200})
    expect(await ask(p)).toEqual({status: 200})
    expect(server.connections()).toBe(2)

    const garbage = await raw(() => ({pieces: ['SSH-2.0-OpenSSH\r\n\r\n']}))
    expect(await ask(pool(garbage.port))).toEqual({error: 'bad_response'})
  })

  it('a refused port is ECONNREFUSED; Node\'s own server is read the same as by Node\'s client', async () => {
    const free = await raw(() => ({pieces: []}))
    closers.splice(0).forEach((close) => close())
    expect(await ask(pool(free.port))).toEqual({error: 'ECONNREFUSED'})

    const server = http.createServer((request, response) => {
      if (request.url === '/work') response.end('x'.repeat(100_000))
      else {
        response.statusCode = 404
        response.write('partial ')
        response.end('chunked')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(() => {
      server.closeAllConnections()
      server.close()
    })
    const port = (server.address() as AddressInfo).port
    const p = pool(port)
    const missing = pool(port, {path: '/missing'})
    for (let i = 0; i < 3; i++) {
      expect(await ask(p)).toEqual({status: 200})
      expect(await ask(missing)).toEqual({status: 404})
    }
  })
})
