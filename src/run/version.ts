import {readFileSync} from 'node:fs'

// dist/run/version.js and src/run/version.ts both sit two levels below the package root
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}).version
