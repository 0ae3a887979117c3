// The Markdown summary: short enough for a pull-request comment, the verdict and dose up front, tables that
// keep their columns whatever a journal holds.
import {describe, expect, it} from 'vitest'

import type {Journal} from '../../src/report/journal.js'
import {renderMarkdown} from '../../src/report/markdown.js'
import {fixtureJournal, hostileJournal, JOURNAL_FIXTURES} from '../fixtures/journals/load.js'

const markdown = (journals: Journal[], failOn: 'mismatch' | 'breach' | 'inconclusive' = 'mismatch') => renderMarkdown({kind: 'runs', title: 'nightly', journals, failOn})

/** Cells of each table row, split on pipes that are not escaped. */
function tableRows(text: string): string[][] {
  return text.split('\n').filter((l) => l.startsWith('|')).map((l) => l.split(/(?<!\\)\|/).slice(1, -1))
}

describe('Markdown rendering', () => {
  it('one journal: a heading with the verdict and expectation, the dose, one row per neighbour signal', () => {
    const journal = fixtureJournal('cpu-hog-cgroup')
    const text = markdown([journal])
    const [heading] = text.split('\n')
    expect(heading).toBe(`### ${journal.exitCode === 0 ? '✅' : '❌'} cpu-hog: ${journal.verdict.toUpperCase()} (expected contained)`)
    expect(text).toContain(`**Dose:** ${journal.injection.efficacy!.landed ? 'landed' : 'did not land'}`)
    const rows = tableRows(text)
    expect(rows).toHaveLength(2 + journal.neighbors[0].signals.length)
    expect(rows[0].map((c) => c.trim())).toEqual(['neighbour', 'signal', 'baseline', 'fault', 'change', 'CI', 'p', 'threshold', 'verdict'])
    expect(text.split('\n').length).toBeLessThan(20)
  })

  it('several journals: a summary table first, then each experiment', () => {
    const journals = JOURNAL_FIXTURES.map(fixtureJournal)
    const text = markdown(journals)
    expect(text).toMatch(/^### (✅|❌) chaos nightly\n/)
    const summary = tableRows(text.slice(0, text.indexOf('####')))
    expect(summary).toHaveLength(2 + journals.length)
    for (const journal of journals) expect(text).toContain(`#### `)
    expect(text.match(/^#### /gm)).toHaveLength(journals.length)
    expect(text).toContain('gate: `--fail-on mismatch`')
  })

  it('the icons follow the gate: an inconclusive run is a warning when the gate lets it pass', () => {
    const journal = fixtureJournal('cpu-hog-none')
    expect(journal.verdict).toBe('inconclusive')
    expect(markdown([journal], 'mismatch')).toMatch(/^### ❌/)
    expect(markdown([journal], 'breach')).toMatch(/^### ⚠️/)
  })

  it('a dose that fell short lists how each stressor ended; a landed one does not', () => {
    const journal = fixtureJournal('cpu-hog-cgroup')
    journal.injection.events = ['+0.40 s memory stressor ready', '+1.62 s memory stressor ended before it was asked to stop: killed by SIGKILL, oom-or-sigkill']
    journal.injection.efficacy = {...journal.injection.efficacy!, landed: true}
    expect(markdown([journal])).not.toContain('stressor ready')
    journal.injection.efficacy = {...journal.injection.efficacy!, landed: false}
    expect(markdown([journal])).toContain('- +1.62 s memory stressor ended before it was asked to stop: killed by SIGKILL, oom-or-sigkill\n')
  })

  it('journal strings cannot break a table, inject HTML or add markup', () => {
    const text = markdown([hostileJournal()])
    expect(text).not.toMatch(/<script>/)
    expect(text).not.toMatch(/(?<!\\)\*\*b/)
    for (const row of tableRows(text)) expect(row).toHaveLength(9)
  })
})
