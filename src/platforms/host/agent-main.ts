// Entry of the toolkit's agent on a host: `node dist/platforms/host/agent-main.js`, started by the toolkit over SSH
// (agent.ts says what it does). Its stdout carries only protocol lines; anything else goes to stderr.
import {runAgent} from './agent.js'

// a hang-up (sshd ending the session) or a termination is the channel ending: remove what was made, then go.
// Without handlers Node would die at once and leave the boxes and workflows behind.
let end: ((why: string) => void) | undefined
for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, () => end?.(signal))
process.stdout.on('error', () => undefined)

end = runAgent({
  input: process.stdin,
  send(message) {
    if (process.stdout.writable) process.stdout.write(JSON.stringify(message) + '\n')
  },
  exit(code) {
    // the last lines reach the toolkit before the process goes
    process.stdout.write('', () => process.exit(code))
  },
})
