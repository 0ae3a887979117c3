import type {FaultSpec} from '../experiment/schema.js'
import {cpuHog} from './cpu-hog.js'
import {diskFill} from './disk-fill.js'
import type {FaultDriver} from './fault.js'
import {ioSaturation} from './io-saturation.js'
import {memoryLeak} from './memory-leak.js'
import {networkFlood} from './network-flood.js'
import {processExhaustion} from './process-exhaustion.js'

const drivers = {
  'memory-leak': memoryLeak,
  'cpu-hog': cpuHog,
  'disk-fill': diskFill,
  'network-flood': networkFlood,
  'process-exhaustion': processExhaustion,
  'io-saturation': ioSaturation,
} satisfies {[K in FaultSpec['type']]: FaultDriver<Extract<FaultSpec, {type: K}>>}

export function driverFor(spec: FaultSpec): FaultDriver {
  return drivers[spec.type] as FaultDriver
}
