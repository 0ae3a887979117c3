// An HTTP server in a process of its own, on 127.0.0.1: what a probe measures must not share the test's event loop
// (a test that blocks its own loop would otherwise stall the server too). GET /work answers at once, or after
// ?delay=MS; GET /arrivals answers the epoch ms at which each /work request arrived.
import {spawn, type ChildProcess} from 'node:child_process'

const SERVER = `
const http = require('node:http')
const arrivals = []
const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://x')
  if (url.pathname === '/arrivals') return response.end(JSON.stringify(arrivals))
  arrivals.push(Date.now())
  const delay = Number(url.searchParams.get('delay') ?? 0)
  if (delay > 0) setTimeout(() => response.end('ok'), delay)
  else response.end('ok')
})
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
process.stdin.on('end', () => process.exit(0)).resume()
`

export interface ServerProcess {
  url: string
  child: ChildProcess
  arrivals(): Promise<number[]>
  close(): Promise<void>
}

export async function serveInProcess(): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['-e', SERVER], {stdio: ['pipe', 'pipe', 'inherit']})
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (text: string) => resolve(Number(text.trim())))
    child.once('exit', (code) => reject(new Error(`the test server exited (${code})`)))
  })
  const base = `http://127.0.0.1:${port}`
  return {
    url: `${base}/work`,
    child,
    arrivals: async () => (await (await fetch(`${base}/arrivals`)).json()) as number[],
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin!.end()
      await exited
    },
  }
}
