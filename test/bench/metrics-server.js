// A stand-in for many neighbours on one port (rows 6 and 7): /n/I/metrics serves a realistic prom-client
// payload, the same families the demo workload exposes (default process and Node.js metrics, the request
// histogram and counter over a few routes and codes), re-rendered every second with fresh observations;
// /n/I/work answers at once. Usage: node metrics-server.js PORT. Exits when its stdin closes (the bench is gone).
import http from 'node:http'
import {collectDefaultMetrics, Counter, Histogram, Registry} from 'prom-client'

const port = Number(process.argv[2])
const registry = new Registry()
collectDefaultMetrics({register: registry})
const labelNames = ['method', 'route', 'code']
const duration = new Histogram({
  name: 'http_request_duration_seconds', help: 'Duration of HTTP requests to application routes, in seconds', labelNames,
  buckets: [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1], registers: [registry],
})
const requests = new Counter({name: 'http_requests_total', help: 'HTTP requests to application routes', labelNames, registers: [registry]})
const series = [['GET', '/work', '200'], ['POST', '/work', '200'], ['GET', '/work', '507'], ['GET', 'other', '404']]

let text = ''
const render = async () => {
  for (let i = 0; i < 100; i++) {
    const [method, route, code] = series[i % series.length]
    duration.observe({method, route, code}, 0.002 + Math.random() * 0.01)
    requests.inc({method, route, code})
  }
  text = await registry.metrics()
}
await render()
setInterval(() => void render(), 1000)

const server = http.createServer((request, response) => {
  const path = request.url ?? '/'
  if (path.endsWith('/metrics')) {
    response.writeHead(200, {'content-type': registry.contentType, 'content-length': Buffer.byteLength(text)})
    response.end(text)
  } else {
    response.writeHead(200, {'content-type': 'application/json', 'content-length': 11})
    response.end('{"ok":true}')
  }
})
server.keepAliveTimeout = 30_000
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port} ${Buffer.byteLength(text)}\n`)
})
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
