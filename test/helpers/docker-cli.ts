// The docker CLI for tests that drive the real engine the way a user (or a kubelet) would: asynchronous, so an
// in-process fake API server keeps answering while a container runs.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

const execFileAsync = promisify(execFile)

export interface DockerResult {code: number, stdout: string, stderr: string}

/** `docker ARGS`, resolving with its exit code (not throwing on a non-zero one); a timeout is a failure. */
export async function docker(args: string[], timeoutMs = 30_000): Promise<DockerResult> {
  try {
    const {stdout, stderr} = await execFileAsync('docker', args, {encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20})
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code?: unknown, stdout?: string, stderr?: string}
    if (typeof e.code !== 'number') throw new Error(`docker ${args.join(' ')}: ${(error as Error).message}`)
    return {code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? ''}
  }
}
