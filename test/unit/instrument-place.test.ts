// Where the toolkit's own probe is kept: off the CPUs the target and its neighbours are pinned to, free when the
// target is not pinned or every CPU is taken. One rule for every platform that shares this machine's kernel with a
// fault (process, docker, and host when a host is this machine).
import {describe, expect, it} from 'vitest'

import {describeInstrumentPlace, instrumentPlace} from '../../src/platforms/instrument.js'

describe('instrumentPlace', () => {
  it('a target free to use every CPU leaves the instrument free too', () => {
    expect(instrumentPlace([], [0], [0, 1])).toBeUndefined()
    expect(describeInstrumentPlace(undefined)).toBe('the toolkit\'s probe runs in a box of its own with a high CPU weight')
  })

  it('keeps off the target\'s pinned core and the neighbours\' pinned cores', () => {
    expect(instrumentPlace([1], [], [0, 1])).toEqual({cpus: '0', avoided: '1'})
    expect(instrumentPlace([3], [1, 2], [0, 1, 2, 3])).toEqual({cpus: '0', avoided: '1,2,3'})
    expect(describeInstrumentPlace({cpus: '0', avoided: '1'})).toMatch(/, on CPU 0, off 1 where the target or a neighbour is pinned$/)
  })

  it('stays free, its weight its only protection, when every CPU is pinned', () => {
    expect(instrumentPlace([1], [0], [0, 1])).toEqual({cpus: undefined, avoided: '0,1'})
    expect(describeInstrumentPlace({cpus: undefined, avoided: '0,1'})).toMatch(/on any CPU: the target and its neighbours are pinned to all of them \(0,1\)$/)
  })
})
