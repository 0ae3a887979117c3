// The life of each stressor a fault starts, as lines for the journal's injection events. A dose that fell short
// is then explained on record: a leak SIGKILLed 1.6 s in reads differently from one still running at the end.
import type {StressorPlacement, Platform} from '../platforms/platform.js'
import {describeExit, type StressorHandle} from '../stressors/spawn.js'

export function recordingLauncher(platform: Platform, startedAt: number, record: (line: string) => void): (placement: StressorPlacement) => StressorHandle {
  const at = () => `+${((Date.now() - startedAt) / 1000).toFixed(2)} s`
  return (placement) => {
    const handle = platform.launchStressor(placement)
    const name = `${placement.kind} stressor`
    let stopAskedAt: string | undefined
    handle.ready.then(() => record(`${at()} ${name} ready`), () => undefined)
    void handle.exited.then((exit) => {
      const how = describeExit(exit)
      record(stopAskedAt ? `${at()} ${name} ended after the stop asked at ${stopAskedAt}: ${how}` : `${at()} ${name} ended before it was asked to stop: ${how}`)
    })
    return {
      ...handle,
      // getters of the handle (pid, ready, exited) keep reading the original
      get pid() { return handle.pid },
      stop() {
        stopAskedAt ??= at()
        return handle.stop()
      },
    } satisfies StressorHandle
  }
}
