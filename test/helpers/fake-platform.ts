// A platform for unit tests of what only talks to the Platform interface (faults' plans and doses, the stressor
// launcher): every member is there and typed, the ones a test gives are its own, and any other one the code under
// test reaches for fails loudly with its name instead of answering something made up.
import type {ResourceSample} from '../../src/metrics/types.js'
import type {Allowance, Platform, StressorPlacement, WorkflowHandle} from '../../src/platforms/platform.js'
import type {StressorHandle} from '../../src/stressors/spawn.js'

const unused = (member: string) => (): never => {
  throw new Error(`the fake platform has no ${member}; give it to fakePlatform()`)
}

/** A workflow with a name, a role and a boundary; its allowance, samples and exits as given. */
export function fakeWorkflow(overrides: Partial<WorkflowHandle> & {name?: string, role?: WorkflowHandle['role']} = {}): WorkflowHandle {
  return {
    name: 'worker',
    role: 'target',
    spec: {name: overrides.name ?? 'worker', run: ['sleep', '60'], isolation: {level: 'none'}} as WorkflowHandle['spec'],
    boundary: 'none',
    allowance: unused('target.allowance') as () => Allowance,
    sample: unused('sample') as () => ResourceSample,
    unexpectedExits: () => 0,
    lastExit: () => undefined,
    ...overrides,
  }
}

export function fakePlatform(overrides: Partial<Omit<Platform, 'target'>> & {target?: Partial<WorkflowHandle>} = {}): Platform {
  const {target, ...rest} = overrides
  return {
    name: 'fake',
    plan: async () => [],
    setup: async () => undefined,
    target: fakeWorkflow(target),
    neighbors: [],
    // no capabilities unless the test gives them: a fault that asks for one is refused, naming it
    capabilities: {},
    launchStressor: unused('launchStressor') as (placement: StressorPlacement) => StressorHandle,
    teardown: async () => [],
    ...rest,
  }
}
