// Which running kernel this is. Two "hosts" that answer with one boot id are one machine (a loopback sshd, a network
// namespace of this machine's, a container): what runs on one competes with the other for the same CPUs.
import {readFileSync} from 'node:fs'

/** The running kernel's boot id (random per boot), or undefined where /proc does not say. */
export function kernelBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}
