// Flag types several commands share, written once.
import {Flags} from '@oclif/core'

import {parseDuration} from '../experiment/units.js'

/** A duration flag (15s, 1m, 2m30s) in milliseconds, refused below min ms with the same words in every command. */
export const durationFlag = (min = 0) => Flags.custom<number>({
  parse: async (input) => {
    const ms = parseDuration(input)
    if (ms === undefined || ms < min) throw new Error(`expected a duration such as 15s or 1m${min === 0 ? ' (0s allowed)' : ''}, got ${JSON.stringify(input)}`)
    return ms
  },
})
