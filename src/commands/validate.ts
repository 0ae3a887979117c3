import {Args, Command, Flags} from '@oclif/core'

import {ExperimentError, type ExperimentIssue} from '../experiment/issues.js'
import {loadExperiment} from '../experiment/load.js'
import {isSuiteFile, loadSuite} from '../gameday/suite.js'

interface FileResult {
  file: string
  valid: boolean
  issues: ExperimentIssue[]
}

export default class Validate extends Command {
  static override summary = 'Check experiment files (and game-day suites) without running them'

  static override description = 'Prints "ok  FILE" for each valid file, or one line per problem as FILE:LINE:COL: message. Exits 2 if any file is invalid.'

  static override examples = [
    '<%= config.bin %> validate experiments/memory-leak.yaml',
    '<%= config.bin %> validate experiments/*.yaml --json',
  ]

  // Any number of files: the shell expands experiments/*.yaml.
  static override strict = false

  static override args = {
    file: Args.string({description: 'experiment file(s) to check', required: true}),
  }

  static override flags = {
    json: Flags.boolean({description: 'print [{file, valid, issues}] as JSON'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Validate)
    const results: FileResult[] = []
    for (const file of argv as string[]) results.push(await validateFile(file))

    if (flags.json) {
      this.log(JSON.stringify(results, null, 2))
    } else {
      for (const result of results) {
        if (result.valid) this.log(`ok  ${result.file}`)
        else this.logToStderr(new ExperimentError(result.issues).format())
      }
    }
    // 2, not 1: "the files are wrong" is distinguishable from "the tool failed".
    if (results.some((r) => !r.valid)) this.exit(2)
  }
}

async function validateFile(file: string): Promise<FileResult> {
  try {
    // a game-day suite (kind: GameDay) is checked with every experiment it names
    if (await isSuiteFile(file)) await loadSuite(file)
    else await loadExperiment(file)
    return {file, valid: true, issues: []}
  } catch (error) {
    if (error instanceof ExperimentError) return {file, valid: false, issues: error.issues}
    throw error
  }
}
