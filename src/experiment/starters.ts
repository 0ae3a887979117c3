// Commented starter experiments written by `chaos init`, one per fault type. Each must pass
// parseExperiment as written (test/unit/experiment-load.test.ts checks it), so a new user starts from something
// that runs and edits from there.
import type {FaultType} from './schema.js'

export const STARTER_FAULTS = ['memory-leak', 'cpu-hog', 'disk-fill', 'network-flood', 'process-exhaustion', 'io-saturation'] as const satisfies readonly FaultType[]

interface StarterParts {
  name: string
  description: string
  /** lines under `target:` after name and run: its isolation, where the fault is contained */
  targetIsolation: string
  /** optional top-level sections before fault: (volumes) */
  extra?: string
  fault: string
  hypothesis: string
}

const PARTS: Record<(typeof STARTER_FAULTS)[number], StarterParts> = {
  'memory-leak': {
    name: 'memory-leak-contained',
    description: 'A memory leak in the worker stays inside its cgroup; the web neighbour does not notice.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup
    memory: 256Mi            # the leak should hit this limit, not the host's`,
    fault: `fault:
  type: memory-leak
  rate: 64Mi/s               # how fast the leak grows
  limit: 90%                 # stop at 90% of the target's memory limit (or a size: 200Mi)
  hold: true                 # keep the memory until the inject phase ends`,
    hypothesis: `hypothesis:
  - signal: latency_p99
    max_increase: 25%        # at most 25% slower than during the baseline
  - signal: error_rate
    max: 1%
  - signal: oom_kills
    neighbor: web
    max: 0`,
  },
  'cpu-hog': {
    name: 'cpu-hog-contained',
    description: 'A CPU hog in the worker is held to its quota; the web neighbour keeps its latency.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup
    cpus: 1                  # a CFS quota of one core`,
    fault: `fault:
  type: cpu-hog
  load: 100%                 # of the target's own allowance (quota, cpuset, or the whole host under none)
  # workers: 2               # default: one busy process per core of the allowance`,
    hypothesis: `hypothesis:
  - signal: latency_p99
    max_increase: 25%
  - signal: throughput
    max_decrease: 10%`,
  },
  'disk-fill': {
    name: 'disk-fill-contained',
    description: 'Filling the worker\'s own volume leaves the web neighbour\'s disk alone.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup`,
    extra: `# Volumes are tmpfs mounts created for the experiment and removed after it.
volumes:
  scratch:
    size: 256Mi

`,
    fault: `fault:
  type: disk-fill
  volume: scratch            # or path: /some/dir listed in safety.allowPaths
  size: 100%                 # of the volume (or a size: 200Mi)
  mode: write                # write: real writes; fallocate: reserve the space at once`,
    hypothesis: `hypothesis:
  - signal: latency_p99
    max_increase: 25%
  - signal: error_rate
    max: 1%`,
  },
  'network-flood': {
    name: 'network-flood-contained',
    description: 'A flood from the worker is held to its own veth rate; the web neighbour keeps answering.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup
    network:
      rate: 100Mbit          # a network namespace of its own, its egress limited on its veth`,
    fault: `fault:
  type: network-flood
  destination: sink          # a receiver chaos starts on the other side of the target's network
  protocol: tcp              # tcp | udp
  rate: 1Gbit                # try to send far more than the target's limit
  connections: 4`,
    hypothesis: `hypothesis:
  - signal: latency_p99
    max_increase: 25%
  - signal: error_rate
    max: 1%`,
  },
  'process-exhaustion': {
    name: 'process-exhaustion-contained',
    description: 'A fork bomb in the worker is stopped by its own pids limit; the web neighbour can still fork.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup
    pids: 64                 # the worker's own pids budget: the fork bomb should hit this, not the host's`,
    fault: `fault:
  type: process-exhaustion
  count: 200                 # processes to create and hold (at most safety.maxProcesses)
  rate: 100/s                # how fast; leave out for as fast as possible
  kind: processes            # processes | threads`,
    hypothesis: `hypothesis:
  - signal: error_rate
    max: 1%
  - signal: restarts
    max: 0
  - signal: latency_p99
    max_increase: 50%`,
  },
  'io-saturation': {
    name: 'io-saturation-contained',
    description: 'A worker saturating the disk is held by its own I/O throttle; the web neighbour\'s writes keep their latency.',
    targetIsolation: `  isolation:
    level: cgroup            # none | shared | cgroup
    io:
      writeBps: 5Mi/s        # the worker's own throttle on the disk of the run's directory (or of io.path); size it by
                             # what the neighbours' fsyncs can afford: each waits on what the throttle let through`,
    fault: `fault:
  type: io-saturation
  size: 256Mi                # the working file, written over and over, in the run's own directory
  blockSize: 1Mi             # bytes per direct (O_DIRECT) write
  depth: 2                   # writes in flight: the queue the disk sees (two 1Mi writes already take a disk;
                             # a throttled writer's removal waits for what it has in flight)
  # path: /var/tmp/scratch   # elsewhere: a directory on a disk, listed in safety.allowPaths`,
    hypothesis: `hypothesis:
  - signal: error_rate
    max: 1%
  - signal: latency_p95
    max_increase: 25%`,
  },
}

/** A starter experiment for `fault`; `schemaPath` is where an editor finds experiment.schema.json, relative to the file. */
export function starterExperiment(fault: (typeof STARTER_FAULTS)[number], schemaPath: string): string {
  const parts = PARTS[fault]
  return `# yaml-language-server: $schema=${schemaPath}
#
# A chaos experiment: inject one fault into the target, measure its neighbours, and check the hypothesis.
# Check this file with:  chaos validate <this file>
# Durations: 500ms, 15s, 1m30s. Sizes: 64Mi, 1Gi, 500M. Rates: 64Mi/s (bytes), 100Mbit (bits). Shares: 25%.
apiVersion: chaos/v1
kind: Experiment
metadata:
  name: ${parts.name}
  description: ${parts.description}

# The workflow that receives the fault. "run" starts it for the experiment and stops it after;
# to use something already running, give exactly one of pid, cgroup or unit (worker.service) instead.
target:
  name: worker
  run: [chaos, workload, --port, "18080"]   # "chaos" is this toolkit's demo HTTP workload; or your own argv
${parts.targetIsolation}

# The workflows that must not notice. Each is measured during every phase.
neighbors:
  - name: web
    run: [chaos, workload, --port, "18081"]
    isolation:
      level: cgroup
    ready:
      http: http://127.0.0.1:18081/healthz     # measuring starts once this answers 2xx
    probe:
      http:
        url: http://127.0.0.1:18081/work
        rate: 50             # requests per second; latency, errors and throughput are measured on them
    metrics: http://127.0.0.1:18081/metrics    # Prometheus endpoint scraped every interval

${parts.extra ?? ''}${parts.fault}

# baseline: measure before the fault; inject: the fault runs; recover: measure after it stops.
phases:
  baseline: 15s
  inject: 30s
  recover: 10s
  interval: 1s

# What "contained" means, per signal; every entry needs a threshold (max_increase, max_decrease, max, min).
${parts.hypothesis}

# contained: the hypothesis should hold; breach: this experiment demonstrates a failure that gets out.
expect: contained

# Limits chaos enforces whatever the experiment says.
safety:
  maxDuration: 30m
  maxMemory: 8Gi
  maxDisk: 8Gi
  maxProcesses: 2000
`
}
