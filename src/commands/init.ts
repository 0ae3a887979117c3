import {existsSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import {dirname, join, relative, resolve, sep} from 'node:path'

import {Args, Command, Flags} from '@oclif/core'

import {STARTER_FAULTS, starterExperiment} from '../experiment/starters.js'

export default class Init extends Command {
  static override summary = 'Write a commented starter experiment'

  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init experiments/cpu.yaml --fault cpu-hog',
  ]

  static override args = {
    file: Args.string({description: 'where to write the experiment', default: 'experiment.yaml'}),
  }

  static override flags = {
    fault: Flags.string({description: 'the fault the starter injects', options: [...STARTER_FAULTS], default: 'memory-leak'}),
    force: Flags.boolean({description: 'overwrite FILE if it exists'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Init)
    const file = resolve(args.file)
    if (existsSync(file) && !flags.force) this.error(`${args.file} already exists; use --force to overwrite it`, {exit: 2})

    const fault = flags.fault as (typeof STARTER_FAULTS)[number]
    await mkdir(dirname(file), {recursive: true})
    await writeFile(file, starterExperiment(fault, schemaPathFrom(file, this.config.root)), {flag: flags.force ? 'w' : 'wx'})
    this.log(`wrote ${args.file} (${fault}); check it with: ${this.config.bin} validate ${args.file}`)
  }
}

/** The schema's path relative to the experiment file, which is how yaml-language-server resolves it. */
export function schemaPathFrom(file: string, packageRoot: string): string {
  const path = relative(dirname(file), join(packageRoot, 'schema', 'experiment.schema.json')).split(sep).join('/')
  return path.startsWith('.') ? path : `./${path}`
}
