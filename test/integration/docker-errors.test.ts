// Clear errors before anything starts on the Docker platform, against a real engine: an engine that is not running
// (exit 4), an image that is not on the engine (exit 4: this machine cannot run it), a named target container
// that does not exist (exit 2: the experiment names something that is not there). Nothing is created: no
// container, no network, no ledger.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {engineProblem} from '../../src/platforms/docker/engine.js'
import {ExitCode} from '../../src/run/exit-codes.js'

const skip = (await engineProblem()) !== undefined && !process.env.CHAOS_REQUIRE_DOCKER
const dir = mkdtempSync(join(tmpdir(), 'chaos-docker-errors-'))
const stateDir = join(dir, 'state')
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function experiment(edit: (text: string) => string): string {
  const file = join(dir, `e${Math.random().toString(16).slice(2, 8)}.yaml`)
  writeFileSync(file, edit(readFileSync('experiments/docker/memory-leak.yaml', 'utf8').replace(/\b192(\d\d)\b/g, '198$1')))
  return file
}

/** The target's image, command and isolation in the experiment: what an attached target replaces. */
const WORKER_DEFINITION = /  image: chaos-demo:local\n  run: \[chaos, workload, --port, "19801"[^\n]*\n  isolation: \{level: container[^}\n]*\}/

/** An edit that must apply: one that silently did not would run the whole experiment instead of being refused. */
function replaced(text: string, pattern: RegExp, by: string): string {
  expect(text, `the test's edit no longer matches experiments/docker/memory-leak.yaml`).toMatch(pattern)
  return text.replace(pattern, by)
}

function run(file: string, env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  const result = spawnSync(process.execPath, ['bin/run.js', 'run', file, ...args], {encoding: 'utf8', env: {...process.env, CHAOS_STATE_DIR: stateDir, ...env}, timeout: 60_000})
  return {code: result.status, output: `${result.stdout}${result.stderr}`}
}

function labelled(): string[] {
  const list = (args: string[]) => spawnSync('docker', args, {encoding: 'utf8'}).stdout.split('\n').filter(Boolean)
  return [...list(['ps', '-a', '-q', '--filter', 'label=chaos.run']), ...list(['network', 'ls', '-q', '--filter', 'label=chaos.run'])].sort()
}

/** No container or network appeared while the refused run ran, and it wrote no ledger. */
function nothingCreated(before: string[]): void {
  expect(labelled().filter((id) => !before.includes(id))).toEqual([])
  const runs = join(stateDir, 'runs')
  expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([])
}

describe.skipIf(skip)('docker platform errors before anything starts', () => {
  it('an engine that is not running: exit 4, with how to start one', () => {
    const before = labelled()
    const result = run(experiment((t) => t), {DOCKER_HOST: `unix://${join(dir, 'no-docker.sock')}`})
    expect(result.code).toBe(ExitCode.Inconclusive)
    expect(result.output).toMatch(/no Docker engine socket at .*no-docker\.sock \(dockerd is not running\)/)
    expect(result.output).toMatch(/scripts\/docker-images\.sh --engine/)
    nothingCreated(before)
  })

  it('an image that is not on the engine: exit 4, and the toolkit never pulls', () => {
    const before = labelled()
    const result = run(experiment((t) => t.replace('image: chaos-demo:local', 'image: chaos-no-such-image:none')))
    expect(result.code).toBe(ExitCode.Inconclusive)
    expect(result.output).toMatch(/worker: image chaos-no-such-image:none is not on this engine/)
    nothingCreated(before)
  })

  it('a target container that does not exist: exit 2', () => {
    const before = labelled()
    const result = run(experiment((t) => replaced(t, WORKER_DEFINITION, '  container: chaos-no-such-container')))
    expect(result.code).toBe(ExitCode.Invalid)
    expect(result.output).toMatch(/worker: no container named chaos-no-such-container/)
    nothingCreated(before)
  })
})

describe.skipIf(skip)('docker platform: attaching by label, and the chaos.allowed label on an attached target', () => {
  // idle demo containers of this test's own, labelled with a tag of its own (never chaos.run: they are not a run's)
  const tag = Math.random().toString(16).slice(2, 10)
  const names = {twinA: `chaos-test-${tag}-a`, twinB: `chaos-test-${tag}-b`, bare: `chaos-test-${tag}-bare`, allowed: `chaos-test-${tag}-ok`}
  const start = (name: string, labels: string[]) => {
    const result = spawnSync('docker', ['run', '-d', '--name', name, '--network', 'none', ...labels.flatMap((l) => ['--label', l]), 'chaos-demo:local'], {encoding: 'utf8'})
    expect(result.status, result.stderr).toBe(0)
  }
  const attach = (how: string, safety = '') => experiment((t) => replaced(replaced(t, WORKER_DEFINITION, `  ${how}`), /^phases:/m, `${safety}phases:`))

  beforeAll(() => {
    execFileSync('bash', ['scripts/docker-images.sh'], {stdio: 'inherit'})
    start(names.twinA, [`chaos.test=${tag}`, 'role=twin'])
    start(names.twinB, [`chaos.test=${tag}`, 'role=twin'])
    start(names.bare, [`chaos.test=${tag}`, 'role=bare'])
    start(names.allowed, [`chaos.test=${tag}`, 'role=allowed', 'chaos.allowed=true'])
  }, 120_000)
  afterAll(() => {
    spawnSync('docker', ['rm', '-f', ...Object.values(names)])
  })

  it('a selector that matches several running containers: exit 2, naming them', () => {
    const before = labelled()
    const result = run(attach(`selector: chaos.test=${tag},role=twin`))
    expect(result.code, result.output).toBe(ExitCode.Invalid)
    expect(result.output).toContain(`worker: 2 running containers are labelled chaos.test=${tag},role=twin (${names.twinA}, ${names.twinB}); a workflow is one container: narrow the selector`)
    nothingCreated(before)
  })

  it('a selector that matches none: exit 2', () => {
    const result = run(attach(`selector: chaos.test=${tag},role=nobody`))
    expect(result.code, result.output).toBe(ExitCode.Invalid)
    expect(result.output).toContain(`worker: no running container is labelled chaos.test=${tag},role=nobody`)
  })

  it('an attached target without chaos.allowed=true: exit 2; with it, or with the override, the plan says which', () => {
    const before = labelled()
    const refused = run(attach(`selector: chaos.test=${tag},role=bare`))
    expect(refused.code, refused.output).toBe(ExitCode.Invalid)
    expect(refused.output).toContain(`worker: container ${names.bare} is not labelled for chaos: start it with --label chaos.allowed=true, or set safety.allowUnlabelled: true if you mean it`)
    nothingCreated(before)

    const allowed = run(attach(`selector: chaos.test=${tag},role=allowed`), {}, ['--dry-run'])
    expect(allowed.code, allowed.output).toBe(0)
    expect(allowed.output).toContain(`target worker: attached to container ${names.allowed} (the one running container labelled chaos.test=${tag},role=allowed)`)
    expect(allowed.output).toContain(`safety: container ${names.allowed} is labelled chaos.allowed=true`)

    const overridden = run(attach(`container: ${names.bare}`, 'safety: {allowUnlabelled: true}\n'), {}, ['--dry-run'])
    expect(overridden.code, overridden.output).toBe(0)
    expect(overridden.output).toContain(`safety OVERRIDDEN (safety.allowUnlabelled): container ${names.bare} carries no chaos.allowed=true label`)
    nothingCreated(before)
  })
})
