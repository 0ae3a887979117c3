// A stressor that runs in the cluster, seen as the runner sees a local one (StressorHandle): its JSON lines come
// from the container log (follow=true), how it ended from the container's terminated state (or the helper's own
// last line, which carries the stressor's exact exit).
import {setTimeout as sleep} from 'node:timers/promises'
import {Writable} from 'node:stream'

import type {StressorArgs, StressorMessage} from '../../stressors/protocol.js'
import {lineSplitter, StressorMessages} from '../../stressors/messages.js'
import type {StressorExit, StressorHandle, StressorProgress} from '../../stressors/spawn.js'
import {type Cluster, describeApiError, type Pod, statusOf} from './client.js'

export interface RemoteContainer {
  namespace: string
  pod: string
  container: string
  ephemeral: boolean
}

export interface RemoteOptions {
  cluster: Cluster
  args: StressorArgs
  /** creates the helper pod or adds the ephemeral container */
  launch: () => Promise<RemoteContainer>
  /** removes what launch created (helper pod); absent: it cannot be removed early (ephemeral container) */
  remove?: (where: RemoteContainer) => Promise<void>
  /** asks a container that cannot be removed to stop its stressor now (exec); a failure leaves it to its deadline */
  stopEarly?: (where: RemoteContainer) => Promise<void>
  /** how long a container may take to start (image pull, scheduling) */
  startTimeoutMs?: number
}

type ContainerState = NonNullable<NonNullable<Pod['status']>['containerStatuses']>[number]

function containerStatus(pod: Pod, where: RemoteContainer): ContainerState | undefined {
  const list = where.ephemeral ? pod.status?.ephemeralContainerStatuses : pod.status?.containerStatuses
  return list?.find((s) => s.name === where.container)
}


export function remoteStressor(options: RemoteOptions): StressorHandle {
  const {cluster, args} = options
  const said = new StressorMessages()
  let frozen: StressorProgress | undefined
  let helperExit: StressorExit | undefined
  let tail = ''
  let stopping = false
  let where: RemoteContainer | undefined
  let logAbort: AbortController | undefined

  const handleLine = (line: string) => {
    tail = (tail + line + '\n').slice(-8192)
    let message: StressorMessage | {type: 'helper', exit?: StressorExit}
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    // the helper's own lines (the cgroup it joined, how its stressor ended) are not the stressor's
    if (message.type === 'helper') {
      if (message.exit) helperExit = message.exit
      return
    }
    said.handle(message)
  }

  const read = async (w: RemoteContainer): Promise<Pod | undefined> => {
    try {
      return await cluster.core.readNamespacedPod({namespace: w.namespace, name: w.pod})
    } catch (error) {
      if (statusOf(error)?.code === 404) return undefined
      throw error
    }
  }

  const run = async (): Promise<StressorExit> => {
    where = await options.launch()
    const w = where
    // started (or already over): then its log can be followed
    const startBy = Date.now() + (options.startTimeoutMs ?? 120_000)
    for (;;) {
      const pod = await read(w)
      if (!pod) return {code: null, signal: 'SIGKILL', error: `pod ${w.namespace}/${w.pod} disappeared before ${w.container} started`}
      const status = containerStatus(pod, w)
      if (status?.state?.running || status?.state?.terminated) break
      const waiting = status?.state?.waiting
      if (waiting?.reason && /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerError|CreateContainerConfigError/.test(waiting.reason)) {
        return {code: null, signal: null, error: `${w.container} in ${w.namespace}/${w.pod} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`}
      }
      if (Date.now() > startBy) return {code: null, signal: null, error: `${w.container} in ${w.namespace}/${w.pod} did not start within ${(options.startTimeoutMs ?? 120_000) / 1000}s (${waiting?.reason ?? pod.status?.phase})`}
      await sleep(200)
    }
    // a followed log can close before the container ends (client-node notes it; servers time out): follow again
    // until the container has terminated or the deadline is well past. Lines are cumulative, so repeats are harmless.
    for (let attempt = 0; ; attempt++) {
      await follow(w)
      if (helperExit) return helperExit
      const pod = await read(w)
      const status = pod ? containerStatus(pod, w) : undefined
      if (!status?.state?.running || Date.now() > args.deadline + 15_000 || attempt > 20) break
      await sleep(250)
    }
    // how the container ended, as the kubelet reports it
    for (let i = 0; i < 50; i++) {
      const pod = await read(w)
      const terminated = pod ? containerStatus(pod, w)?.state?.terminated : undefined
      if (!pod) return {code: null, signal: 'SIGTERM'}
      if (terminated) {
        const killed = terminated.exitCode === 137 || terminated.reason === 'OOMKilled'
        return {code: killed ? null : terminated.exitCode, signal: killed ? 'SIGKILL' : null, ...(terminated.reason ? {error: terminated.reason === 'Completed' ? undefined : terminated.reason} : {})}
      }
      await sleep(200)
    }
    return {code: null, signal: null, error: `${w.container} log ended but the container did not terminate`}
  }

  const follow = async (w: RemoteContainer): Promise<void> => {
    const lines = lineSplitter(handleLine)
    const ended = new Promise<void>((resolve) => {
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString())
          done()
        },
      })
      sink.on('finish', () => resolve())
      sink.on('close', () => resolve())
      sink.on('error', () => resolve())
      const log = new cluster.k8s.Log(cluster.kc)
      log.log(w.namespace, w.pod, w.container, sink, {follow: true}).then((abort) => { logAbort = abort }, (error) => {
        said.lastError ??= `following the log of ${w.container}: ${describeApiError(error)}`
        resolve()
      })
    })
    await ended
    lines.flush()
  }

  const exited: Promise<StressorExit> = run().catch((error: unknown): StressorExit => ({code: null, signal: null, error: describeApiError(error)})).then((exit) => {
    const out: StressorExit = {...exit}
    if (said.exitReason && !out.reason) out.reason = said.exitReason
    if (out.signal === 'SIGKILL' && !stopping) out.killedBy = 'oom-or-sigkill'
    if (!out.error && said.lastError) out.error = said.lastError
    if (out.error === undefined) delete out.error
    logAbort?.abort()
    said.neverReady(new Error(`stressor ${args.kind} ended before it was ready (${out.error ?? `exit ${out.code ?? out.signal}`})${tail ? `: ${tail.trim().split('\n').slice(-3).join(' | ')}` : ''}`))
    return out
  })

  return {
    args,
    pid: undefined,
    ready: said.ready,
    exited,
    // after stop(), the figures at the moment of stopping: an ephemeral stressor burns on until its deadline, and
    // what it does then is not part of the dose the inject phase measured
    latest: () => frozen ?? said.latest,
    onMessage: (listener) => said.onMessage(listener),
    stderr: () => tail,
    async stop() {
      stopping = true
      frozen ??= said.latest
      if (where && options.remove) await options.remove(where)
      // an ephemeral container cannot be removed: its stressor is asked to stop (exec), else it ends at its
      // deadline, moments after the inject phase
      else if (where && options.stopEarly && helperExit === undefined) {
        try {
          await options.stopEarly(where)
        } catch { /* it ends at its deadline */ }
      }
      return exited
    },
  }
}

/** Several stressors (pods x containers) as one: ready when all are, progress summed and scaled back to one dose. */
export function combineStressors(handles: StressorHandle[], weights: number[]): StressorHandle {
  if (handles.length === 1) return handles[0]
  const total = weights.reduce((a, b) => a + b, 0)
  const listeners = new Set<(message: StressorMessage) => void>()
  for (const h of handles) h.onMessage((m) => { for (const l of listeners) l(m) })
  const exited = Promise.all(handles.map((h) => h.exited)).then((exits) => exits.find((e) => e.signal === 'SIGKILL') ?? exits.find((e) => e.error) ?? exits[0])
  return {
    args: handles[0].args,
    pid: undefined,
    ready: Promise.all(handles.map((h) => h.ready)).then((all) => all[0]),
    exited,
    latest() {
      const all = handles.map((h) => h.latest())
      if (all.some((p) => p === undefined)) return all.find((p) => p !== undefined)
      // the dose of the first (reference) container: the sum divided by the sum of the scale factors
      const scale = (n: number | undefined) => (n === undefined ? undefined : n / total)
      const sum = (pick: (p: StressorProgress) => number | undefined) => all.reduce((s, p) => s + (pick(p!) ?? 0), 0)
      return {...all[0]!, cpuSeconds: scale(sum((p) => p.cpuSeconds))!, rssBytes: scale(sum((p) => p.rssBytes))!, ...('bytes' in all[0]! ? {bytes: scale(sum((p) => (p as {bytes?: number}).bytes))} : {})} as StressorProgress
    },
    onMessage(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    stderr: () => handles.map((h) => h.stderr()).join('\n'),
    async stop() {
      await Promise.all(handles.map((h) => h.stop()))
      return exited
    },
  }
}
