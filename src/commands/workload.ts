import {Command, Flags} from '@oclif/core'
import {parseBytes} from '../experiment/units.js'
import {SPAWN_PROGRAM, startWorkload} from '../workload/server.js'

const nonNegativeNumber = Flags.custom<number>({
  parse: async (input) => {
    const value = Number(input)
    if (input.trim() === '' || !Number.isFinite(value) || value < 0) throw new Error(`expected a number >= 0, got ${JSON.stringify(input)}`)
    return value
  },
})

export default class Workload extends Command {
  static override summary = 'Run the demo workload: a small HTTP API that uses CPU, memory and disk (and, with --spawn, a process) on every request'

  static override description = [
    'GET /work burns --cpu-ms of CPU, holds a --hold-kb buffer for a few seconds and appends --write-kb to a data file',
    '(answering 507 with the error code when the write fails, e.g. on a full disk). GET /metrics exposes',
    'http_request_duration_seconds and http_requests_total; GET /healthz answers 200. The data file is removed on exit.',
    '--slowdown-file names a file holding a number that multiplies --cpu-ms, re-read every second (a missing file means 1):',
    'a way to slow the workload on purpose, e.g. to measure whether a verdict notices (docs/benchmarks.md).',
    '--spawn runs /bin/true to its end in every /work request, as a service that shells out does, and answers 503 when',
    'the kernel refuses the fork (EAGAIN: the pids budget of its box is taken).',
  ].join(' ')

  static override examples = [
    '<%= config.bin %> workload --port 8081',
    '<%= config.bin %> workload --port 0 --cpu-ms 5 --cache 320Mi --data-dir /mnt/volume',
    '<%= config.bin %> workload --port 8081 --spawn',
  ]

  static override flags = {
    port: Flags.integer({description: 'port to listen on; 0 picks a free one', required: true, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to listen on', default: '127.0.0.1'}),
    'cpu-ms': nonNegativeNumber({description: 'CPU milliseconds burnt per /work request', default: 2}),
    'hold-kb': nonNegativeNumber({description: 'kilobytes allocated per /work request and held for a few seconds', default: 64}),
    'write-kb': nonNegativeNumber({description: 'kilobytes appended to the data file per /work request', default: 4}),
    'data-dir': Flags.string({description: 'directory of the data file (default: $TMPDIR/chaos-workload-PORT)'}),
    cache: Flags.string({description: 'in-memory cache filled at start and held, e.g. 320Mi'}),
    'slowdown-file': Flags.string({description: 'file holding a multiplier of --cpu-ms (e.g. 1.2), re-read every second; missing means 1'}),
    spawn: Flags.boolean({description: 'run /bin/true in every /work request; a refused fork (EAGAIN) answers 503', default: false}),
    fsync: Flags.boolean({description: 'make each request\'s append durable (fdatasync) before answering, as a database commit does', default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Workload)
    let cacheBytes = 0
    if (flags.cache !== undefined) {
      const parsed = parseBytes(flags.cache)
      if (parsed === undefined) this.error(`--cache: expected a size such as 320Mi or 1G, got ${JSON.stringify(flags.cache)}`)
      cacheBytes = parsed
    }

    const workload = await startWorkload({
      port: flags.port,
      host: flags.host,
      cpuMs: flags['cpu-ms'],
      holdKb: flags['hold-kb'],
      writeKb: flags['write-kb'],
      dataDir: flags['data-dir'],
      cacheBytes,
      slowdownFile: flags['slowdown-file'],
      spawn: flags.spawn ? SPAWN_PROGRAM : undefined,
      fsync: flags.fsync,
    })
    // Last resort for an exit that skips close() (an uncaught error): leave no data file behind.
    process.once('exit', workload.removeDataSync)

    this.log(`listening on ${workload.url}`)

    // The first signal closes gracefully. Later ones (a supervisor and a terminal may both send one) must not
    // fall through to the default action, which would kill the process before it removes its data file.
    let received: NodeJS.Signals | undefined
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const onSignal = (name: NodeJS.Signals) => {
        if (received === undefined) {
          received = name
          resolve(name)
        }
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    })
    await workload.close()
    process.off('exit', workload.removeDataSync)
    this.logToStderr(`workload stopped (${signal})`)
  }
}
