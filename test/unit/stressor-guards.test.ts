import {describe, expect, it} from 'vitest'
import {deadmanVerdict} from '../../src/stressors/deadman.js'
import {floodRefusal} from '../../src/stressors/flood.js'
import {STRESSOR_TITLE, stressorTitle} from '../../src/stressors/kinds.js'
import {fillFileName} from '../../src/stressors/names.js'

describe('deadmanVerdict', () => {
  const limits = {deadline: 10_000, initialPpid: 77}
  it('carries on while the parent lives and the deadline is ahead', () => {
    expect(deadmanVerdict({now: 9_999, parentAlive: true, ppid: 77}, limits)).toBeUndefined()
  })
  it('stops at the deadline', () => {
    expect(deadmanVerdict({now: 10_000, parentAlive: true, ppid: 77}, limits)).toBe('deadline')
  })
  it('stops when the parent is gone or we were re-parented', () => {
    expect(deadmanVerdict({now: 0, parentAlive: false, ppid: 77}, limits)).toBe('parent-gone')
    expect(deadmanVerdict({now: 0, parentAlive: true, ppid: 1}, limits)).toBe('parent-gone')
  })
})

describe('floodRefusal', () => {
  it.each(['127.0.0.1', '127.255.0.9', '::1'])('allows loopback %s', (host) => {
    expect(floodRefusal(host, {})).toBeUndefined()
  })
  it.each(['10.0.0.1', '192.168.1.1', '172.16.5.5', '169.254.1.1', '8.8.8.8', '0.0.0.0', '::', 'fe80::1', '2001:db8::1', 'localhost', 'example.com', ''])(
    'refuses %s outside a namespace', (host) => {
      expect(floodRefusal(host, {})).toMatch(/refusing/)
    })
  it.each(['10.0.0.1', '192.168.1.1', '172.31.255.254', '169.254.1.1', 'fd00::2', 'fe80::1', '127.0.0.1'])(
    'allows private or link-local %s inside the toolkit namespace', (host) => {
      expect(floodRefusal(host, {CHAOS_FLOOD_ALLOW_NETNS: '1'})).toBeUndefined()
    })
  it.each(['8.8.8.8', '172.32.0.1', '100.64.0.1', '2001:db8::1', 'localhost'])('still refuses %s inside the namespace', (host) => {
    expect(floodRefusal(host, {CHAOS_FLOOD_ALLOW_NETNS: '1'})).toMatch(/refusing/)
  })
  it('wants the variable to be exactly 1', () => {
    expect(floodRefusal('10.0.0.1', {CHAOS_FLOOD_ALLOW_NETNS: 'yes'})).toMatch(/refusing/)
  })
  it('allows, outside a namespace, exactly the one private address the toolkit named (a container of the run), and loopback', () => {
    const env = {CHAOS_FLOOD_ALLOW_ADDRESS: '172.18.0.2'}
    expect(floodRefusal('172.18.0.2', env)).toBeUndefined()
    expect(floodRefusal('127.0.0.1', env)).toBeUndefined()
    for (const other of ['172.18.0.3', '172.18.0.1', '10.0.0.1', '8.8.8.8']) expect(floodRefusal(other, env)).toMatch(/only loopback or the one private address it named \(172\.18\.0\.2\)/)
  })
  it('refuses a named address that is not private, even when it is the one named', () => {
    expect(floodRefusal('8.8.8.8', {CHAOS_FLOOD_ALLOW_ADDRESS: '8.8.8.8'})).toMatch(/refusing/)
    expect(floodRefusal('172.32.0.1', {CHAOS_FLOOD_ALLOW_ADDRESS: '172.32.0.1'})).toMatch(/refusing/)
  })
})

describe('names', () => {
  it('titles a stressor so that cleanup can find it by its run id', () => {
    const title = stressorTitle('disk', 'a1b2c3d4')
    expect(title).toBe('chaos-stressor disk --run a1b2c3d4')
    expect(STRESSOR_TITLE.exec(`${title} `)?.slice(1)).toEqual(['disk', 'a1b2c3d4'])
    expect(STRESSOR_TITLE.test('node dist/stressors/main.js disk --run a1b2c3d4')).toBe(false)
  })
  it('names the fill file after the run', () => {
    expect(fillFileName('/var/tmp', 'a1b2c3d4')).toBe('/var/tmp/chaos-a1b2c3d4-fill')
  })
})
