import {describe, expect, it} from 'vitest'

import {
  formatBitRate, formatBytes, formatDuration, parseBitRate, parseByteRate, parseBytes, parseDuration, parsePercent,
} from '../../src/experiment/units.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500], ['15s', 15_000], ['1m30s', 90_000], ['2h', 7_200_000], ['1d', 86_400_000],
    ['1.5s', 1500], [' 15s ', 15_000], ['10', 10_000], ['0s', 0], ['1h2m3s4ms', 3_723_004],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it('reads a bare number as seconds', () => {
    expect(parseDuration(2)).toBe(2000)
    expect(parseDuration(0.5)).toBe(500)
  })

  it.each(['', '15 seconds', '15 s', 's', '1m 30s', '15sec', '-5s', 'abc', '15s!'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-1)).toBeUndefined()
    expect(parseDuration(Number.NaN)).toBeUndefined()
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined()
  })
})

describe('parseBytes', () => {
  it.each([
    ['64Mi', 64 * 1024 ** 2], ['1Gi', 1024 ** 3], ['500M', 500e6], ['4096', 4096], ['1.5Gi', 1.5 * 1024 ** 3],
    ['1Ti', 1024 ** 4], ['10KiB', 10_240], ['2MB', 2e6], ['3k', 3000], ['7B', 7], ['64 Mi', 64 * 1024 ** 2],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes)
  })

  it('rounds numbers to whole bytes', () => {
    expect(parseBytes(1.6)).toBe(2)
    expect(parseBytes(4096)).toBe(4096)
  })

  it.each(['', 'lots', '64mi', '64Mb', '-1Mi', 'Mi', '1.2.3Mi', '64Mi/s'])('refuses %j', (text) => {
    expect(parseBytes(text)).toBeUndefined()
  })

  it('refuses negative numbers', () => {
    expect(parseBytes(-1)).toBeUndefined()
  })
})

describe('parseByteRate', () => {
  it('reads sizes per second', () => {
    expect(parseByteRate('64Mi/s')).toBe(64 * 1024 ** 2)
    expect(parseByteRate('10MB/s')).toBe(10e6)
    expect(parseByteRate('10 MB / s')).toBe(10e6)
    expect(parseByteRate(2048)).toBe(2048)
  })

  it('refuses a size without "/s" and nonsense', () => {
    expect(parseByteRate('64Mi')).toBeUndefined()
    expect(parseByteRate('fast/s')).toBeUndefined()
    expect(parseByteRate('-64Mi/s')).toBeUndefined()
  })
})

describe('parseBitRate', () => {
  it.each([
    ['100Mbit', 100e6], ['1gbit', 1e9], ['500kbit', 500e3], ['100Mbps', 100e6], ['100Mbit/s', 100e6], ['8000bit', 8000], ['2.5Gbit', 2.5e9],
  ])('%j is %d bit/s', (text, bits) => {
    expect(parseBitRate(text)).toBe(bits)
  })

  it.each(['100', '100MB', 'Mbit', 'fast', '-1Mbit'])('refuses %j', (text) => {
    expect(parseBitRate(text)).toBeUndefined()
  })

  it('takes positive numbers as bits per second', () => {
    expect(parseBitRate(1e6)).toBe(1e6)
    expect(parseBitRate(0)).toBeUndefined()
    expect(parseBitRate(-5)).toBeUndefined()
  })
})

describe('parsePercent', () => {
  it('reads percentages as fractions', () => {
    expect(parsePercent('25%')).toBe(0.25)
    expect(parsePercent('100%')).toBe(1)
    expect(parsePercent('150%')).toBe(1.5)
    expect(parsePercent('-5%')).toBe(-0.05)
    expect(parsePercent('12.5 %')).toBe(0.125)
    expect(parsePercent(0.3)).toBe(0.3)
  })

  it('refuses text without a percent sign', () => {
    expect(parsePercent('25')).toBeUndefined()
    expect(parsePercent('%')).toBeUndefined()
    expect(parsePercent('a lot%')).toBeUndefined()
    expect(parsePercent(Number.NaN)).toBeUndefined()
  })
})

describe('formatting', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512B')
    expect(formatBytes(1536)).toBe('1.5Ki')
    expect(formatBytes(64 * 1024 ** 2)).toBe('64.0Mi')
    expect(formatBytes(200 * 1024 ** 3)).toBe('200Gi')
    expect(formatBytes(-2048)).toBe('-2.0Ki')
  })

  it('formats durations', () => {
    expect(formatDuration(500)).toBe('500ms')
    expect(formatDuration(1500)).toBe('1.5s')
    expect(formatDuration(15_000)).toBe('15s')
    expect(formatDuration(150_000)).toBe('2m30s')
  })

  it('formats bit rates', () => {
    expect(formatBitRate(500e3)).toBe('500kbit/s')
    expect(formatBitRate(100e6)).toBe('100.0Mbit/s')
    expect(formatBitRate(2.5e9)).toBe('2.50Gbit/s')
  })

  it('round-trips through the parsers', () => {
    expect(parseBytes(formatBytes(64 * 1024 ** 2))).toBe(64 * 1024 ** 2)
    expect(parseDuration(formatDuration(150_000))).toBe(150_000)
  })
})
