import {Args, Command, Flags} from '@oclif/core'

import {exitCodeFor} from '../cli/errors.js'
import {parseBitRate, parseByteRate, parseBytes, parseCountRate, parseDuration, parsePercent} from '../experiment/units.js'
import {PlanError} from '../platforms/platform.js'
import {runAdhoc} from '../stress/adhoc.js'
import {ADHOC_KINDS, type AdhocKind} from '../stressors/kinds.js'

function strict(parse: (text: string) => number | undefined, what: string) {
  return async (input: string): Promise<number> => {
    const value = parse(input)
    if (value === undefined) throw new Error(`expected ${what}, got ${JSON.stringify(input)}`)
    return value
  }
}

const durationFlag = Flags.custom<number>({parse: strict(parseDuration, 'a duration such as 30s')})
// stress-ng's users type --cpu-load 50: on the command line a bare number is a percentage (50 is 50%), said
// right there in the flag's help, where in an experiment file it is refused as ambiguous
function percentOrNumber(text: string): number | undefined {
  const fraction = parsePercent(/^\s*-?[\d.]+\s*$/.test(text) ? `${text}%` : text)
  return fraction !== undefined && fraction >= 0 && fraction <= 1 ? fraction : undefined
}
const percentFlag = Flags.custom<number>({parse: strict(percentOrNumber, 'a percentage from 0% to 100% such as 50% (or 50)')})
function forkRate(text: string): number {
  const rate = parseCountRate(text)
  if (rate === undefined) throw new PlanError(`--rate: expected processes per second such as 50/s, got ${JSON.stringify(text)}`)
  return rate
}
const sizeFlag = Flags.custom<number>({parse: strict(parseBytes, 'a size such as 512Mi')})

export default class Stress extends Command {
  static override summary = 'Run one stressor ad hoc, without an experiment file'
  static override description = 'The stressor dies by itself at the end of --duration, or when this command dies. It is charged to --cgroup or to the cgroup of --pid when given.'
  static override examples = [
    '<%= config.bin %> stress cpu --load 50% --duration 30s',
    '<%= config.bin %> stress cpu --load 100% --cpus 0.5 --cgroup chaos-demo',
    '<%= config.bin %> stress memory --rate 64Mi/s --limit 512Mi --pid 1234',
    '<%= config.bin %> stress disk --dir /mnt/scratch --size 1Gi',
    '<%= config.bin %> stress flood --port 5201 --rate 1gbit',
    '<%= config.bin %> stress fork --count 200 --rate 50/s --cgroup chaos-demo',
    '<%= config.bin %> stress io --dir /var/tmp/scratch --size 256Mi --depth 8 --cgroup chaos-demo',
  ]

  static override args = {fault: Args.string({description: 'what to stress', required: true, options: [...ADHOC_KINDS]})}

  static override flags = {
    duration: durationFlag({description: 'how long', default: 30_000}),
    load: percentFlag({description: 'cpu: share of the allowance (--cpus, else the host), 50% or 50 as stress-ng writes it'}),
    cpus: Flags.string({description: 'cpu: the allowance in cores the load is relative to'}),
    workers: Flags.integer({description: 'cpu: busy threads', min: 1, max: 256}),
    rate: Flags.string({description: 'memory: growth such as 64Mi/s; flood: bit rate such as 1gbit; fork: processes per second such as 50/s; io: bytes per second such as 50Mi/s (default: as fast as possible)'}),
    limit: sizeFlag({description: 'memory: where the leak stops'}),
    dir: Flags.string({description: 'disk: directory to fill; io: directory of the working file (on a disk, not tmpfs)'}),
    size: sizeFlag({description: 'disk: bytes to write; io: size of the working file (default 256Mi)'}),
    'block-size': sizeFlag({description: 'io: bytes per direct write, a whole number of 4Ki (default 1Mi)'}),
    depth: Flags.integer({description: 'io: operations in flight at once (default 8)', min: 1, max: 64}),
    reads: percentFlag({description: 'io: share of the operations that are direct reads, 30% or 30 (default 0: writes only)'}),
    'disk-floor': percentFlag({description: 'disk: free space always left, 10% or 10', default: 0.1}),
    host: Flags.string({description: 'flood: loopback destination', default: '127.0.0.1'}),
    port: Flags.integer({description: 'flood: destination port', min: 1, max: 65_535}),
    connections: Flags.integer({description: 'flood: connections', min: 1, max: 64, default: 1}),
    count: Flags.integer({description: 'fork: processes (or threads) to create and hold until the end', min: 1}),
    kind: Flags.string({description: 'fork: processes or threads', options: ['processes', 'threads'], default: 'processes'}),
    'max-processes': Flags.integer({description: 'fork: refuse a --count above this, as safety.maxProcesses does', min: 1, default: 2000}),
    cgroup: Flags.string({description: 'charge the stressor to this cgroup'}),
    pid: Flags.integer({description: 'charge the stressor to the cgroup of this process'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Stress)
    const kind = args.fault as AdhocKind
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      const exit = await runAdhoc({
        kind, durationMs: flags.duration, load: flags.load, workers: flags.workers,
        cpus: flags.cpus === undefined ? undefined : Number(flags.cpus),
        rate: (kind === 'memory' || kind === 'io') && flags.rate ? parseByteRate(flags.rate) : undefined,
        blockSize: flags['block-size'], depth: flags.depth, reads: flags.reads,
        bitRate: kind === 'flood' && flags.rate ? parseBitRate(flags.rate) : undefined,
        limit: flags.limit, dir: flags.dir, size: flags.size, diskFloor: flags['disk-floor'],
        host: flags.host, port: flags.port, connections: flags.connections, cgroup: flags.cgroup, pid: flags.pid,
        count: flags.count, forkRate: kind === 'fork' && flags.rate ? forkRate(flags.rate) : undefined,
        forkKind: flags.kind as 'processes' | 'threads', maxProcesses: flags['max-processes'],
      }, controller.signal, (line) => process.stderr.write(`${line}\n`))
      process.stdout.write(`stressor ended: ${exit.reason ?? exit.signal ?? exit.code}${exit.error ? ` (${exit.error})` : ''}\n`)
      if (controller.signal.aborted) this.exit(3)
    } catch (error) {
      const {code, message} = exitCodeFor(error)
      process.stderr.write(`${message}\n`)
      this.exit(code)
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}
