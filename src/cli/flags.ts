// Flag types several commands share, written once.
import {Flags} from '@oclif/core'

import {formatDuration, parseDuration} from '../experiment/units.js'

/** What a duration flag accepts, in the words of its refusal: a user who gave too little learns the least. */
function accepted(min: number): string {
  if (min === 0) return ' (0s allowed)'
  return min === 1 ? ' (more than 0s)' : ` (at least ${formatDuration(min)})`
}

/** A duration flag (15s, 1m, 2m30s) in milliseconds, refused below min ms with the same words in every command. */
export const durationFlag = (min = 0) => Flags.custom<number>({
  parse: async (input) => {
    const ms = parseDuration(input)
    if (ms === undefined || ms < min) throw new Error(`expected a duration such as 15s or 1m${accepted(min)}, got ${JSON.stringify(input)}`)
    return ms
  },
})
