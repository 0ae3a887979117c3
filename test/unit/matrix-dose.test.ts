// chaos matrix gives every isolation level the same CPU dose: a hog sized as a share of its allowance is fixed in
// cores at the experiment's own level, since "100%" under none would be every core of the host.
import {describe, expect, it} from 'vitest'

import {cpuDose} from '../../src/faults/cpu-hog.js'
import {onlineCpus} from '../../src/host/cpus.js'
import {fixDose} from '../../src/matrix/run-matrix.js'
import {PlanError} from '../../src/platforms/platform.js'
import {createPlatform} from '../../src/platforms/registry.js'
import {shortened} from '../helpers/experiments.js'

describe('the matrix\'s CPU dose', () => {
  it('is the experiment\'s own dose in cores: 100% of a one-core cpuset is one core, at every level', async () => {
    const experiment = shortened('experiments/cpu-hog.yaml', {})
    expect(await fixDose(experiment)).toBe('dose: cpu-hog fixed at 1 cores for every level (100% of 1 CPU (cpuset) at the experiment\'s own isolation)')
    expect(experiment.fault).toMatchObject({type: 'cpu-hog', cores: 1})
    // under none the allowance is the host, and the dose stays one core
    const none = await createPlatform({experiment, runId: 'test', levelOverride: 'none'})
    const host = {cpus: onlineCpus().length, cpuSource: 'host' as const}
    expect(cpuDose(experiment.fault as never, host)).toMatchObject({cores: 1, workers: 1, loadPerWorker: 1})
    // a dose already in cores is left alone, as is any other fault
    expect(await fixDose(experiment)).toBeUndefined()
    expect(await fixDose(shortened('experiments/memory-leak.yaml', {}))).toBeUndefined()
  })

  it('on pods, says when a limit-relative dose differs between levels, and is silent for an absolute one', async () => {
    const cpu = shortened('experiments/kubernetes/cpu-hog.yaml', {})
    expect(await fixDose(cpu)).toMatch(/^dose: cpu-hog is relative to each level's own container limits, so each level gets a different dose/)
    expect(cpu.fault).not.toHaveProperty('cores')
    expect(await fixDose(shortened('experiments/kubernetes/memory-leak.yaml', {}))).toMatch(/^dose: memory-leak is relative/)
    expect(await fixDose(shortened('experiments/kubernetes/isolation-matrix.yaml', {}))).toBeUndefined()
    expect(await fixDose(shortened('experiments/kubernetes/disk-fill.yaml', {}))).toMatch(/^dose: disk-fill is relative/)
  })

  it('refuses more cores than the target may use', async () => {
    const refusal = (() => {
      try {
        return cpuDose({load: 1, cores: 1.5}, {cpus: 1, cpuSource: 'cpuset'})
      } catch (error) {
        return error
      }
    })()
    expect(refusal).toBeInstanceOf(PlanError)
    expect((refusal as Error).message).toBe('cpu-hog: cores 1.5 is above the target\'s allowance of 1 CPU (cpuset); a dose it cannot take could not be proven to land')
  })
})
