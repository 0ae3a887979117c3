// The layers of src/ as .dependency-cruiser.cjs states them (docs/architecture.md draws them): no import cycle,
// and no layer using one above it. dependency-cruiser reads the real imports, type-only ones included; the second
// test feeds it a small tree that breaks each rule, so a rule that matched nothing would fail here.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {cruise, type ICruiseOptions, type IViolation} from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import {afterAll, describe, expect, it} from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')

async function violations(baseDir: string, tsConfig?: string): Promise<{violations: IViolation[], modules: number}> {
  const options: ICruiseOptions = {...await extractDepcruiseOptions(path.join(ROOT, '.dependency-cruiser.cjs')), baseDir, validate: true}
  if (!tsConfig) delete options.tsConfig
  const result = await cruise(['src'], options, {extensions: ['.ts', '.js']}, tsConfig ? {tsConfig: extractTSConfig(tsConfig)} : undefined)
  if (typeof result.output === 'string') throw new Error(`dependency-cruiser gave text: ${result.output}`)
  return {violations: result.output.summary.violations, modules: result.output.modules.length}
}

const describeViolation = (v: IViolation) => `${v.rule.name}: ${v.from} -> ${v.cycle ? v.cycle.map((c) => c.name).join(' -> ') : v.to}`

describe('the layers of src/', () => {
  it('have no import cycle and no layer using one above it', async () => {
    const {violations: found, modules} = await violations(ROOT, path.join(ROOT, 'tsconfig.json'))
    expect(found.map(describeViolation)).toEqual([])
    // every module of src/ was read (the count is what `find src -name '*.ts'` lists)
    expect(modules).toBeGreaterThan(100)
  }, 60_000)

  const fixture = mkdtempSync(path.join(os.tmpdir(), 'chaos-test-layers-'))
  afterAll(() => rmSync(fixture, {recursive: true, force: true}))

  it('are enforced: a tree that breaks each rule is refused for each', async () => {
    const files: Record<string, string> = {
      // a cycle between an interface and its registry
      'src/platforms/platform.ts': "import {createPlatform} from './registry'\nexport const platform = createPlatform\n",
      'src/platforms/registry.ts': "import {platform} from './platform'\nexport const createPlatform = () => platform\n",
      'src/run/runner.ts': "import {platform} from '../platforms/platform'\nexport const run = platform\n",
      'src/commands/run.ts': "import {run} from '../run/runner'\nexport default run\n",
      // a fault using the run loop, the host layer using a platform, the report using a command
      'src/faults/cpu-hog.ts': "import {run} from '../run/runner'\nexport const fault = run\n",
      'src/host/cgroupfs.ts': "import {platform} from '../platforms/platform'\nexport const cgroup = platform\n",
      'src/report/html.ts': "import run from '../commands/run'\nexport const html = run\n",
      // the experiment and the verdict using the rest; the verdict running the experiment's code
      'src/experiment/load.ts': "import {fault} from '../faults/cpu-hog'\nexport const load = fault\n",
      'src/experiment/schema.ts': 'export const schema = 1\n',
      'src/verdict/judge.ts': "import {schema} from '../experiment/schema'\nimport {cgroup} from '../host/cgroupfs'\nexport const judge = [schema, cgroup]\n",
    }
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(fixture, file)), {recursive: true})
      writeFileSync(path.join(fixture, file), text)
    }
    const found = (await violations(fixture)).violations.map(describeViolation)
    expect(found).toEqual(expect.arrayContaining([
      'no-circular: src/platforms/platform.ts -> src/platforms/registry.ts -> src/platforms/platform.ts',
      'commands-on-top: src/report/html.ts -> src/commands/run.ts',
      'run-over-its-parts: src/faults/cpu-hog.ts -> src/run/runner.ts',
      'host-and-stressors-at-the-bottom: src/host/cgroupfs.ts -> src/platforms/platform.ts',
      'experiment-depends-on-nothing: src/experiment/load.ts -> src/faults/cpu-hog.ts',
      'verdict-depends-on-nothing: src/verdict/judge.ts -> src/host/cgroupfs.ts',
      'verdict-uses-only-experiment-types: src/verdict/judge.ts -> src/experiment/schema.ts',
    ]))
    // nothing else: the allowed imports (commands over run, run over platforms) are not refused
    expect(found.filter((v) => v.includes('src/commands/run.ts -> src/run/') || v.includes('src/run/runner.ts -> src/platforms/'))).toEqual([])
  }, 60_000)
})
