// The toolkit's agent on a host: the process platform run there, driven over the SSH channel it was started on.
// It makes the boxes, starts the workflows, launches the stressors charged to the target's box and pushes its
// readings of each workflow's cgroup accounting; the toolkit measures the neighbours' service from where it runs.
// When its stdin ends (the toolkit died, the connection dropped), it removes everything it made and exits: the
// same dead-man's switch as a stressor's, one level up. Its stressors have theirs too, on the agent's pipes.
import type {Experiment} from '../../experiment/schema.js'
import {localIoDisk} from '../../faults/io-saturation.js'
import {onlineCpus} from '../../host/cpus.js'
import {kernelBootId} from '../../host/kernel.js'
import {RunLedger} from '../../rollback/ledger.js'
import {lineSplitter} from '../../stressors/messages.js'
import type {StressorHandle} from '../../stressors/spawn.js'
import {VERSION} from '../../run/version.js'
import {PlanError} from '../platform.js'
import {ProcessPlatform} from '../process/index.js'
import {AGENT_PROTOCOL, type AgentMessage, type AgentRequest, type PlannedIo, type WorkflowReading} from './protocol.js'

/**
 * An io-saturation's disk here, found by the fault's own check (fault.path under safety.allowPaths, as this host
 * resolves it, or the run's directory here) with the target's throttle on it; or the refusal, for the toolkit to say.
 */
function ioHere(platform: ProcessPlatform, experiment: Experiment): PlannedIo | undefined {
  const fault = experiment.fault
  if (fault.type !== 'io-saturation') return undefined
  try {
    const disk = localIoDisk(fault.path, experiment, platform.ioDirectory())
    return {disk, throttle: platform.ioThrottle(disk.device.id)}
  } catch (error) {
    if (!(error instanceof PlanError)) throw error
    return {refused: error.message, exitCode: error.exitCode}
  }
}

export interface AgentIo {
  input: NodeJS.ReadableStream
  send(message: AgentMessage): void
  /** ends the agent's process (or, in a test, its session) */
  exit(code: number): void
}

/** Starts the agent on these pipes; returns what ends it from outside (a signal), as its channel's end would. */
export function runAgent(io: AgentIo): (why: string) => void {
  let platform: ProcessPlatform | undefined
  let started: Extract<AgentRequest, {op: 'start'}> | undefined
  let ledger: RunLedger | undefined
  let sampleMs = 250
  let timer: NodeJS.Timeout | undefined
  const stressors = new Map<number, StressorHandle>()
  let ending: Promise<void> | undefined
  let plannedIo: PlannedIo | undefined

  const readings = (): Record<string, WorkflowReading> => {
    const out: Record<string, WorkflowReading> = {}
    for (const w of platform?.target ? [platform.target, ...platform.neighbors] : []) {
      let sample
      try {
        sample = w.sample()
      } catch {
        sample = {t: Date.now()}
      }
      out[w.name] = {sample, exits: w.unexpectedExits(), exitTimes: [...(w.exitTimes?.() ?? [])], lastExit: w.lastExit()}
    }
    return out
  }

  /** Everything this agent made, removed; then the process ends. Once, whoever asks first. */
  const end = (why: string, code = 0): Promise<void> => {
    ending ??= (async () => {
      if (timer) clearInterval(timer)
      await Promise.all([...stressors.values()].map((s) => s.stop().catch(() => undefined)))
      let leftovers: string[] = []
      if (platform && ledger) {
        try {
          leftovers = await platform.teardown()
        } catch (error) {
          leftovers = [`teardown failed: ${(error as Error).message}`]
        }
      }
      ledger?.close()
      io.send({type: 'torn-down', leftovers})
      if (why !== 'asked') process.stderr.write(`chaos agent: ${why}: removed what the run made${leftovers.length ? `, except ${leftovers.join(', ')}` : ''}\n`)
      io.exit(code)
    })()
    return ending
  }

  const handle = async (request: AgentRequest): Promise<void> => {
    switch (request.op) {
      case 'start':
        sampleMs = request.sampleMs
        started = request
        platform = new ProcessPlatform({experiment: request.experiment, runId: request.runId, levelOverride: request.levelOverride})
        return
      case 'ping':
        io.send({type: 'pong', id: request.id, now: Date.now()})
        return
      case 'plan': {
        if (!platform) throw new Error('plan before start')
        try {
          const lines = await platform.plan()
          const volumeDirs = Object.fromEntries(Object.keys(started!.experiment.volumes ?? {}).map((name) => [name, platform!.volumeDir(name)]))
          plannedIo = started!.targetHere ? ioHere(platform, started!.experiment) : undefined
          io.send({type: 'planned', lines, allowance: platform.plannedTargetAllowance(), cpus: onlineCpus().length, taskLimit: platform.taskLimit(), volumeDirs, kernel: kernelBootId(), pinned: platform.pinnedCpus(), ...(plannedIo ? {io: plannedIo} : {})})
        } catch (error) {
          if (!(error instanceof PlanError)) throw error
          io.send({type: 'refused', message: error.message, exitCode: error.exitCode})
        }
        return
      }
      case 'setup': {
        if (!platform || !started) throw new Error('setup before start')
        const p = platform
        ledger = new RunLedger(started.runId, started.experiment.metadata.name)
        try {
          await p.setup(ledger, (line) => io.send({type: 'log', line}))
        } catch (error) {
          io.send({type: error instanceof PlanError ? 'refused' : 'failed', message: (error as Error).message, ...(error instanceof PlanError ? {exitCode: error.exitCode} : {})} as AgentMessage)
          return
        }
        const flood = started.targetHere ? p.flood() : undefined
        // the target's box counts its I/O on the fault's disk from now (v1 needs a rule on the box to count at all)
        const ioCounted = plannedIo && 'disk' in plannedIo ? p.targetIo(plannedIo.disk.device.id) !== undefined : undefined
        io.send({
          type: 'set-up',
          workflows: [p.target, ...p.neighbors].map((w) => ({name: w.name, boundary: w.boundary, allowance: w.allowance()})),
          // the endpoint's data only (its linkBytes is a function of this host's); JSON drops what is undefined
          ...(flood ? {flood: {sinkHost: flood.sinkHost, inNamespace: flood.inNamespace, egressLimit: flood.egressLimit, targetHost: flood.targetHost, ingressLimit: flood.ingressLimit}} : {}),
          ...(ioCounted === undefined ? {} : {ioCounted}),
        })
        timer = setInterval(() => io.send({type: 'readings', t: Date.now(), workflows: readings()}), sampleMs)
        io.send({type: 'readings', t: Date.now(), workflows: readings()})
        return
      }
      case 'launch': {
        if (!platform) throw new Error('launch before setup')
        const stressor = platform.launchStressor(request.placement)
        stressors.set(request.id, stressor)
        stressor.onMessage((message) => io.send({type: 'stressor', id: request.id, message}))
        void stressor.ready.then(({pid}) => io.send({type: 'stressor-pid', id: request.id, pid}), () => undefined)
        void stressor.exited.then((exit) => {
          stressors.delete(request.id)
          io.send({type: 'stressor-exit', id: request.id, exit: {...exit, ...(exit.error === undefined && stressor.stderr().trim() && exit.code !== 0 ? {error: stressor.stderr().trim().split('\n').slice(-3).join(' | ')} : {})}})
        })
        return
      }
      case 'stop':
        await stressors.get(request.id)?.stop()
        return
      case 'teardown':
        await end('asked')
        return
    }
  }

  // requests are handled one after another, as they came: a launch never overtakes the setup before it
  let queue = Promise.resolve()
  const lines = lineSplitter((line) => {
    if (line.trim() === '') return
    let request: AgentRequest
    try {
      request = JSON.parse(line) as AgentRequest
    } catch {
      io.send({type: 'failed', message: `not a request: ${line.slice(0, 200)}`})
      return
    }
    // a stop must not wait behind a long setup or another stop: it is what ends a fault on time
    if (request.op === 'stop' || request.op === 'ping') {
      void handle(request).catch((error: Error) => io.send({type: 'failed', message: error.message}))
      return
    }
    queue = queue.then(() => handle(request)).catch((error: Error) => io.send({type: 'failed', message: error.message}))
  })
  io.input.on('data', (chunk: Buffer | string) => lines.push(chunk.toString()))
  io.input.on('end', () => {
    lines.flush()
    void queue.then(() => end('its channel to the toolkit closed'))
  })
  io.input.on('error', () => void end('its channel to the toolkit failed'))
  io.send({type: 'hello', protocol: AGENT_PROTOCOL, version: VERSION, pid: process.pid, uid: process.getuid?.() ?? -1, node: process.version})
  return (why) => void end(why)
}
