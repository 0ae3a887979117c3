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

/** Ids of the containers labelled chaos.run=TAG, running or not. */
export async function labelledContainers(tag: string): Promise<string[]> {
  return (await docker(['ps', '-aq', '--filter', `label=chaos.run=${tag}`])).stdout.split('\n').filter(Boolean)
}

/** Removes a test's labelled containers and returns any still there after 10 s (a --rm one may be on its way out). */
export async function removeLabelledContainers(tag: string): Promise<string[]> {
  const ids = await labelledContainers(tag)
  if (ids.length > 0) await docker(['rm', '-f', ...ids])
  let left = await labelledContainers(tag)
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    left = await labelledContainers(tag)
  }
  return left
}
