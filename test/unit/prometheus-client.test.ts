// The Prometheus API client against a stub server: Prometheus's own error text, retries with backoff on what is
// worth retrying and never on a refused query, timeouts, credentials from the environment, a custom CA.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {credentialsFromEnv, PrometheusClient, PrometheusError} from '../../src/metrics/prometheus/client.js'
import {matrix, startStub, vector, type Stub} from '../helpers/prometheus-server.js'

const stubs: Stub[] = []
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()))
})

async function stub(...args: Parameters<typeof startStub>): Promise<Stub> {
  const s = await startStub(...args)
  stubs.push(s)
  return s
}

const client = (url: string, more: Partial<ConstructorParameters<typeof PrometheusClient>[0]> = {}) =>
  new PrometheusClient({url, timeoutMs: 2000, retries: 3, backoffMs: 10, ...more})

const BAD_DATA = {status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:17: parse error: unclosed left parenthesis'}

describe('Prometheus client', () => {
  it('sends a range query as a form with start, end and step in seconds, and returns the matrix', async () => {
    const s = await stub(() => ({status: 200, body: matrix({metric: {job: 'api'}, values: [1, 2, 3]})}))
    const series = await client(`${s.url}/prefix/`).queryRange('up', 1_000_000, 1_010_000, 1000)
    expect(series).toEqual([{metric: {job: 'api'}, values: [[1000, '1'], [1001, '2'], [1002, '3']]}])
    expect(s.requests[0].path).toBe('/prefix/api/v1/query_range')
    expect(Object.fromEntries(s.requests[0].params)).toEqual({query: 'up', start: '1000.000', end: '1010.000', step: '1.000'})
  })

  it('reports a malformed query with Prometheus\'s own error text, without retrying it', async () => {
    const s = await stub(() => ({status: 400, body: BAD_DATA}))
    const error = await client(s.url).query('sum(rate(foo[1s]').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PrometheusError)
    expect((error as PrometheusError).errorType).toBe('bad_data')
    expect((error as Error).message).toBe(`Prometheus refused the query (bad_data): ${BAD_DATA.error}`)
    expect(s.requests).toHaveLength(1)
  })

  it('does not retry an execution error (422)', async () => {
    const s = await stub(() => ({status: 422, body: {status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed'}}))
    await expect(client(s.url).query('a / b')).rejects.toThrow(/execution.*many-to-many/)
    expect(s.requests).toHaveLength(1)
  })

  it('retries a 503 with backoff and succeeds when Prometheus recovers', async () => {
    const s = await stub((_r, i) => i < 2 ? {status: 503, body: {status: 'error', errorType: 'unavailable', error: 'overloaded'}} : {status: 200, body: vector({value: 1})})
    const started = Date.now()
    const result = await client(s.url, {backoffMs: 50}).query('vector(1)')
    expect(result.resultType).toBe('vector')
    expect(s.requests).toHaveLength(3)
    // 50 ms then 100 ms, each within ±20%
    expect(Date.now() - started).toBeGreaterThanOrEqual(110)
  })

  it('gives up after the retries and says how many attempts were made', async () => {
    const s = await stub(() => ({status: 502, body: '<html>Bad Gateway</html>'}))
    await expect(client(s.url, {retries: 2}).query('up')).rejects.toThrow(/HTTP 502 with something that is not its API's JSON: "<html>Bad Gateway<\/html>" \(after 3 attempts\)/)
    expect(s.requests).toHaveLength(3)
  })

  it('retries 429 (too many requests)', async () => {
    const s = await stub((_r, i) => i === 0 ? {status: 429, body: 'slow down'} : {status: 200, body: vector({value: 1})})
    await client(s.url).query('up')
    expect(s.requests).toHaveLength(2)
  })

  it('times out a request that gets no answer, and retries it', async () => {
    const s = await stub(() => ({status: 200, body: vector({value: 1}), delayMs: 2000}))
    const started = Date.now()
    await expect(client(s.url, {timeoutMs: 150, retries: 1}).query('up')).rejects.toThrow(/did not answer within 150 ms \(after 2 attempts\)/)
    expect(s.requests).toHaveLength(2)
    // two attempts of 150 ms, not the stub's 2 s
    expect(Date.now() - started).toBeLessThan(1900)
  })

  it('stops retrying at the call\'s deadline', async () => {
    const s = await stub(() => ({status: 503, body: {status: 'error', errorType: 'unavailable', error: 'down'}}))
    const started = Date.now()
    await expect(client(s.url, {retries: 100}).query('up', undefined, {deadline: started + 300, backoffMs: 40})).rejects.toThrow(/down/)
    // not the hundred retries asked for
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('an attempt the deadline cuts short reports the answer before it, not the cut', async () => {
    const s = await stub((_r, i) => i === 0
      ? {status: 503, body: {status: 'error', errorType: 'unavailable', error: 'overloaded'}}
      : {status: 200, body: vector({value: 1}), delayMs: 2000})
    const started = Date.now()
    await expect(client(s.url, {retries: 5}).query('up', undefined, {deadline: started + 400, backoffMs: 10}))
      .rejects.toThrow(/overloaded \(after 2 attempts\)/)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('says a refused connection is unreachable, after retrying it', async () => {
    const s = await stub(() => ({status: 200, body: vector()}))
    await s.close()
    stubs.pop()
    await expect(client(s.url, {retries: 2}).query('up')).rejects.toThrow(/is unreachable: ECONNREFUSED \(after 3 attempts\)/)
  })

  it('refuses a success without a result, or JSON that is not the API\'s', async () => {
    const s = await stub((_r, i) => ({status: 200, body: i === 0 ? {status: 'success'} : 'not json'}))
    await expect(client(s.url, {retries: 0}).query('up')).rejects.toThrow(/without a result/)
    await expect(client(s.url, {retries: 0}).query('up')).rejects.toThrow(/not its API's JSON: "not json"/)
    expect(s.requests).toHaveLength(2)
  })

  it('sends a bearer token or basic credentials from the environment, and says which were refused', async () => {
    const s = await stub((r) => ({status: r.headers.authorization === 'Bearer s3cret' || r.headers.authorization === `Basic ${Buffer.from('ops:pw').toString('base64')}` ? 200 : 401, body: vector({value: 1})}))
    await client(s.url, {credentials: credentialsFromEnv({CHAOS_PROMETHEUS_TOKEN: 's3cret'})}).query('up')
    await client(s.url, {credentials: credentialsFromEnv({CHAOS_PROMETHEUS_USER: 'ops', CHAOS_PROMETHEUS_PASSWORD: 'pw'})}).query('up')
    const wrong = client(s.url, {credentials: credentialsFromEnv({CHAOS_PROMETHEUS_TOKEN: 'nope'})}).query('up')
    await expect(wrong).rejects.toThrow('Prometheus answered HTTP 401: the bearer credentials from the environment were refused')
    await expect(client(s.url).query('up')).rejects.toThrow(/HTTP 401: set CHAOS_PROMETHEUS_TOKEN/)
    // a refusal is not retried, and no message carries the secret
    expect(s.requests).toHaveLength(4)
    await wrong.catch((e: Error) => expect(e.message).not.toContain('nope'))
  })

  it('refuses ambiguous or incomplete credentials', () => {
    expect(credentialsFromEnv({})).toEqual({})
    expect(() => credentialsFromEnv({CHAOS_PROMETHEUS_TOKEN: 't', CHAOS_PROMETHEUS_USER: 'u'})).toThrow(/either/)
    expect(() => credentialsFromEnv({CHAOS_PROMETHEUS_PASSWORD: 'p'})).toThrow(/CHAOS_PROMETHEUS_USER is not/)
  })

  it('trusts a custom CA for https, and says so when the certificate is not trusted', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-test-ca-'))
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], {stdio: 'ignore'})
      const cert = readFileSync(path.join(dir, 'cert.pem'))
      const server = https.createServer({key: readFileSync(path.join(dir, 'key.pem')), cert}, (_q, r) => {
        r.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(vector({value: 7})))
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
      try {
        const result = await client(url, {ca: cert}).query('up')
        expect(result.resultType === 'vector' && result.result[0].value[1]).toBe('7')
        const untrusted = await client(url, {retries: 3}).query('up').then(() => undefined, (e: PrometheusError) => e)
        expect(untrusted?.kind).toBe('tls')
        expect(untrusted?.message).toMatch(/certificate was not accepted \(\w+\); for a private CA set metrics.caFile/)
      } finally {
        server.closeAllConnections()
        server.close()
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
