// Process exhaustion, a fork bomb with a brake: a small perl helper (perl is Essential on Debian, so on every
// machine and image this toolkit runs on) creates `count` children (or threads) at `rate` in the stressor's own
// cgroup, which is the target's, holds them, and keeps trying to replace what the kernel refuses. Node's own
// child_process.spawn is far too slow for hundreds a second; a fork of a small perl interpreter is not.
//
// Nothing it makes outlives the stressor. The helper kills and reaps its children when the stressor ends (so their
// pids are the box's again at once), is its own process group (killed as one after that, whatever it managed), has
// a parent-death signal on the stressor and watches it and its deadline; each child has a parent-death signal on
// the helper, an alarm at the stressor's deadline, and watches its parent, so a kill -9 anywhere in the chain still
// ends every child by the deadline. Children carry the stressor's title (argv0), so cleanup's sweep and the tests' leftover
// check find them by the kinds table like every stressor.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {access} from 'node:fs/promises'

import {lineSplitter} from './messages.js'
import type {ForkParams} from './protocol.js'
import {errorMessage, sleepSync, StressorError, type KindFigures, type RunningStressor, type StressorContext} from './runtime.js'

/** prctl(2)'s syscall number by Node's name of the architecture; elsewhere the alarm and the parent watch suffice. */
const PRCTL_SYSCALL: Partial<Record<string, number>> = {x64: 157, arm64: 167, riscv64: 167, ia32: 172, arm: 172, s390x: 172, ppc64: 171}

const READY_TIMEOUT_MS = 5000
/** how long the stressor's exit waits for the helper to kill and reap its children (their pids are the box's until then) */
const RELEASE_MS = 1000

/**
 * The helper. Arguments: deadline (epoch ms), count, rate (0 = as fast as possible), kind, the prctl syscall
 * number (0 = none), the stressor's pid. It says `tasks N refused M` on stdout every 100 ms and whenever it grows.
 * On SIGTERM (also its parent-death signal), SIGALRM (its deadline) or its stdin closing it kills and reaps every
 * child, so that their pids are given back to the box before it exits.
 * POSIX is loaded only for processes: each perl thread clones the whole interpreter, so threads keep it small.
 */
export const FORK_HELPER = String.raw`
use strict;
use Time::HiRes qw(time);
my ($deadline_ms, $count, $rate, $kind, $prctl, $parent) = @ARGV;
my $deadline = $deadline_ms / 1000;
setpgrp(0, 0);
syscall($prctl, 1, 15) if $prctl > 0;
my $ppid = getppid();
exit 0 if $ppid != $parent || time() >= $deadline;
my $threads = $kind eq 'threads';
if ($threads) { eval { require threads; 1 } or do { print STDERR "perl has no threads here: $@"; exit 3 } }
else { require POSIX }
my $stop = 0;
$SIG{$_} = sub { $stop = 1 } for qw(TERM INT HUP ALRM);
$SIG{PIPE} = 'IGNORE';
alarm(int($deadline - time()) + 1);
$| = 1;
my $me = $$;
my %kids;
my @held;
my ($refused, $alive, $reported) = (0, 0, -1);
my $next = time();
my $rin = '';
vec($rin, fileno(STDIN), 1) = 1;
sub child {
  syscall($prctl, 1, 9) if $prctl > 0;
  POSIX::_exit(0) if getppid() != $me;
  close STDIN; close STDOUT; close STDERR;
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP ALRM);
  alarm(int($deadline - time()) + 1);
  # with a parent-death signal the parent check is a fallback: 2,000 children waking every 0.5 s cost the box
  # 4,000 wake-ups a second, and its fork rate fell to 40% of stress-ng's (docs/benchmarks.md row 9)
  my $nap = $prctl > 0 ? 5 : 0.5;
  while (1) { select(undef, undef, undef, $nap); POSIX::_exit(0) if getppid() != $me || time() >= $deadline }
}
sub hold { while (!$stop) { select(undef, undef, undef, 0.5) } }
sub make {
  if ($threads) {
    local $SIG{__WARN__} = sub {};
    my $t = threads->create(\&hold);
    return 0 unless $t;
    $t->detach; push @held, $t; return 1;
  }
  my $pid = fork();
  return 0 unless defined $pid;
  child() if $pid == 0;
  $kids{$pid} = 1; return 1;
}
sub report {
  return if $alive == $reported && !$_[0];
  $reported = $alive;
  print "tasks $alive refused $refused\n" or $stop = 1;
}
my $last_report = 0;
report(1);
while (!$stop) {
  my $now = time();
  last if $now >= $deadline || getppid() != $ppid;
  if (!$threads) { while ((my $pid = waitpid(-1, 1)) > 0) { delete $kids{$pid} } }
  $alive = $threads ? scalar(@held) : scalar(keys %kids);
  my $tries = 0;
  while ($alive < $count && !$stop) {
    if ($rate > 0) { last if $next > time(); $next += 1 / $rate }
    if (make()) { $alive++ } else { $refused++; last }
    last if ++$tries % 64 == 0 && time() >= $deadline;
  }
  $next = time() if $rate > 0 && $next < time() - 1;
  report($now - $last_report >= 0.1 && ($last_report = $now));
  my $rout;
  if (select($rout = $rin, undef, undef, 0.01) > 0) { my $buf; last if !sysread(STDIN, $buf, 4096) }
}
if (%kids) { kill 'KILL', keys %kids; waitpid($_, 0) for keys %kids }
if ($threads) { require POSIX; POSIX::_exit(0) }
exit 0;
`

/** Whether a process has exited (gone, or a zombie its parent has not reaped yet). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** Parses a helper's `tasks N refused M` line. */
export function parseForkLine(line: string): {tasks: number, refused: number} | undefined {
  const match = /^tasks (\d+) refused (\d+)$/.exec(line.trim())
  return match ? {tasks: Number(match[1]), refused: Number(match[2])} : undefined
}

export async function startFork(params: ForkParams, ctx: StressorContext): Promise<RunningStressor> {
  // libuv's thread pool starts on first use: start it now, while this box still has room for its threads, so that
  // nothing in this stressor needs a new task once the helper has taken the box's last one
  await access('/')
  const figures: KindFigures = {tasks: 0, refused: 0}
  const helper = spawn('perl', ['-e', FORK_HELPER, String(ctx.deadline), String(params.count), String(params.rate ?? 0), params.kind, String(PRCTL_SYSCALL[process.arch] ?? 0), String(process.pid)], {
    // the stressor's own title (main.ts gave it: chaos-stressor fork --run ID), which the children inherit
    argv0: process.title,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let ending = false
  ctx.onExit(() => {
    ending = true
    if (helper.pid === undefined) return
    // the helper releases its children itself (kills and reaps them); then, whatever it managed, the whole group at
    // once: the helper and every child it forked (threads die with the helper)
    // its stdin closing and SIGTERM both stop it: a perl thread may take the signal, never the end of its stdin
    helper.stdin.destroy()
    try {
      process.kill(helper.pid, 'SIGTERM')
      const until = Date.now() + RELEASE_MS
      while (Date.now() < until && !ended(helper.pid)) sleepSync(5)
    } catch { /* gone already */ }
    for (const target of [-helper.pid, helper.pid]) {
      try {
        process.kill(target, 'SIGKILL')
      } catch { /* gone already */ }
    }
  })
  helper.stdin.on('error', () => undefined)
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StressorError(`the fork helper did not report within ${READY_TIMEOUT_MS / 1000}s`)), READY_TIMEOUT_MS)
    const lines = lineSplitter((line) => {
      const figure = parseForkLine(line)
      if (!figure) return
      figures.tasks = figure.tasks
      figures.refused = figure.refused
      clearTimeout(timer)
      resolve()
    })
    helper.stdout.setEncoding('utf8').on('data', (text: string) => lines.push(text))
    helper.once('error', (error) => {
      clearTimeout(timer)
      reject(new StressorError(`cannot start perl for the fork helper: ${errorMessage(error)} (the fork stressor needs perl, as Debian's perl-base gives)`))
    })
    helper.once('exit', (code, signal) => {
      clearTimeout(timer)
      const how = signal ? `killed by ${signal}` : `exit code ${code}`
      reject(new StressorError(`the fork helper ended before it reported (${how})`))
      // the helper holds the dose: without it the stressor has nothing left to do
      if (ending) return
      if (code === 0 && Date.now() >= ctx.deadline) ctx.finish('done')
      else ctx.finish('error', `the fork helper ended (${how})`)
    })
  })
  await ready
  return {figures: () => ({tasks: figures.tasks, refused: figures.refused})}
}
