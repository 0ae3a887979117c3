import {expect} from 'vitest'

import {PlanError} from '../../src/platforms/platform.js'

/** The PlanError the action refuses with; fails the test when it does not refuse. */
export function refusal(action: () => unknown): PlanError {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError)
    return error as PlanError
  }
  throw new Error('expected a refusal')
}
