// `unit:` is refused on the process platform with what is true of the machine: both messages, whichever this
// machine is (test/integration/run-process.test.ts runs the real plan on this one).
import {describe, expect, it} from 'vitest'

import {unitRefusal} from '../../src/platforms/process/index.js'

describe('unitRefusal', () => {
  it('on a machine booted with systemd: not supported yet, exit 2, with the two systemctl commands that give the way in', () => {
    const refusal = unitRefusal('worker', 'api.service', true)
    expect(refusal.exitCode).toBe(2)
    expect(refusal.message).toMatch(/^worker: attaching to a systemd unit is not supported yet\. /)
    expect(refusal.message).toContain('systemctl show -p ControlGroup --value api.service')
    expect(refusal.message).toContain('systemctl show -p MainPID --value api.service')
    expect(refusal.message).not.toMatch(/not booted/)
  })

  it('on a machine without systemd: exit 4, and it says the machine was not booted with it', () => {
    const refusal = unitRefusal('worker', 'api.service', false)
    expect(refusal.exitCode).toBe(4)
    expect(refusal.message).toBe('worker: attaching to a systemd unit needs systemd, and this machine was not booted with it. Attach by pid or cgroup instead')
  })
})
