// Live progress on stderr: one rewritten status line on a terminal, plain timestamped lines otherwise (CI logs).
import type {RunEvent} from '../run/events.js'

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: RunEvent) => void {
  const tty = stream.isTTY === true
  let lastPlain = 0
  let statusShown = false
  const clear = () => {
    if (tty && statusShown) {
      stream.write('\r\x1b[2K')
      statusShown = false
    }
  }
  const say = (text: string) => {
    clear()
    stream.write(`${text}\n`)
  }
  return (event) => {
    switch (event.type) {
      case 'plan':
        say(['plan:', ...event.lines.map((l) => `  ${l}`)].join('\n'))
        break
      case 'phase':
        say(`== ${event.label ?? event.phase}${event.durationMs ? ` (${Math.round(event.durationMs / 1000)}s)` : ''}`)
        break
      case 'log':
        say(`   ${event.line}`)
        break
      case 'tick': {
        const neighbours = event.neighbors.map((n) => `${n.name} p99 ${n.p99 === undefined ? '-' : `${(n.p99 * 1000).toFixed(1)}ms`} err ${n.errors}/${n.requests}`).join(' | ')
        const text = `${event.phase} ${Math.round(event.elapsedMs / 1000)}/${Math.round(event.durationMs / 1000)}s  ${neighbours}${event.dose ? `  | ${event.dose}` : ''}`
        if (tty) {
          stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 120) - 1)}`)
          statusShown = true
        } else if (Date.now() - lastPlain >= 5000) {
          stream.write(`   ${text}\n`)
          lastPlain = Date.now()
        }
        break
      }
    }
  }
}
