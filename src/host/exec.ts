// Runs a program with an argument vector: never a shell, never an interpolated string.
import {execFile} from 'node:child_process'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export function run(file: string, args: string[], {timeoutMs = 15_000} = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, {timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException & {code?: unknown}).code === 'number' ? Number((error as {code: number}).code) : 1) : 0
      resolve({code, stdout: String(stdout), stderr: String(stderr || (error && !stderr ? error.message : ''))})
    })
  })
}

/** Like run, but throws with the program's own error text when it fails. */
export async function runOrThrow(file: string, args: string[], options?: {timeoutMs?: number}): Promise<string> {
  const result = await run(file, args, options)
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`)
  return result.stdout
}
