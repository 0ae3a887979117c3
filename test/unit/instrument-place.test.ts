// Where the toolkit's own probe is kept: off the CPUs its neighbours are pinned to, and off the target's unless the
// target's box is idle there; free when the target is not pinned or every CPU is taken. One rule for every platform
// that shares this machine's kernel with a fault (process, docker, and host when a host is this machine).
import {describe, expect, it} from 'vitest'

import {describeInstrumentPlace, instrumentPlace} from '../../src/platforms/instrument.js'

describe('instrumentPlace', () => {
  it('a target free to use every CPU leaves the instrument free too', () => {
    expect(instrumentPlace({target: [], neighbours: [0]}, [0, 1])).toBeUndefined()
    expect(describeInstrumentPlace(undefined)).toBe('the toolkit\'s probe runs in a box of its own with a high CPU weight')
  })

  it('keeps off a busy target\'s pinned core and the neighbours\' pinned cores', () => {
    expect(instrumentPlace({target: [1], neighbours: []}, [0, 1])).toEqual({cpus: '0', avoided: '1'})
    expect(instrumentPlace({target: [3], neighbours: [1, 2]}, [0, 1, 2, 3])).toEqual({cpus: '0', avoided: '1,2,3'})
    expect(describeInstrumentPlace({cpus: '0', avoided: '1'})).toMatch(/, on CPU 0, off 1 where the target or a neighbour is pinned$/)
  })

  it('may share an idle target\'s core, where it preempts the target at once', () => {
    const free = instrumentPlace({target: [1], targetIdle: true, neighbours: []}, [0, 1])
    expect(free).toEqual({cpus: undefined, avoided: '', idleTarget: '1'})
    expect(describeInstrumentPlace(free)).toMatch(/with a high CPU weight, on any CPU; it may share 1 with the target, whose box is idle there$/)
  })

  it('keeps off a neighbour\'s pinned core even beside an idle target', () => {
    const place = instrumentPlace({target: [1], targetIdle: true, neighbours: [0, 2]}, [0, 1, 2, 3])
    expect(place).toEqual({cpus: '1,3', avoided: '0,2', idleTarget: '1'})
    expect(describeInstrumentPlace(place)).toMatch(/, on CPU 1,3, off 0,2 where a neighbour is pinned; it may share 1 with the target, whose box is idle there$/)
  })

  it('stays free, its weight its only protection, when every CPU is pinned', () => {
    expect(instrumentPlace({target: [1], neighbours: [0]}, [0, 1])).toEqual({cpus: undefined, avoided: '0,1'})
    expect(describeInstrumentPlace({cpus: undefined, avoided: '0,1'})).toMatch(/on any CPU: the target and its neighbours are pinned to all of them \(0,1\)$/)
    expect(instrumentPlace({target: [1], targetIdle: true, neighbours: [0, 1]}, [0, 1])).toEqual({cpus: undefined, avoided: '0,1', idleTarget: '1'})
  })
})
