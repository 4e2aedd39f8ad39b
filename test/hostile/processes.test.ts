/**
 * Hostile processes: fork bombs, children that outlive the program, a program that
 * ignores SIGTERM. The host must survive, the answer must come back, and no process,
 * container or task of ours may be left.
 */
import { describe, expect, it } from 'vitest';
import { execute, testRuntimes } from '../helpers/real-service.js';
import { KILL_SLACK_MS, STARTED_DEADLINE_MS } from '../helpers/timing.js';
import { hostProcesses, hostile, useService } from './hostile-case.js';

/**
 * The lingering child: a 5-minute sleep with a duration no other test uses, so that the
 * host-wide `ps` check below cannot see someone else's sleeper on a shared machine.
 */
const LINGER = 'sleep 317';

/**
 * How a fork bomb may end, on every runtime: contained, never `ok`, and never `sandbox_error`.
 * 64 interpreters may exhaust the memory limit first: an OOM kill is contained as well.
 * (Under gVisor, the pids cgroup backstop was once too tight for the Sentry's own host
 * threads, ~24 per sandbox process: the Sentry died, and every bomb was a sandbox_error;
 * src/runtimes/gvisor.ts now sizes it per process.)
 */
const FORK_BOMB_ENDS = ['timeout', 'error', 'killed', 'oom'];

describe.each(testRuntimes())('hostile processes on %s', (runtime) => {
  const svc = useService(runtime);

  it('survives a Python fork bomb under a pids limit of 64', async () => {
    const code = [
      'import os, time',
      'print("bombing", flush=True)',
      'while True:',
      '    try:',
      '        os.fork()',
      '    except OSError:',
      '        time.sleep(0.01)',
    ].join('\n');
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, timeoutMs: 5000, limits: { pids: 64 } }));
    expect(FORK_BOMB_ENDS, JSON.stringify(r.timing)).toContain(r.status);
    expect(r.limits.pids).toBe(64);
    expect(r.durationMs).toBeLessThan(5000 + KILL_SLACK_MS);
  }, 120_000);

  it('survives a bash fork bomb under a pids limit of 64', async () => {
    // The classic one-liner returns at once (its first `:` runs in the background), so
    // the program then waits: the bomb goes off while the program is still running.
    const code = ':(){ :|:& };:\nsleep 30';
    const r = await hostile(svc(), () => execute(svc(), { language: 'bash', code, timeoutMs: 5000, limits: { pids: 64 } }));
    expect(FORK_BOMB_ENDS, JSON.stringify(r.timing)).toContain(r.status);
    expect(r.durationMs).toBeLessThan(5000 + KILL_SLACK_MS);
  }, 120_000);

  // BUG (gvisor, open): a C fork bomb forks far faster than Python's or bash's, and under the
  // ptrace platform each dying process's host threads linger: the Sentry passes the host pids
  // backstop (512 + 32 per process, src/runtimes/gvisor.ts) and dies, so the answer is
  // sandbox_error (5 runs of 5). 256 per process contained it (2 of 2, status timeout), but
  // that is 16,896 host pids for one sandbox, half of this host's pid_max (32,768): a
  // backstop that lets one sandbox take the host's pids protects nothing. To fix: tell a
  // Sentry killed at the backstop from other sandbox failures (the cgroup's pids.events) and
  // answer it as the program's own limit.
  (runtime === 'gvisor' ? it.fails : it)('survives a C fork bomb under a pids limit of 64 (compiled in the sandbox first)', async () => {
    const code = [
      '#include <stdio.h>',
      '#include <unistd.h>',
      'int main(void) {',
      '  puts("bombing");',
      '  fflush(stdout);',
      '  for (;;) if (fork() < 0) usleep(10000);',
      '}',
    ].join('\n');
    const timeoutMs = 15_000;
    const r = await hostile(svc(), () => execute(svc(), { language: 'c', code, timeoutMs, compile: { timeoutMs: 10_000 }, limits: { pids: 64 } }));
    expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.stdout).toContain('bombing\n');
    expect(FORK_BOMB_ENDS, JSON.stringify(r.timing)).toContain(r.status);
    expect(r.limits.pids).toBe(64);
    expect(r.durationMs).toBeLessThan(timeoutMs + KILL_SLACK_MS);
  }, 120_000);

  it.each([
    ['setsid', `setsid ${LINGER} &\necho started`],
    ['nohup', `nohup ${LINGER} >/dev/null 2>&1 &\necho started`],
    ['setsid with the output pipes held', `setsid ${LINGER} &\nnohup ${LINGER} &\necho started`],
  ])('answers promptly when a %s child outlives the program, and leaves no process', async (_name, code) => {
    const timeoutMs = 20_000;
    const r = await hostile(svc(), () => execute(svc(), { language: 'bash', code, timeoutMs }));
    expect(r.status).toBe('ok');
    expect(r.stdout).toContain('started\n');
    // Well before the 20 s deadline: the service did not wait for the child.
    expect(r.durationMs).toBeLessThan(timeoutMs - 5000);
    expect(hostProcesses().filter((a) => a.includes(LINGER))).toEqual([]);
  }, 120_000);

  it('answers promptly when a daemonised Python child (double fork, stdio closed) outlives the program', async () => {
    const code = [
      'import os, sys',
      'if os.fork() == 0:',
      '    os.setsid()',
      '    if os.fork() == 0:',
      '        for fd in (0, 1, 2):',
      '            os.close(fd)',
      '        os.execvp("sleep", ["sleep", "317"])',
      '    os._exit(0)',
      'os.wait()',
      'print("parent done")',
    ].join('\n');
    const timeoutMs = 20_000;
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, timeoutMs }));
    expect(r).toMatchObject({ status: 'ok', stdout: 'parent done\n' });
    expect(r.durationMs).toBeLessThan(timeoutMs - 5000);
    expect(hostProcesses().filter((a) => a.includes(LINGER))).toEqual([]);
  }, 120_000);

  it('kills a program that ignores SIGTERM at the deadline', async () => {
    const timeoutMs = STARTED_DEADLINE_MS;
    const code = 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("ignoring", flush=True)\ntime.sleep(60)';
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, timeoutMs }));
    expect(r.status).toBe('timeout');
    expect(r.stdout).toBe('ignoring\n');
    expect(r.durationMs).toBeGreaterThanOrEqual(timeoutMs);
    expect(r.durationMs).toBeLessThan(timeoutMs + KILL_SLACK_MS);
  }, 120_000);
});
