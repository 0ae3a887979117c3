// The one list of system packages: scripts/provision.sh reads it, and a test missing a tool names the package from
// it. Without root the script installs nothing and names each missing package with its command.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {requireTool, systemPackages, toolMissing} from '../helpers/tools.js'

const ROOT = join(import.meta.dirname, '..', '..')

describe('scripts/provision.sh and test/helpers/tools.ts', () => {
  it('read the same list', () => {
    const listed = execFileSync('bash', ['scripts/provision.sh', '--list'], {cwd: ROOT, encoding: 'utf8'}).trim().split('\n')
    expect(listed).toEqual([...systemPackages().keys()])
    expect(listed).toEqual(expect.arrayContaining(['prometheus', 'prometheus-pushgateway', 'libxml2-utils', 'chromium', 'docker.io', 'stress-ng', 'iperf3', 'iproute2', 'util-linux']))
  })

  it('a missing tool is named with its package and the command, not a spawn ENOENT', () => {
    const path = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      expect(toolMissing('prometheus', 'prometheus')).toBe('prometheus is not installed: apt-get install prometheus (scripts/provision.sh does, as root; npm test runs it first)')
      expect(() => requireTool('xmllint', 'libxml2-utils')).toThrow(/^xmllint is not installed: apt-get install libxml2-utils/)
    } finally {
      process.env.PATH = path
    }
    expect(() => requireTool('nmap', 'nmap')).toThrow(/not in scripts\/system-packages.txt/)
  })

  it('without root, each missing package is one line naming it and its install; nothing is installed and it goes on', () => {
    // an empty PATH (the script needs bash alone): every package of the list looks missing
    const bin = mkdtempSync(join(tmpdir(), 'chaos-provision-'))
    try {
      const bash = execFileSync('bash', ['-c', 'command -v bash'], {encoding: 'utf8'}).trim()
      const out = execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'env', `PATH=${bin}`, bash, 'scripts/provision.sh'], {cwd: ROOT, encoding: 'utf8'})
      const lines = out.trim().split('\n')
      // a package detected by an absolute path (chromium) does not depend on PATH
      const packages = [...systemPackages()].filter(([p, detect]) => detect.some((d) => !d.startsWith('/') || toolMissing(d, p))).map(([p]) => p)
      expect(lines).toEqual(packages.map((p) => `provision: ${p} is missing: apt-get install ${p} (as root; the tests that need it will say so)`))
    } finally {
      rmSync(bin, {recursive: true, force: true})
    }
  })
})
