// Types for the tests' use of scripts/loopback-sshd.js (test/helpers/sshd.ts): one sshd setup for both.
import type {ChildProcess} from 'node:child_process'

export function sshdConfig(address: string, port: number, hostKey: string, authorizedKeys: string, pidFile: string): string
export function knownHostsLine(address: string, port: number, publicKey: string): string
export function greets(address: string, port: number, child: ChildProcess, timeoutMs: number): Promise<boolean>
export function startLoopbackSshd(): Promise<{dir: string, port: number, identityFile: string, knownHosts: string, stop(): void}>
export function pointAt(file: string, sshd: {dir: string, port: number, identityFile: string, knownHosts: string}): string
