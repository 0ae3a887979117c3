// A small client for the Prometheus HTTP API (/api/v1/query, /api/v1/query_range): authentication from the
// environment, a custom CA, a timeout per request and retries with backoff. node:http(s) rather than fetch,
// because fetch in Node 20 cannot be given a CA file without undici's own Agent.
import http from 'node:http'
import https from 'node:https'

export type PrometheusErrorKind =
  /** no answer: refused, reset, DNS, timeout */
  | 'unreachable'
  /** Prometheus answered, but not with success: bad_data (a malformed query), execution, timeout, 5xx... */
  | 'api'
  /** 401 or 403 */
  | 'auth'
  /** the certificate could not be verified (a private CA needs metrics.caFile) */
  | 'tls'
  /** an answer that is not the API's JSON (a proxy's error page, a truncated body) */
  | 'bad_response'

export class PrometheusError extends Error {
  constructor(
    message: string,
    readonly kind: PrometheusErrorKind,
    /** Prometheus's errorType (bad_data, execution, timeout...) when it gave one */
    readonly errorType?: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'PrometheusError'
  }
}

export interface PrometheusCredentials {
  /** the Authorization header's value */
  authorization?: string
  /** what the header is, for messages (never its value) */
  scheme?: 'bearer' | 'basic'
}

/**
 * Credentials from the environment, never from the experiment file: CHAOS_PROMETHEUS_TOKEN (bearer) or
 * CHAOS_PROMETHEUS_USER with CHAOS_PROMETHEUS_PASSWORD (basic). Both kinds at once is ambiguous and refused.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): PrometheusCredentials {
  const token = env.CHAOS_PROMETHEUS_TOKEN
  const user = env.CHAOS_PROMETHEUS_USER
  const password = env.CHAOS_PROMETHEUS_PASSWORD
  if (token && (user || password)) throw new Error('set either CHAOS_PROMETHEUS_TOKEN or CHAOS_PROMETHEUS_USER/CHAOS_PROMETHEUS_PASSWORD, not both')
  if (token) return {authorization: `Bearer ${token}`, scheme: 'bearer'}
  if (user !== undefined || password !== undefined) {
    if (!user) throw new Error('CHAOS_PROMETHEUS_PASSWORD is set but CHAOS_PROMETHEUS_USER is not')
    return {authorization: `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}`, scheme: 'basic'}
  }
  return {}
}

export interface ClientOptions {
  /** base URL, e.g. http://127.0.0.1:9090 or https://example.org/prometheus */
  url: string
  timeoutMs: number
  retries: number
  credentials?: PrometheusCredentials
  /** PEM text of the CA to trust (in addition to nothing else: the usual for a private CA) */
  ca?: string | Buffer
  /** first backoff delay; doubled each retry, with jitter. Default 200 ms */
  backoffMs?: number
}

/** Per call: tighter limits than the client's, e.g. for the watchdog during injection. */
export interface CallOptions {
  timeoutMs?: number
  retries?: number
  /** no attempt starts after this epoch ms, and none runs past it */
  deadline?: number
  backoffMs?: number
}

export interface SeriesSample {
  metric: Record<string, string>
  /** [epoch seconds, value as Prometheus prints it] */
  values: Array<[number, string]>
}

export interface InstantSample {
  metric: Record<string, string>
  value: [number, string]
}

export type QueryResult =
  | {resultType: 'matrix', result: SeriesSample[]}
  | {resultType: 'vector', result: InstantSample[]}
  | {resultType: 'scalar' | 'string', result: [number, string]}

const MAX_BODY_BYTES = 64 * 1024 * 1024
const MAX_BACKOFF_MS = 5000
// the least time left before a deadline for which another attempt is started
const MIN_ATTEMPT_MS = 50

export class PrometheusClient {
  readonly baseUrl: string
  // No keep-alive: a run makes a few dozen requests, and an idle socket would keep the CLI from exiting.
  private readonly agent: http.Agent

  constructor(readonly options: ClientOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '')
    const secure = this.baseUrl.startsWith('https:')
    this.agent = secure ? new https.Agent({ca: options.ca}) : new http.Agent()
  }

  /** An instant query (at `time`, default now). */
  async query(query: string, time?: number, call: CallOptions = {}): Promise<QueryResult> {
    const form: Record<string, string> = {query}
    if (time !== undefined) form.time = seconds(time)
    return this.api('/api/v1/query', form, call)
  }

  /** A range query: one point per step from start to end (epoch ms). */
  async queryRange(query: string, startMs: number, endMs: number, stepMs: number, call: CallOptions = {}): Promise<SeriesSample[]> {
    const result = await this.api('/api/v1/query_range', {query, start: seconds(startMs), end: seconds(endMs), step: seconds(stepMs)}, call)
    if (result.resultType !== 'matrix') throw new PrometheusError(`query_range answered a ${result.resultType}, not a matrix`, 'bad_response')
    return result.result
  }

  private async api(path: string, form: Record<string, string>, call: CallOptions): Promise<QueryResult> {
    const retries = call.retries ?? this.options.retries
    const backoff = call.backoffMs ?? this.options.backoffMs ?? 200
    let previous: unknown
    for (let attempt = 0; ; attempt++) {
      const askedTimeoutMs = call.timeoutMs ?? this.options.timeoutMs
      const timeoutMs = Math.min(askedTimeoutMs, call.deadline === undefined ? Infinity : Math.max(1, call.deadline - Date.now()))
      try {
        return await this.post(path, form, timeoutMs)
      } catch (caught) {
        // An attempt the deadline cut short says only that time ran out; the answer before it says why.
        const cutShort = timeoutMs < askedTimeoutMs && caught instanceof PrometheusError && caught.kind === 'unreachable' && /did not answer/.test(caught.message)
        const error = cutShort && previous !== undefined ? previous : caught
        previous = caught
        const wait = Math.min(MAX_BACKOFF_MS, backoff * 2 ** attempt) * (0.8 + Math.random() * 0.4)
        // no attempt is worth starting with less time left than this
        const outOfTime = call.deadline !== undefined && Date.now() + wait + MIN_ATTEMPT_MS >= call.deadline
        if (!retryable(caught) || attempt >= retries || outOfTime) {
          if (attempt > 0 && error instanceof PrometheusError) error.message += ` (after ${attempt + 1} attempts)`
          throw error
        }
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  private post(path: string, form: Record<string, string>, timeoutMs: number): Promise<QueryResult> {
    const body = new URLSearchParams(form).toString()
    const url = new URL(this.baseUrl + path)
    const headers: Record<string, string | number> = {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(body),
      accept: 'application/json',
    }
    if (this.options.credentials?.authorization) headers.authorization = this.options.credentials.authorization
    const transport = url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      let settled = false
      const finish = (fn: () => void) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        fn()
      }
      const request = transport.request(url, {method: 'POST', headers, agent: this.agent}, (response) => {
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_BODY_BYTES) {
            request.destroy()
            finish(() => reject(new PrometheusError(`the answer exceeds ${MAX_BODY_BYTES / 1024 ** 2} MiB; narrow the query`, 'bad_response')))
            return
          }
          chunks.push(chunk)
        })
        response.on('error', (error) => finish(() => reject(unreachable(error, this.baseUrl))))
        response.on('end', () => finish(() => {
          try {
            resolve(interpret(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), this.options.credentials))
          } catch (error) {
            reject(error)
          }
        }))
      })
      const timer = setTimeout(() => {
        request.destroy()
        finish(() => reject(new PrometheusError(`Prometheus at ${this.baseUrl} did not answer within ${timeoutMs} ms`, 'unreachable')))
      }, timeoutMs)
      request.on('error', (error) => finish(() => reject(unreachable(error, this.baseUrl))))
      request.end(body)
    })
  }
}

/** The API's envelope: {status: success, data} or {status: error, errorType, error}, whatever the HTTP status. */
function interpret(status: number, text: string, credentials: PrometheusCredentials | undefined): QueryResult {
  if (status === 401 || status === 403) {
    const given = credentials?.scheme ? `the ${credentials.scheme} credentials from the environment were refused` : 'set CHAOS_PROMETHEUS_TOKEN, or CHAOS_PROMETHEUS_USER and CHAOS_PROMETHEUS_PASSWORD'
    throw new PrometheusError(`Prometheus answered HTTP ${status}: ${given}`, 'auth', undefined, status)
  }
  let envelope: {status?: string, data?: QueryResult, errorType?: string, error?: string}
  try {
    envelope = JSON.parse(text) as typeof envelope
  } catch {
    throw new PrometheusError(`Prometheus answered HTTP ${status} with something that is not its API's JSON: ${JSON.stringify(text.slice(0, 200))}`, status >= 500 ? 'api' : 'bad_response', undefined, status)
  }
  if (envelope?.status === 'error') {
    throw new PrometheusError(`Prometheus refused the query (${envelope.errorType ?? `HTTP ${status}`}): ${envelope.error ?? 'no error text'}`, 'api', envelope.errorType, status)
  }
  if (envelope?.status !== 'success' || typeof envelope.data !== 'object' || envelope.data === null || !Array.isArray((envelope.data as {result?: unknown}).result)) {
    throw new PrometheusError(`Prometheus answered HTTP ${status} without a result: ${JSON.stringify(text.slice(0, 200))}`, status >= 500 ? 'api' : 'bad_response', undefined, status)
  }
  return envelope.data
}

/** Worth another attempt: no answer, overload (429, 503), a proxy's or Prometheus's 5xx. Never a refused query. */
function retryable(error: unknown): boolean {
  if (!(error instanceof PrometheusError)) return false
  if (error.kind === 'unreachable') return true
  if (error.status === 429) return true
  return error.status !== undefined && error.status >= 500 && error.errorType !== 'bad_data'
}

function unreachable(error: Error, baseUrl: string): PrometheusError {
  const code = (error as NodeJS.ErrnoException).code
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) {
    return new PrometheusError(`Prometheus at ${baseUrl}: its certificate was not accepted (${code}); for a private CA set metrics.caFile`, 'tls')
  }
  return new PrometheusError(`Prometheus at ${baseUrl} is unreachable: ${code ?? error.message}`, 'unreachable')
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3)
}
