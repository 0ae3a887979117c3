// A minimal TCP receiver for row 4, so that the flood (the sender) can be compared with iperf3's sender without
// the toolkit's sink in the way: every accepted connection reads into one preallocated 1 MiB buffer (Node's
// `onread` user buffer: no allocation and no 'data' event per chunk). Prints "listening", then "EPOCH_S BYTES"
// every 200 ms. Usage: node drain.js PORT. Exits when its stdin closes (the bench is gone).
import net from 'node:net'

const port = Number(process.argv[2])
const buffer = Buffer.allocUnsafe(1 << 20)
let total = 0
const server = net.createServer({pauseOnConnect: true}, (accepted) => {
  // net.Server takes no `onread`: hand the accepted connection's handle to a socket that reads into our buffer
  const handle = accepted._handle
  accepted._handle = null
  const socket = new net.Socket({handle, onread: {buffer, callback: (n) => { total += n; return true }}})
  socket.on('error', () => {})
  socket.resume()
})
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'))
setInterval(() => process.stdout.write(`${(Date.now() / 1000).toFixed(3)} ${total}\n`), 200)
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
