// JUnit from real journals: one testsuite per experiment, a testcase per neighbour signal plus the dose and the
// verdict, failures exactly where the --fail-on gate fails, counts that add up, and hostile strings escaped.
// (The XSD validation itself runs with xmllint in test/integration/report-cli.test.ts.)
import {describe, expect, it} from 'vitest'

import type {Journal} from '../../src/report/journal.js'
import {renderJunit} from '../../src/report/junit.js'
import {journalExitCode, type FailOn} from '../../src/run/gate.js'
import {fixtureJournal, hostileJournal, JOURNAL_FIXTURES} from '../fixtures/journals/load.js'

const GATES: FailOn[] = ['mismatch', 'breach', 'inconclusive']
const junit = (journals: Journal[], failOn: FailOn = 'mismatch') => renderJunit({kind: 'runs', title: 'test', journals, failOn})

function testcases(xml: string): {name: string, classname: string, body: string}[] {
  return [...xml.matchAll(/<testcase name="([^"]*)" classname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({name: m[1], classname: m[2], body: m[3] ?? ''}))
}

function attribute(tag: string, name: string): number {
  return Number(new RegExp(`${name}="(\\d+)"`).exec(tag)?.[1])
}

/** A journal like the fixture, with its dose landed and one signal of each verdict. */
function landedJournal(): Journal {
  const journal = fixtureJournal('cpu-hog-cgroup')
  journal.injection.efficacy = {...journal.injection.efficacy!, landed: true, ratio: 0.97}
  journal.verdict = 'breach'
  journal.exitCode = 1
  return journal
}

describe('JUnit rendering', () => {
  it('one testsuite per experiment; dose, one testcase per neighbour signal, verdict', () => {
    const journals = JOURNAL_FIXTURES.map(fixtureJournal)
    const xml = junit(journals)
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')).toBe(true)
    expect(xml.match(/<testsuite /g)).toHaveLength(journals.length)
    const cases = testcases(xml)
    for (const journal of journals) {
      const mine = cases.filter((c) => c.classname === journal.experiment.name)
      const signals = journal.neighbors.flatMap((n) => n.signals.map((s) => `${n.name} ${s.signal}`))
      expect(mine.map((c) => c.name)).toEqual(['dose', ...signals, 'verdict'])
    }
  })

  it('the counts on each testsuite and on testsuites add up', () => {
    const xml = junit(JOURNAL_FIXTURES.map(fixtureJournal))
    for (const suite of xml.split('<testsuite ').slice(1)) {
      const tag = suite.slice(0, suite.indexOf('>'))
      expect(attribute(tag, 'tests')).toBe((suite.match(/<testcase /g) ?? []).length)
      expect(attribute(tag, 'failures')).toBe((suite.match(/<failure /g) ?? []).length)
      expect(attribute(tag, 'errors')).toBe((suite.match(/<error /g) ?? []).length)
      expect(attribute(tag, 'skipped')).toBe((suite.match(/<skipped /g) ?? []).length)
    }
    const top = xml.slice(xml.indexOf('<testsuites '), xml.indexOf('>', xml.indexOf('<testsuites ')))
    expect(attribute(top, 'tests')).toBe((xml.match(/<testcase /g) ?? []).length)
    expect(attribute(top, 'failures')).toBe((xml.match(/<failure /g) ?? []).length)
  })

  it('has a failure or an error exactly when the gate fails, for every fixture and gate', () => {
    for (const journal of [...JOURNAL_FIXTURES.map(fixtureJournal), landedJournal()]) {
      for (const failOn of GATES) {
        const xml = junit([journal], failOn)
        const failing = /<(failure|error) /.test(xml)
        expect(failing, `${journal.experiment.name} --fail-on ${failOn}`).toBe(journalExitCode(journal, failOn) !== 0)
      }
    }
  })

  it('a breach is a failure whose message says what breached, by how much, with what confidence', () => {
    const journal = landedJournal()
    const breach = journal.neighbors[0].signals.find((s) => s.verdict === 'breach')!
    const testcase = testcases(junit([journal])).find((c) => c.name === `api ${breach.signal}`)!
    const failure = /<failure type="breach" message="([^"]*)"/.exec(testcase.body)
    expect(failure).not.toBeNull()
    expect(failure![1]).toContain(`api ${breach.signal}: `)
    expect(failure![1]).toMatch(/rose \d+%/)
    expect(failure![1]).toMatch(/95% CI/)
  })

  it('inconclusive signals are skipped, except under --fail-on inconclusive', () => {
    const journal = landedJournal()
    const inconclusive = journal.neighbors[0].signals.find((s) => s.verdict === 'inconclusive')!
    const find = (failOn: FailOn) => testcases(junit([journal], failOn)).find((c) => c.name === `api ${inconclusive.signal}`)!.body
    expect(find('mismatch')).toMatch(/^\s*<skipped message=/)
    expect(find('breach')).toMatch(/^\s*<skipped message=/)
    expect(find('inconclusive')).toMatch(/<failure type="inconclusive"/)
  })

  it('an expected breach passes under mismatch but fails under --fail-on breach', () => {
    const journal = landedJournal()
    journal.expect = 'breach'
    journal.exitCode = 0
    expect(junit([journal], 'mismatch')).not.toMatch(/<failure/)
    expect(junit([journal], 'breach')).toMatch(/<failure type="breach"/)
  })

  it('a dose that did not land fails the dose testcase, and signal breaches are not counted against the boundary', () => {
    const journal = fixtureJournal('cpu-hog-none')
    expect(journal.injection.efficacy?.landed).toBe(false)
    const cases = testcases(junit([journal]))
    expect(cases.find((c) => c.name === 'dose')!.body).toMatch(/<failure type="dose" message="the dose did not land/)
    expect(cases.find((c) => c.name === 'api error_rate')!.body).toMatch(/<skipped message="the dose did not land/)
  })

  it('a breach at a short dose that stands (at least half the dose asked) is counted; anything else at it is not', () => {
    const journal = fixtureJournal('cpu-hog-none')
    journal.injection.efficacy = {...journal.injection.efficacy!, achieved: 6.3, ratio: 0.8, partial: true}
    journal.verdict = 'breach'
    journal.exitCode = 0
    const cases = (failOn: FailOn) => testcases(junit([journal], failOn))
    // the control expected its breach: under mismatch nothing fails, and the dose was enough for it
    expect(cases('mismatch').find((c) => c.name === 'dose')!.body).not.toMatch(/<failure|<skipped/)
    expect(junit([journal], 'mismatch')).not.toMatch(/<failure/)
    expect(cases('breach').find((c) => c.name === 'api error_rate')!.body).toMatch(/<failure type="breach"/)
    // the fixture's inconclusive p95 is still not the fault's at that dose
    expect(cases('inconclusive').find((c) => c.name === 'api latency_p95')!.body).toMatch(/<skipped message="the dose was short of the one asked, so this is not attributable to the fault/)
  })

  it('aborted and rollback-incomplete runs are errors', () => {
    const aborted = landedJournal()
    aborted.verdict = 'aborted'
    expect(junit([aborted])).toMatch(/<testcase name="verdict"[^>]*>\s*<error type="aborted"/)
    const leaky = landedJournal()
    leaky.rollback = {complete: false, leftovers: ['cgroup /chaos-x/worker'], durationMs: 5}
    expect(junit([leaky])).toMatch(/<error type="rollback-incomplete"/)
  })

  it('escapes every journal string, and drops characters XML cannot hold', () => {
    const xml = junit([hostileJournal()])
    expect(xml).not.toContain('<script>')
    expect(xml).toContain('&lt;script&gt;')
    expect(xml).not.toContain('\u0007')
    // every attribute value is closed where it should be: no quote from a journal ends one early
    for (const tag of xml.match(/<[a-z-]+ [^>]*>/g) ?? []) expect(tag, tag).toMatch(/^<[a-z-]+( [a-zA-Z]+="[^"<]*")*\/?>$/)
  })

  it('a suite experiment that did not run is a skipped (on purpose) or erroring (refused) testsuite', () => {
    const xml = renderJunit({
      kind: 'runs', title: 'suite', journals: [], failOn: 'mismatch',
      notRun: [{name: 'disk-fill', reason: 'not run: stopOnBreach', exitCode: 0}, {name: 'cpu-hog', reason: 'could not run: refused', exitCode: 4}],
    })
    expect(xml).toMatch(/<testsuite name="disk-fill"[\s\S]*?<skipped message="not run: stopOnBreach"/)
    expect(xml).toMatch(/<testsuite name="cpu-hog"[\s\S]*?<error type="not-run"/)
  })

  it('timestamps are Ant\'s form: to the second, no zone', () => {
    const xml = junit([fixtureJournal('cpu-hog-cgroup')])
    expect(xml).toMatch(/timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"/)
  })
})
