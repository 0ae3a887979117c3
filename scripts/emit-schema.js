// Writes schema/experiment.schema.json from the zod schema (run after tsc, by `npm run build`), so editors
// with yaml-language-server complete and check experiment files. Input side: what people write ("15s"),
// not what the loader turns it into (15000); transforms are unrepresentable and become "anything".
import {mkdir, writeFile} from 'node:fs/promises'

import {z} from 'zod'

import {Experiment} from '../dist/experiment/schema.js'

const target = new URL('../schema/experiment.schema.json', import.meta.url)
const {$schema, ...generated} = z.toJSONSchema(Experiment, {io: 'input', unrepresentable: 'any'})
const schema = {
  $schema,
  $id: 'urn:chaos:experiment:v1',
  title: 'chaos experiment',
  description: 'An experiment for the chaos CLI: one fault injected into one workflow, its neighbours measured.',
  ...generated,
}

await mkdir(new URL('.', target), {recursive: true})
await writeFile(target, `${JSON.stringify(schema, null, 2)}\n`)
console.log(`wrote ${target.pathname}`)
