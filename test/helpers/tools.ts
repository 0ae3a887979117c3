// The system tools a test needs, named from the one list scripts/provision.sh installs (scripts/system-packages.txt).
// A test without its tool fails saying which package is missing and how to get it, never with `spawn X ENOENT`.
import {accessSync, constants, readFileSync} from 'node:fs'
import {delimiter, join} from 'node:path'

const LIST = new URL('../../scripts/system-packages.txt', import.meta.url)

/** package -> what shows it installed (commands on PATH, or absolute paths), as the list says */
export function systemPackages(): Map<string, string[]> {
  const entries = new Map<string, string[]>()
  for (const line of readFileSync(LIST, 'utf8').split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue
    const [name, detect] = line.trim().split(/\s+/)
    entries.set(name, detect.split(','))
  }
  return entries
}

function found(probe: string): boolean {
  const candidates = probe.startsWith('/') ? [probe] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, probe))
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Why `tool` (a command or path of `pkg`) cannot be used here, naming the package and its install; undefined when it can. */
export function toolMissing(tool: string, pkg: string): string | undefined {
  const listed = systemPackages().get(pkg)
  if (!listed?.includes(tool)) throw new Error(`${tool} of ${pkg} is not in scripts/system-packages.txt: add it there, the one list of what the tests need`)
  if (found(tool)) return undefined
  return `${tool} is not installed: apt-get install ${pkg} (scripts/provision.sh does, as root; npm test runs it first)`
}

/** Throws (failing the test or hook that calls it) with what is missing and how to install it. */
export function requireTool(tool: string, pkg: string): void {
  const missing = toolMissing(tool, pkg)
  if (missing) throw new Error(missing)
}
