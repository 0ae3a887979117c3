import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {PlanError} from '../../src/platforms/platform.js'
import {TargetLock, targetKey} from '../../src/rollback/lock.js'

let previous: string | undefined

beforeEach(() => {
  previous = process.env.CHAOS_STATE_DIR
  process.env.CHAOS_STATE_DIR = mkdtempSync(join(tmpdir(), 'chaos-lock-'))
})

afterEach(() => {
  rmSync(process.env.CHAOS_STATE_DIR!, {recursive: true, force: true})
  if (previous === undefined) delete process.env.CHAOS_STATE_DIR
  else process.env.CHAOS_STATE_DIR = previous
})

describe('one experiment per target at a time', () => {
  it('refuses a second run on a locked target, naming the run that holds it', () => {
    const lock = TargetLock.acquire('pid:1234', 'aaaa1111')
    expect(() => TargetLock.acquire('pid:1234', 'bbbb2222')).toThrow(/already under experiment by run aaaa1111/)
    try {
      TargetLock.acquire('pid:1234', 'bbbb2222')
    } catch (error) {
      expect(error).toBeInstanceOf(PlanError)
      expect((error as PlanError).exitCode).toBe(4)
    }
    // another target is free
    TargetLock.acquire('pid:5678', 'cccc3333').release()
    lock.release()
    TargetLock.acquire('pid:1234', 'bbbb2222').release()
  })

  it('takes over a lock whose owner is dead', () => {
    const lock = TargetLock.acquire('cgroup:/app', 'aaaa1111')
    const dir = join(process.env.CHAOS_STATE_DIR!, 'locks')
    const [file] = readdirSync(dir)
    // rewrite the owner as a process that does not exist
    writeFileSync(join(dir, file), JSON.stringify({runId: 'dead0000', pid: 2 ** 22 + 1, startTime: 1, target: 'cgroup:/app'}))
    const again = TargetLock.acquire('cgroup:/app', 'bbbb2222')
    again.release()
    lock.release()
    expect(readdirSync(dir)).toEqual([])
  })

  it('keys a target by what it is attached to', () => {
    expect(targetKey('x', {name: 'w', pid: 42} as never)).toBe('pid:42')
    expect(targetKey('x', {name: 'w', cgroup: '/sys/fs/cgroup/memory/app'} as never)).toBe('cgroup:/sys/fs/cgroup/memory/app')
    expect(targetKey('exp', {name: 'w', run: ['a']} as never)).toBe('managed:exp/w')
  })
})
