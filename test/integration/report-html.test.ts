// The HTML report in a real browser (headless Chromium through playwright-core): the charts render, with a path
// per series and the phase windows shaded, nothing is fetched from anywhere, and a screenshot is kept in a temp
// directory for a person to look at (CHAOS_KEEP_SCREENSHOTS=DIR copies them there).
import {copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {chromium, type Browser} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {renderHtml} from '../../src/report/html.js'
import type {MatrixResult} from '../../src/matrix/types.js'
import {fixtureJournal, JOURNAL_FIXTURES} from '../fixtures/journals/load.js'
import {requireTool} from '../helpers/tools.js'
import matrixFixture from '../fixtures/journals/matrix-cpu-hog.json' with {type: 'json'}

const CHROMIUM = '/usr/bin/chromium'
/** The page's window, typed for the one thing asked of it (the tests are compiled without the DOM library). */
type PageWindow = {getComputedStyle: (element: unknown) => Record<string, string>}
const dir = mkdtempSync(join(tmpdir(), 'chaos-report-html-'))
let browser: Browser | undefined

beforeAll(async () => {
  requireTool(CHROMIUM, 'chromium')
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

afterAll(async () => {
  await browser?.close()
  rmSync(dir, {recursive: true, force: true})
})

async function open(name: string, html: string) {
  const file = join(dir, `${name}.html`)
  writeFileSync(file, html)
  const page = await browser!.newPage({viewport: {width: 1200, height: 900}})
  const requests: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  await page.goto(`file://${file}`)
  const screenshot = join(dir, `${name}.png`)
  await page.screenshot({path: screenshot, fullPage: true})
  const keep = process.env.CHAOS_KEEP_SCREENSHOTS
  if (keep) {
    mkdirSync(keep, {recursive: true})
    copyFileSync(screenshot, join(keep, `${name}.png`))
  }
  return {page, requests, screenshot, file}
}

describe('the HTML report in Chromium', () => {
  it('renders a chart per neighbour series, with the baseline, fault and recovery windows shaded', async () => {
    const journals = JOURNAL_FIXTURES.map(fixtureJournal)
    const {page, requests, screenshot, file} = await open('runs', renderHtml({kind: 'runs', title: 'fixtures', journals, failOn: 'mismatch'}))
    expect(requests).toEqual([`file://${file}`])
    expect(statSync(screenshot).size).toBeGreaterThan(50_000)

    for (const journal of journals) {
      const section = page.locator(`#run-${journal.runId}`)
      await expect(section.locator('h2').textContent()).resolves.toContain(journal.experiment.name)
      for (const neighbour of journal.neighbors) {
        for (const signal of neighbour.signals) {
          if (!signal.signal.startsWith('latency_') && signal.signal !== 'error_rate') continue
          const chart = section.locator(`svg.chart[data-neighbor="${neighbour.name}"][data-signals~="${signal.signal}"]`)
          expect(await chart.count(), `${journal.experiment.name} ${signal.signal}`).toBe(1)
          const paths = chart.locator('path.series')
          expect(await paths.count()).toBeGreaterThanOrEqual(1)
          for (const d of await paths.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('d') ?? ''))) expect(d).toMatch(/^M[\d.]+,[\d.]+L/)
          // the windows are drawn, visible and in order: baseline, then fault, then recovery
          const boxes = await Promise.all(['baseline', 'fault', 'recovery'].map((w) => chart.locator(`rect.window-${w}`).boundingBox()))
          for (const box of boxes) expect(box!.width).toBeGreaterThan(10)
          expect(boxes[0]!.x + boxes[0]!.width).toBeLessThanOrEqual(boxes[1]!.x + 1)
          expect(boxes[1]!.x + boxes[1]!.width).toBeLessThanOrEqual(boxes[2]!.x + 1)
          const fill = await chart.locator('rect.window-fault').evaluate((n) => (globalThis as unknown as PageWindow).getComputedStyle(n).fill)
          expect(fill).not.toBe('none')
        }
      }
      expect(await section.locator('table.verdicts tr.reason').count()).toBe(journal.neighbors.flatMap((n) => n.signals).length)
    }
    await page.close()
  })

  it('renders a matrix: level cards, the table, a forest plot per signal and each run\'s charts', async () => {
    const matrix = matrixFixture as unknown as MatrixResult
    const {page, requests, file} = await open('matrix', renderHtml({kind: 'matrix', matrix}))
    expect(requests).toEqual([`file://${file}`])
    expect(await page.locator('.level-card').count()).toBe(matrix.levels.length)
    const signals = matrix.summary[0].signals.length
    expect(await page.locator('svg.forest').count()).toBe(signals)
    expect(await page.locator('svg.forest line.ci').count()).toBeGreaterThan(0)
    expect(await page.locator('section.run').count()).toBe(matrix.runs.length)
    expect(await page.locator('section.run svg.chart path.series').count()).toBeGreaterThan(matrix.runs.length)
    await page.close()
  })

  it('prints: one run per page, charts kept whole', async () => {
    const journals = JOURNAL_FIXTURES.map(fixtureJournal)
    const {page} = await open('print', renderHtml({kind: 'runs', title: 'fixtures', journals, failOn: 'mismatch'}))
    await page.emulateMedia({media: 'print'})
    expect(await page.locator('section.run').first().evaluate((n) => (globalThis as unknown as PageWindow).getComputedStyle(n).breakBefore)).toBe('page')
    expect(await page.locator('figure.chart-figure').first().evaluate((n) => (globalThis as unknown as PageWindow).getComputedStyle(n).breakInside)).toBe('avoid')
    const pdf = await page.pdf({format: 'A4'})
    expect(pdf.length).toBeGreaterThan(20_000)
    await page.close()
  })
})
