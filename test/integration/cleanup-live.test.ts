// `chaos cleanup` beside a live tool: what a live ledger lists is spared even when its name carries no run id
// (the benchmark keeps such a ledger), and the same things are removed once the ledger's owner is dead.
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {Cgroup, detectCgroupLayout, hierarchyRoots} from '../../src/host/cgroupfs.js'
import {cleanup} from '../../src/rollback/cleanup.js'
import {liveRunsDir, processStartTime, RunLedger} from '../../src/rollback/ledger.js'

const dir = mkdtempSync(join(tmpdir(), 'chaos-cleanup-live-'))
const previousStateDir = process.env.CHAOS_STATE_DIR
process.env.CHAOS_STATE_DIR = join(dir, 'state')
afterAll(() => {
  if (previousStateDir === undefined) delete process.env.CHAOS_STATE_DIR
  else process.env.CHAOS_STATE_DIR = previousStateDir
  rmSync(dir, {recursive: true, force: true})
})

describe('chaos cleanup and a live ledger without a run id in its names', () => {
  it('spares what the live ledger lists, and removes it once its owner is dead', async () => {
    const layout = detectCgroupLayout()
    const box = new Cgroup(layout, `chaos-bench-${process.pid}-live`)
    const owner = spawn('sleep', ['60'], {stdio: 'ignore'})
    const ownerPid = owner.pid!
    const ownerGone = new Promise((resolve) => owner.once('exit', resolve))
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      mkdirSync(join(process.env.CHAOS_STATE_DIR!, 'runs'), {recursive: true})
      const resource = {kind: 'cgroup', version: layout.version, root: layout.root, path: box.relativePath}
      writeFileSync(join(process.env.CHAOS_STATE_DIR!, 'runs', `bench-${ownerPid}.json`), JSON.stringify({
        runId: `bench-${ownerPid}`, experiment: 'benchmark', owner: {pid: ownerPid, startTime: processStartTime(ownerPid)},
        startedAt: new Date().toISOString(), resources: [resource],
      }))
      box.create()
      expect(box.dirs().every((p) => existsSync(p))).toBe(true)

      const whileAlive = await cleanup()
      expect(whileAlive.skippedLiveRuns).toEqual([`bench-${ownerPid}`])
      expect(whileAlive.removed.filter((r) => r.includes(box.relativePath))).toEqual([])
      expect(box.dirs().every((p) => existsSync(p))).toBe(true)

      owner.kill('SIGKILL')
      await ownerGone
      const afterDeath = await cleanup()
      expect(afterDeath.runs).toEqual([`bench-${ownerPid}`])
      expect(afterDeath.removed.some((r) => r.includes(box.relativePath))).toBe(true)
      expect(box.dirs().some((p) => existsSync(p))).toBe(false)
      expect(existsSync(join(process.env.CHAOS_STATE_DIR!, 'runs', `bench-${ownerPid}.json`))).toBe(false)
    } finally {
      owner.kill('SIGKILL')
      await box.remove()
    }
  })
})

describe('a box that other software also made in hierarchies the toolkit does not use', () => {
  // runc, given a Docker CgroupParent such as /chaos-RUN/shared, creates it in every mounted hierarchy: devices,
  // freezer, name=systemd and a hybrid system's unified tree as well as the controllers the toolkit joins.
  const layout = detectCgroupLayout()
  const others = hierarchyRoots(layout).filter((root) => !new Cgroup(layout, 'x').dirs().some((d) => d.startsWith(`${root}/`)))
  const runcLike = (path: string) => others.map((root) => join(root, path))
  const randomId = () => `chaos-${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}`

  it.skipIf(others.length === 0)('is removed from all of them, and a stray left in one of them is swept', async () => {
    const id = randomId()
    const box = new Cgroup(layout, id)
    const made = runcLike(`${id}/shared`)
    const stray = randomId()
    try {
      box.create()
      for (const dir of made) mkdirSync(dir, {recursive: true})
      expect(box.exists()).toBe(true)
      expect(await box.remove()).toEqual([])
      for (const dir of [...box.dirs(), ...made, ...runcLike(id)]) expect(existsSync(dir), dir).toBe(false)

      // a stray in one hierarchy the toolkit does not use, as crashed runs of the old code left them
      mkdirSync(join(others[0], stray))
      const report = await cleanup()
      expect(report.removed).toContain(`cgroup ${stray}`)
      expect(existsSync(join(others[0], stray))).toBe(false)
    } finally {
      await box.remove()
      for (const dir of [...made, ...runcLike(id), join(others[0] ?? '/nonexistent', stray)]) {
        try {
          rmdirSync(dir)
        } catch { /* gone */ }
      }
    }
  })
})

describe('a live run whose ledger is in another state directory', () => {
  it('is spared through the machine\'s register of live runs; once its owner dies the box and the marker go', async () => {
    const layout = detectCgroupLayout()
    const runId = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')
    const box = new Cgroup(layout, `chaos-${runId}`)
    const otherState = join(dir, 'other-state')
    const liveDir = liveRunsDir()
    const owner = spawn('sleep', ['60'], {stdio: 'ignore'})
    const ownerPid = owner.pid!
    const ownerGone = new Promise((resolve) => owner.once('exit', resolve))
    const marker = join(liveDir, `${runId}.json`)
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      const ownerRecord = {pid: ownerPid, startTime: processStartTime(ownerPid)!}
      const ledger = join(otherState, 'runs', `${runId}.json`)
      mkdirSync(join(otherState, 'runs'), {recursive: true})
      writeFileSync(ledger, JSON.stringify({runId, experiment: 'elsewhere', owner: ownerRecord, startedAt: new Date().toISOString(), resources: []}))
      mkdirSync(liveDir, {recursive: true})
      writeFileSync(marker, JSON.stringify({runId, owner: ownerRecord, ledger}))
      box.create()

      // this state directory has no ledger of that run: only the register says it is live
      const whileAlive = await cleanup()
      expect(whileAlive.skippedLiveRuns).toContain(runId)
      expect(whileAlive.removed.filter((r) => r.includes(runId))).toEqual([])
      expect(box.exists()).toBe(true)

      owner.kill('SIGKILL')
      await ownerGone
      const dry = await cleanup({dryRun: true, runId})
      expect(dry.removed).toEqual(expect.arrayContaining([`file ${marker}`, `cgroup chaos-${runId}`]))
      const afterDeath = await cleanup({runId})
      expect(afterDeath.removed).toEqual(expect.arrayContaining([`file ${marker}`, `cgroup chaos-${runId}`]))
      expect(box.exists()).toBe(false)
      expect(existsSync(marker)).toBe(false)
    } finally {
      owner.kill('SIGKILL')
      await box.remove()
      rmSync(marker, {force: true})
    }
  })

  it('a run of the toolkit registers itself while live and unregisters at its end', async () => {
    const ledger = new RunLedger('feedf00d', 'register')
    const marker = join(liveRunsDir(), 'feedf00d.json')
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({runId: 'feedf00d', owner: {pid: process.pid}, ledger: join(process.env.CHAOS_STATE_DIR!, 'runs', 'feedf00d.json')})
    ledger.close()
    expect(existsSync(marker)).toBe(false)
  })
})
