// The toolkit's end of one agent on one host: the SSH connection, the agent's channel, its messages routed to
// whoever waits for them, and the offset between the host's clock and this one (readings and deadlines cross it).
import {EventEmitter} from 'node:events'
import {dirname, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Client, ClientChannel} from 'ssh2'

import {lineSplitter} from '../../stressors/messages.js'
import {VERSION} from '../../run/version.js'
import {PlanError} from '../platform.js'
import {AGENT_ENTRY, AGENT_PROTOCOL, type AgentMessage, type AgentRequest} from './protocol.js'
import {connect, describeHost, execStream, shellQuote, type SshTarget} from './ssh.js'

/** This toolkit's package directory: where it expects itself on a host unless the experiment says otherwise. */
export function localToolkitDir(): string {
  // dist/platforms/host/agent-client.js and src/platforms/host/agent-client.ts are both three levels down
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
}

const HELLO_TIMEOUT_MS = 20_000
const STDERR_KEEP = 4096

export class AgentConnection extends EventEmitter {
  /** the host's clock minus this one's, in ms (estimated over the round trip with the smallest delay) */
  offsetMs = 0
  /** why the channel ended before the toolkit ended it, once it has */
  closedBecause?: string
  private stderrTail = ''
  private closing = false
  private ended = false
  private nextPing = 1

  private constructor(readonly target: SshTarget, private readonly client: Client, private readonly channel: ClientChannel) {
    super()
    const lines = lineSplitter((line) => {
      let message: AgentMessage
      try {
        message = JSON.parse(line) as AgentMessage
      } catch {
        this.stderrTail = (this.stderrTail + line + '\n').slice(-STDERR_KEEP)
        return
      }
      this.emit('message', message)
    })
    channel.on('data', (chunk: Buffer) => lines.push(chunk.toString()))
    channel.stderr.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_KEEP) })
    const ended = (why: string) => {
      if (this.ended) return
      this.ended = true
      lines.flush()
      if (!this.closing && this.closedBecause === undefined) this.closedBecause = why
      this.emit('closed')
    }
    channel.on('close', (code: number | null, signal: string | null) => ended(`the agent on ${describeHost(target)} ended (${signal ? `signal ${signal}` : `exit ${code}`})${this.stderr() ? `: ${this.stderr()}` : ''}`))
    client.on('close', () => ended(`the SSH connection to ${describeHost(target)} closed`))
    client.on('error', (error: Error) => ended(`the SSH connection to ${describeHost(target)} failed: ${error.message}`))
  }

  /**
   * Logs in, checks that the host has Node.js and this toolkit's agent at the expected path, starts the agent and
   * checks its protocol version; each failure a PlanError naming the host and what is missing.
   */
  static async open(target: SshTarget): Promise<AgentConnection> {
    const client = await connect(target)
    try {
      const where = describeHost(target)
      const toolkit = target.spec.toolkit ?? localToolkitDir()
      const entry = `${toolkit}/${AGENT_ENTRY}`
      const node = target.spec.node
      // one command, so that one login's shell start-up is paid once: what is missing is said on stdout as a
      // protocol line, else the shell becomes the agent
      const missing = (what: string) => shellQuote(JSON.stringify({type: 'missing', what}))
      const channel = await execStream(client, `command -v ${shellQuote(node)} >/dev/null 2>&1 || { echo ${missing('node')}; exit 0; }; ` +
        `test -r ${shellQuote(entry)} || { echo ${missing('agent')}; exit 0; }; exec ${shellQuote(node)} ${shellQuote(entry)}`)
      const connection = new AgentConnection(target, client, channel)
      const hello = await connection.waitFor((m): m is Extract<AgentMessage, {type: 'hello' | 'missing'}> => m.type === 'hello' || m.type === 'missing', HELLO_TIMEOUT_MS, 'the agent to start')
      if (hello.type === 'missing') {
        connection.close()
        if (hello.what === 'node') throw new PlanError(`${where}: no ${node} there (set hosts.${target.name}.node to the Node.js the toolkit should run with)`, 4)
        throw new PlanError(`${where}: the toolkit is not installed at ${toolkit} there (${AGENT_ENTRY} is missing); install the same version (${VERSION}) there, or set hosts.${target.name}.toolkit`, 4)
      }
      if (hello.protocol !== AGENT_PROTOCOL) {
        connection.close()
        throw new PlanError(`${where}: the toolkit there is version ${hello.version} (agent protocol ${hello.protocol}), this one ${VERSION} (protocol ${AGENT_PROTOCOL}); install the same version on both`, 4)
      }
      await connection.measureOffset()
      return connection
    } catch (error) {
      client.end()
      throw error
    }
  }

  send(request: AgentRequest): void {
    if (this.closedBecause !== undefined || this.closing) return
    this.channel.write(JSON.stringify(request) + '\n')
  }

  /** The next message that passes the test, or a rejection when the channel ends first or the time is up. */
  waitFor<M extends AgentMessage>(test: (m: AgentMessage) => m is M, timeoutMs: number, what: string): Promise<M> {
    return new Promise<M>((resolvePromise, reject) => {
      const onMessage = (m: AgentMessage) => {
        if (test(m)) {
          done()
          resolvePromise(m)
        } else if (m.type === 'failed') {
          done()
          reject(new Error(`${describeHost(this.target)}: the agent failed: ${m.message}`))
        }
      }
      const onClosed = () => {
        done()
        reject(new Error(`${this.closedBecause ?? `the agent on ${describeHost(this.target)} ended`} while waiting for ${what}`))
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${describeHost(this.target)}: no answer within ${timeoutMs / 1000}s while waiting for ${what}${this.stderr() ? `: ${this.stderr()}` : ''}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.off('message', onMessage)
        this.off('closed', onClosed)
      }
      this.on('message', onMessage)
      this.on('closed', onClosed)
      if (this.ended) onClosed()
    })
  }

  /** Three round trips; the one with the smallest delay sets the offset (its error is at most half that delay). */
  private async measureOffset(): Promise<void> {
    let best = Infinity
    for (let i = 0; i < 3; i++) {
      const id = this.nextPing++
      const sent = Date.now()
      this.send({op: 'ping', id})
      const pong = await this.waitFor((m): m is Extract<AgentMessage, {type: 'pong'}> => m.type === 'pong' && m.id === id, 10_000, 'a ping')
      const received = Date.now()
      if (received - sent < best) {
        best = received - sent
        // whole milliseconds: deadlines cross with it, and a stressor's deadline is a whole epoch ms
        this.offsetMs = Math.round(pong.now - (sent + received) / 2)
      }
    }
  }

  stderr(): string {
    return this.stderrTail.trim().split('\n').slice(-3).join(' | ')
  }

  /**
   * Ends the channel: the agent removes what it made, if it made anything, and exits, which closes the channel;
   * then the connection ends. One that does not close its channel within the grace has the connection cut under it.
   */
  close(graceMs = 5000): void {
    if (this.closing) return
    this.closing = true
    if (this.ended) {
      this.client.end()
      return
    }
    try {
      this.channel.end()
    } catch { /* already gone */ }
    const timer = setTimeout(() => this.client.end(), graceMs)
    timer.unref()
    this.channel.once('close', () => {
      clearTimeout(timer)
      this.client.end()
    })
  }

  /** Waits until the connection has closed (or gives up after timeoutMs). */
  async closed(timeoutMs = 5000): Promise<void> {
    if (this.ended) return
    await new Promise<void>((resolvePromise) => {
      const timer = setTimeout(resolvePromise, timeoutMs)
      this.once('closed', () => {
        clearTimeout(timer)
        resolvePromise()
      })
    })
  }
}
