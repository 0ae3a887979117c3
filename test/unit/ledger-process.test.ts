// A process counts as alive for the ledger only while it runs: a zombie (dead, not yet reaped by a slow init)
// holds nothing and must not make `chaos cleanup` report a failure.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {processStartTime} from '../../src/rollback/ledger.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('processStartTime', () => {
  it('gives the start time of a running process and undefined for a zombie', async () => {
    // the background `sleep 0.2` ends after its parent has exec'd `sleep 5`, which never reaps it: a zombie for as
    // long as sleep 5 runs (a child that ended before the exec could be reaped by the shell itself)
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 5'], {stdio: ['ignore', 'pipe', 'ignore']})
    try {
      const zombie = await new Promise<number>((resolve) => parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))))
      let state = ''
      for (let i = 0; i < 200 && state !== 'Z'; i++) {
        await sleep(10)
        const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8')
        state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
      }
      expect(state).toBe('Z')
      expect(processStartTime(zombie)).toBeUndefined()
      expect(processStartTime(parent.pid!)).toBeGreaterThan(0)
    } finally {
      parent.kill('SIGKILL')
    }
  })
})
