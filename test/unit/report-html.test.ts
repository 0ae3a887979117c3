// The HTML report as text: self-contained (nothing fetched at view time), a chart per neighbour with the phase
// windows shaded, every judged signal on a chart, and every journal string escaped. How it renders in a browser
// is checked in test/integration/report-html.test.ts.
import {describe, expect, it} from 'vitest'

import {renderHtml} from '../../src/report/html.js'
import type {Journal} from '../../src/report/journal.js'
import {fixtureJournal, hostileJournal, JOURNAL_FIXTURES} from '../fixtures/journals/load.js'

const html = (journals: Journal[]) => renderHtml({kind: 'runs', title: 'test', journals, failOn: 'mismatch'})

describe('HTML rendering', () => {
  it('is one self-contained document: inline style, no script, no external resource', () => {
    const text = html(JOURNAL_FIXTURES.map(fixtureJournal))
    expect(text.startsWith('<!doctype html>')).toBe(true)
    expect(text).toContain('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">')
    expect(text).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i)
    expect(text).not.toMatch(/(src|href)="(https?:)?\/\//i)
    expect(text).toContain('@media print')
  })

  it('draws each neighbour\'s timeline with the baseline, fault and recovery windows shaded', () => {
    const journal = fixtureJournal('cpu-hog-cgroup')
    const text = html([journal])
    const charts = text.match(/<svg class="chart"[\s\S]*?<\/svg>/g) ?? []
    expect(charts.length).toBeGreaterThanOrEqual(3)
    for (const chart of charts) {
      expect(chart).toMatch(/<rect class="window window-baseline" x="[\d.]+" y="\d+" width="[\d.]+"/)
      expect(chart).toMatch(/<rect class="window window-fault"/)
      expect(chart).toMatch(/<rect class="window window-recovery"/)
      expect(chart).toMatch(/<path class="series series-[a-z0-9]+" data-series="[a-z0-9]+" d="M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+"/)
    }
    expect(text).toMatch(/data-chart="latency"[^>]*data-signals="[^"]*latency_p50/)
    expect(text).toMatch(/<path class="series series-p50"/)
    expect(text).toMatch(/<path class="series series-p99"/)
    expect(text).toMatch(/data-chart="errors" data-signals="error_rate"/)
  })

  it('every judged signal is on a chart, and in the verdict table with its reason', () => {
    for (const journal of JOURNAL_FIXTURES.map(fixtureJournal)) {
      const text = html([journal])
      for (const s of journal.neighbors.flatMap((n) => n.signals)) {
        if (s.signal.startsWith('latency_') || s.signal === 'error_rate') expect(text).toMatch(new RegExp(`data-signals="[^"]*\\b${s.signal}\\b`))
        expect(text).toContain(s.reason.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'))
      }
    }
  })

  it('shows the dose with a meter against the 90% it must reach', () => {
    const text = html([fixtureJournal('cpu-hog-cgroup')])
    expect(text).toMatch(/<div class="dose dose-(landed|missed)"><strong>Dose (landed|did not land):<\/strong> <svg class="meter"/)
    expect(text).toContain('class="meter-mark"')
  })

  it('escapes every journal string', () => {
    const text = html([hostileJournal()])
    expect(text).not.toContain('<script>')
    expect(text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;')
    // attribute values never contain a raw quote from a journal
    for (const tag of text.match(/<(svg|figure|section)\b[^>]*>/g) ?? []) expect(tag, tag).toMatch(/^<[a-z]+( [a-zA-Z-]+="[^"<]*")*>$/)
  })

  it('the dose block lists the stressors\' lives, open when the dose fell short', () => {
    const journal = fixtureJournal('cpu-hog-cgroup')
    journal.injection.events = ['+0.40 s cpu stressor ready', '+4.01 s cpu stressor ended after the stop asked at +4.00 s: exit code 0, reason signal']
    journal.injection.efficacy = {...journal.injection.efficacy!, landed: true}
    expect(html([journal])).toContain('<details class="events"><summary>stressors</summary><ul><li class="num">+0.40 s cpu stressor ready</li>')
    journal.injection.efficacy = {...journal.injection.efficacy!, landed: false}
    expect(html([journal])).toContain('<details class="events" open><summary>stressors</summary>')
  })

  it('a journal without timeline or phases (refused early, aborted) still renders', () => {
    const journal = fixtureJournal('cpu-hog-cgroup')
    journal.phases = {}
    journal.neighbors[0].timeline = []
    journal.injection.efficacy = null
    expect(html([journal])).toContain('No timeline was recorded.')
  })
})
