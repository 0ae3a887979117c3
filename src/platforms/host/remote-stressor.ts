// A stressor the agent on a host launched, seen as the runner sees a local one (StressorHandle): its messages relayed
// over the agent's channel (times put on this machine's clock), how it ended as the agent saw it end. If the
// channel ends first, the stressor ends too on the host (its own dead-man's switch, on the agent's pipe).
import type {StressorArgs, StressorMessage} from '../../stressors/protocol.js'
import {StressorMessages} from '../../stressors/messages.js'
import type {StressorExit, StressorHandle} from '../../stressors/spawn.js'
import type {StressorPlacement} from '../platform.js'
import type {AgentConnection} from './agent-client.js'
import type {AgentMessage} from './protocol.js'

let nextId = 1

export function agentStressor(agent: AgentConnection, placement: StressorPlacement, args: StressorArgs): StressorHandle {
  const id = nextId++
  const said = new StressorMessages()
  let pid: number | undefined
  let stopping = false
  let resolveExit!: (exit: StressorExit) => void
  const exited = new Promise<StressorExit>((resolve) => (resolveExit = resolve))
  const onMessage = (m: AgentMessage) => {
    if (m.type === 'stressor' && m.id === id) {
      const message = 't' in m.message && typeof m.message.t === 'number' ? {...m.message, t: m.message.t - agent.offsetMs} as StressorMessage : m.message
      said.handle(message)
    } else if (m.type === 'stressor-pid' && m.id === id) pid = m.pid
    else if (m.type === 'stressor-exit' && m.id === id) finish(m.exit)
  }
  const onClosed = () => finish({code: null, signal: null, error: agent.closedBecause ?? 'the agent\'s channel closed; the stressor ends on the host by its dead-man\'s switch'})
  const finish = (exit: StressorExit) => {
    agent.off('message', onMessage)
    agent.off('closed', onClosed)
    const out: StressorExit = {...exit}
    if (said.exitReason && !out.reason) out.reason = said.exitReason
    if (!out.error && said.lastError) out.error = said.lastError
    if (out.error === undefined) delete out.error
    said.neverReady(new Error(`stressor ${args.kind} on ${agent.target.name} ended before it was ready (${out.error ?? `exit ${out.code ?? out.signal}`})`))
    resolveExit(out)
  }
  agent.on('message', onMessage)
  agent.on('closed', onClosed)
  // the deadline crosses to the host's clock
  agent.send({op: 'launch', id, placement: {kind: placement.kind, params: placement.params, deadline: placement.deadline + agent.offsetMs, where: placement.where}})
  return {
    args,
    get pid() {
      return pid
    },
    ready: said.ready,
    exited,
    latest: () => said.latest,
    onMessage: (listener) => said.onMessage(listener),
    stderr: () => said.lastError ?? '',
    async stop() {
      if (!stopping) {
        stopping = true
        agent.send({op: 'stop', id})
      }
      return exited
    },
  }
}
