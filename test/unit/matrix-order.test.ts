// The matrix's run order: seeded, every level exactly N times, interleaved in rounds (each round runs every level
// once), and never the same level twice in a row when there is more than one level.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {describeOrder, interleavedOrder, parseLevels} from '../../src/matrix/order.js'
import {LEVELS, type Level} from '../../src/matrix/types.js'

const levelSets: Level[][] = [['none'], ['none', 'cgroup'], ['cgroup', 'none'], ['none', 'shared', 'cgroup']]

describe('the interleaved order', () => {
  it('runs every level exactly N times, once per round, never twice in a row', () => {
    fc.assert(fc.property(fc.constantFrom(...levelSets), fc.integer({min: 1, max: 12}), fc.string(), (levels, repeat, seed) => {
      const order = interleavedOrder(levels, repeat, seed)
      expect(order).toHaveLength(levels.length * repeat)
      for (const level of levels) {
        const mine = order.filter((s) => s.level === level)
        expect(mine.map((s) => s.repetition)).toEqual(Array.from({length: repeat}, (_, i) => i + 1))
      }
      for (let round = 0; round < repeat; round++) {
        const block = order.slice(round * levels.length, (round + 1) * levels.length)
        expect(new Set(block.map((s) => s.level)).size).toBe(levels.length)
        expect(block.every((s) => s.repetition === round + 1)).toBe(true)
      }
      if (levels.length > 1) for (let i = 1; i < order.length; i++) expect(order[i].level).not.toBe(order[i - 1].level)
    }))
  })

  it('is the same for the same seed and shuffled differently by others', () => {
    expect(describeOrder(interleavedOrder(['none', 'shared', 'cgroup'], 3, '42'))).toBe(describeOrder(interleavedOrder(['none', 'shared', 'cgroup'], 3, '42')))
    const orders = new Set(Array.from({length: 30}, (_, i) => describeOrder(interleavedOrder(['none', 'shared', 'cgroup'], 3, `seed-${i}`))))
    expect(orders.size).toBeGreaterThan(10)
  })

  it('does not favour a level in the first or last position', () => {
    const first = new Map<Level, number>()
    for (let i = 0; i < 600; i++) {
      const order = interleavedOrder(['none', 'shared', 'cgroup'], 3, String(i))
      first.set(order[0].level, (first.get(order[0].level) ?? 0) + 1)
    }
    for (const level of ['none', 'shared', 'cgroup'] as const) expect(first.get(level)).toBeGreaterThan(150)
  })
})

describe('--levels', () => {
  it('accepts known levels in the order given', () => {
    expect(parseLevels('cgroup, none', LEVELS)).toEqual({levels: ['cgroup', 'none']})
  })

  it('refuses unknown, repeated and empty lists', () => {
    expect(parseLevels('none,pod', LEVELS)).toEqual({error: '--levels: unknown isolation level "pod" (expected none, shared, cgroup)'})
    expect(parseLevels('none,none', LEVELS)).toEqual({error: '--levels: none is listed twice'})
    expect('error' in parseLevels(' , ', LEVELS)).toBe(true)
  })
})
