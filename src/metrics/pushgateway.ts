// Pushing a run's metrics to a Prometheus Pushgateway: job "chaos", one group per experiment, replaced by each
// push (PUT), so the group always holds the experiment's last run.
import type {Registry} from 'prom-client'

export const PUSH_JOB = 'chaos'

export interface PushOptions {
  timeoutMs?: number
  /** retries of a push that got no answer or a 5xx */
  retries?: number
}

/** The group's URL: /metrics/job/chaos/<label>/<value>... (values URL-encoded). */
export function groupUrl(gateway: string, grouping: Record<string, string>): string {
  const path = Object.entries(grouping).map(([label, value]) => `/${label}/${encodeURIComponent(value)}`).join('')
  return `${gateway.replace(/\/+$/, '')}/metrics/job/${PUSH_JOB}${path}`
}

export async function pushToGateway(gateway: string, registry: Registry, grouping: Record<string, string>, options: PushOptions = {}): Promise<void> {
  const url = groupUrl(gateway, grouping)
  const body = await registry.metrics()
  const retries = options.retries ?? 2
  for (let attempt = 0; ; attempt++) {
    const failure = await pushOnce(url, body, options.timeoutMs ?? 10_000)
    if (failure === undefined) return
    if (!failure.retryable || attempt >= retries) throw new Error(`${url}: ${failure.message}`)
    await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt))
  }
}

/** undefined when the push was accepted. */
async function pushOnce(url: string, body: string, timeoutMs: number): Promise<{message: string, retryable: boolean} | undefined> {
  try {
    const response = await fetch(url, {
      method: 'PUT', body,
      headers: {'content-type': 'text/plain; version=0.0.4'},
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await response.text()
    if (response.ok) return undefined
    // a 4xx means the Pushgateway refused what was pushed (e.g. inconsistent metrics): it would refuse it again
    return {message: `HTTP ${response.status}: ${text.trim().slice(0, 300)}`, retryable: response.status >= 500}
  } catch (error) {
    const cause = (error as {cause?: {code?: string}}).cause?.code
    return {message: cause ?? (error as Error).message, retryable: true}
  }
}
