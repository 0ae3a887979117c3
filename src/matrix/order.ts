// The run order of a matrix: randomised blocks. Each round runs every level once, in a freshly shuffled order,
// so drift over time (a warming machine, a neighbour's cron job) spreads over all levels instead of landing on
// whichever ran last; the shuffle is seeded so an order can be replayed. A round never starts with the level
// the previous one ended with, so no level runs twice in a row while there is more than one level.
import {seededRng, type Rng} from '../verdict/stats.js'
import type {Level, MatrixSlot} from './types.js'

export function interleavedOrder(levels: readonly Level[], repeat: number, seed: string): MatrixSlot[] {
  const rng = seededRng(`chaos-matrix/${seed}`)
  const order: MatrixSlot[] = []
  for (let round = 1; round <= repeat; round++) {
    const block = shuffled(levels, rng)
    const previous = order.at(-1)?.level
    if (block.length > 1 && block[0] === previous) {
      // swap the repeat with a random later position: still uniform over the orders that avoid it
      const other = 1 + Math.floor(rng() * (block.length - 1))
      ;[block[0], block[other]] = [block[other], block[0]]
    }
    for (const level of block) order.push({level, repetition: round})
  }
  return order
}

/** Fisher-Yates. */
function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j], copy[i]]
  }
  return copy
}

export function describeOrder(order: readonly MatrixSlot[]): string {
  return order.map((slot) => `${slot.level}#${slot.repetition}`).join(' ')
}

/** Parses `--levels none,shared,cgroup`; unknown or repeated levels are usage errors. */
export function parseLevels(text: string, known: readonly Level[]): {levels: Level[]} | {error: string} {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (names.length === 0) return {error: `--levels: expected a comma-separated list of ${known.join(', ')}`}
  const levels: Level[] = []
  for (const name of names) {
    if (!known.includes(name as Level)) return {error: `--levels: unknown isolation level ${JSON.stringify(name)} (expected ${known.join(', ')})`}
    if (levels.includes(name as Level)) return {error: `--levels: ${name} is listed twice`}
    levels.push(name as Level)
  }
  return {levels}
}
