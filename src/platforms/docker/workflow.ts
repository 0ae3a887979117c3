// One workflow on the Docker platform: a container the experiment created from an image (managed), or one it
// attached to by name or id. Its accounting is read from the container's own cgroup files, as on the process
// platform; its exits come from the engine's event stream.
import type {NeighborSpec, TargetSpec} from '../../experiment/schema.js'
import type {CgroupLimits} from '../../host/cgroupfs.js'
import {allowanceOf} from '../../host/cpus.js'
import {readCgroupSample, sharedBoxFigures} from '../../metrics/resources.js'
import type {CgroupPaths, ResourceSample} from '../../metrics/types.js'
import type {Allowance, WorkflowHandle} from '../platform.js'
import type {ContainerCgroup} from './cgroups.js'

export type DockerLevel = 'none' | 'shared' | 'container'

export class DockerWorkflow implements WorkflowHandle {
  readonly name: string
  /** the container's id, once it exists */
  id?: string
  /** the container's name (chaos-RUN-NAME for managed ones) */
  containerName: string
  /** its main process as this machine sees it */
  pid?: number
  cgroup?: ContainerCgroup
  /** the shared parent's accounting, for level shared (its limits, throttling and OOM kills are every member's) */
  sharedBox?: CgroupPaths
  /** the limits the container has (managed: as asked; attached: as found) */
  limits?: CgroupLimits
  /** its network namespace, for floods: /proc/PID/ns/net; undefined when it uses the host's network */
  netnsPath?: string
  /** the gateway of its network (where the flood sink listens) and its own address there */
  gateway?: string
  address?: string
  stopping = false
  private readonly exitedAt: number[] = []
  private lastExitText?: string
  private sawOom = false

  constructor(
    readonly spec: TargetSpec | NeighborSpec,
    readonly role: 'target' | 'neighbor',
    readonly level: DockerLevel,
    readonly managed: boolean,
    runId: string,
  ) {
    this.name = spec.name
    this.containerName = managed ? `chaos-${runId}-${spec.name}` : spec.container!
  }

  get boundary(): string {
    const where = `container ${this.containerName}`
    if (!this.managed) return `attached, ${where}${this.cgroup ? `, cgroup ${this.cgroup.path}` : ''}`
    if (this.level === 'none') return `none: ${where} without limits`
    if (this.level === 'shared') return `shared: ${where} under cgroup parent ${this.sharedParent ?? '?'}`
    return `container: ${where}${this.cgroup ? `, cgroup ${this.cgroup.path}` : ''}`
  }

  sharedParent?: string

  allowance(): Allowance {
    return allowanceOf(this.limits)
  }

  sample(): ResourceSample {
    if (!this.cgroup) return {t: Date.now()}
    const own = readCgroupSample(this.cgroup.paths)
    if (this.level === 'shared' && this.sharedBox) {
      // in a shared box, CPU throttling, OOM kills and the pids budget are the box's: every member feels them
      return sharedBoxFigures(own, readCgroupSample(this.sharedBox))
    }
    return own
  }

  /** An engine event about this container, at the engine's own time of it (epoch ms; now when it gave none). */
  onEvent(action: string, exitCode: string | undefined, atMs = Date.now()): void {
    if (action === 'oom') {
      this.sawOom = true
      return
    }
    if (action !== 'die' || this.stopping) return
    this.exitedAt.push(atMs)
    const code = Number(exitCode)
    this.lastExitText = code === 137
      ? `killed by SIGKILL${this.sawOom ? ' (OOM killer)' : ' (OOM killer or kill -9)'}`
      : `exited with code ${exitCode ?? '?'}`
  }

  unexpectedExits(): number {
    return this.exitedAt.length
  }

  exitTimes(): readonly number[] {
    return this.exitedAt
  }

  lastExit(): string | undefined {
    return this.lastExitText
  }
}
