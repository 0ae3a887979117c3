// The shared pieces of the reports: escaping hostile journal strings, and the --fail-on gate, which must agree
// with the run's own exit code under the default and say what it says under the others.
import {describe, expect, it} from 'vitest'

import {escapeHtml, escapeMarkdown, escapeXml} from '../../src/report/formats.js'
import type {Journal} from '../../src/report/journal.js'
import {ExitCode} from '../../src/run/exit-codes.js'
import {gateExitCode, journalExitCode, signalFails, worseExitCode} from '../../src/run/gate.js'
import {fixtureJournal, JOURNAL_FIXTURES} from '../fixtures/journals/load.js'

describe('escaping', () => {
  it('XML: markup, quotes, and characters XML 1.0 cannot hold at all', () => {
    expect(escapeXml('<a href="x">&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;')
    expect(escapeXml('exit\u0000code\u001b[31m')).toBe('exit\uFFFDcode\uFFFD[31m')
    expect(escapeXml('tab\tnewline\n')).toBe('tab\tnewline\n')
    expect(escapeXml('lone \uD800 surrogate, pair \uD83D\uDE00')).toBe('lone \uFFFD surrogate, pair \uD83D\uDE00')
  })

  it('HTML: nothing a journal holds can open a tag or leave an attribute', () => {
    expect(escapeHtml('<script>alert("x")</script>')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;')
    expect(escapeHtml('\' onload=\'x')).toBe('&#39; onload=&#39;x')
  })

  it('Markdown: no table breaks, no markup, no HTML, one line', () => {
    expect(escapeMarkdown('a|b')).toBe('a\\|b')
    expect(escapeMarkdown('<img src=x onerror=alert(1)>')).toBe('\\<img src=x onerror=alert(1)\\>')
    expect(escapeMarkdown('**bold** [link](http://x)\nnext')).toBe('\\*\\*bold\\*\\* \\[link\\](http://x) next')
  })
})

describe('the --fail-on gate', () => {
  const outcome = (verdict: Journal['verdict'], expect?: 'contained' | 'breach', rollbackComplete = true) => ({verdict, expect, rollbackComplete})

  it('mismatch is the run\'s own exit code for every fixture journal', () => {
    for (const name of JOURNAL_FIXTURES) {
      const journal = fixtureJournal(name)
      expect(journalExitCode(journal, 'mismatch'), name).toBe(journal.exitCode)
    }
  })

  it('mismatch compares with expect; a level nothing is expected of passes', () => {
    expect(gateExitCode(outcome('contained', 'contained'), 'mismatch')).toBe(ExitCode.Matched)
    expect(gateExitCode(outcome('breach', 'contained'), 'mismatch')).toBe(ExitCode.Mismatched)
    expect(gateExitCode(outcome('contained', 'breach'), 'mismatch')).toBe(ExitCode.Mismatched)
    expect(gateExitCode(outcome('inconclusive', 'breach'), 'mismatch')).toBe(ExitCode.Inconclusive)
    expect(gateExitCode(outcome('breach'), 'mismatch')).toBe(ExitCode.Matched)
  })

  it('breach fails any breach, expected or not, and lets inconclusive pass', () => {
    expect(gateExitCode(outcome('breach', 'breach'), 'breach')).toBe(ExitCode.Mismatched)
    expect(gateExitCode(outcome('inconclusive', 'contained'), 'breach')).toBe(ExitCode.Matched)
    expect(gateExitCode(outcome('contained', 'breach'), 'breach')).toBe(ExitCode.Matched)
  })

  it('inconclusive passes only a proven containment', () => {
    expect(gateExitCode(outcome('contained', 'breach'), 'inconclusive')).toBe(ExitCode.Matched)
    expect(gateExitCode(outcome('inconclusive', 'contained'), 'inconclusive')).toBe(ExitCode.Inconclusive)
    expect(gateExitCode(outcome('breach', 'breach'), 'inconclusive')).toBe(ExitCode.Mismatched)
  })

  it('aborted and rollback incomplete fail whatever the gate', () => {
    for (const failOn of ['mismatch', 'breach', 'inconclusive'] as const) {
      expect(gateExitCode(outcome('aborted', 'contained'), failOn)).toBe(ExitCode.Aborted)
      expect(gateExitCode(outcome('contained', 'contained', false), failOn)).toBe(ExitCode.RollbackIncomplete)
    }
  })

  it('a signal fails the gate as its run would', () => {
    expect(signalFails('breach', 'contained', 'mismatch')).toBe(true)
    expect(signalFails('breach', 'breach', 'mismatch')).toBe(false)
    expect(signalFails('breach', 'breach', 'breach')).toBe(true)
    expect(signalFails('inconclusive', 'contained', 'mismatch')).toBe(false)
    expect(signalFails('inconclusive', 'contained', 'inconclusive')).toBe(true)
    expect(signalFails('contained', 'contained', 'inconclusive')).toBe(false)
  })

  it('the most serious of several exit codes wins', () => {
    expect(worseExitCode(ExitCode.Inconclusive, ExitCode.Mismatched)).toBe(ExitCode.Mismatched)
    expect(worseExitCode(ExitCode.RollbackIncomplete, ExitCode.Aborted)).toBe(ExitCode.RollbackIncomplete)
    expect(worseExitCode(ExitCode.Matched, ExitCode.Inconclusive)).toBe(ExitCode.Inconclusive)
  })
})
