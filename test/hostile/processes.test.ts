/**
 * Hostile processes: fork bombs, children that outlive the program, a program that
 * ignores SIGTERM. The host must survive, the answer must come back, and no process,
 * container or task of ours may be left.
 */
import { describe, expect, it } from 'vitest';
import { counter, execute, testRuntimes } from '../helpers/real-service.js';
import { KILL_SLACK_MS, STARTED_DEADLINE_MS } from '../helpers/timing.js';
import { call, createSession } from '../helpers/sessions.js';
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
 * src/runtimes/gvisor.ts now sizes it per process. A bomb that still reaches it ends the
 * sandbox, and is answered as its pids limit: `killed`, `killedBy: pids_limit`.)
 */
const FORK_BOMB_ENDS = ['timeout', 'error', 'killed', 'oom'];

/** A C fork bomb: it says so, then forks for ever, pausing 10 ms at each refusal. */
const C_BOMB = [
  '#include <stdio.h>',
  '#include <unistd.h>',
  'int main(void) {',
  '  puts("bombing");',
  '  fflush(stdout);',
  '  for (;;) if (fork() < 0) usleep(10000);',
  '}',
].join('\n');

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

  // A C fork bomb forks far faster than Python's or bash's. On gVisor (ptrace platform) each
  // dying process's host threads linger, and the Sentry passes the host pids backstop (512 +
  // 32 per process, src/runtimes/gvisor.ts) and dies with the whole sandbox (5 runs of 5).
  // A backstop it never reaches would be half of this host's pid_max (256 per process:
  // 16,896 of 32,768). So the service tells that end by the host's count (the cgroup's
  // pids.events, the kernel's report: src/sandbox/pids-limit.ts) and answers it as the
  // program's pids limit (`killed`, `killedBy: pids_limit`, the metric), never
  // `sandbox_error`. runc and Kata refuse the forks and the bomb runs to its deadline.
  it('survives a C fork bomb under a pids limit of 64 (compiled in the sandbox first)', async () => {
    const timeoutMs = 15_000;
    const kills = await counter(svc(), 'kata_exec_pids_limit_kills_total');
    const r = await hostile(svc(), () => execute(svc(), { language: 'c', code: C_BOMB, timeoutMs, compile: { timeoutMs: 10_000 }, limits: { pids: 64 } }));
    expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.stdout).toContain('bombing\n');
    expect(FORK_BOMB_ENDS, JSON.stringify(r.timing)).toContain(r.status);
    // Ended at the pids limit by the host's count: killed, no signal, and the metric says so.
    expect({ status: r.status, killedBy: r.killedBy }).toEqual(r.killedBy === undefined ? { status: r.status, killedBy: undefined } : { status: 'killed', killedBy: 'pids_limit' });
    expect(await counter(svc(), 'kata_exec_pids_limit_kills_total')).toBe(kills + (r.killedBy === undefined ? 0 : 1));
    expect(r.limits.pids).toBe(64);
    expect(r.durationMs).toBeLessThan(timeoutMs + KILL_SLACK_MS);
  }, 120_000);

  it('judges a C fork bomb among tests as the program\'s failure: the tests before it stand, never a sandbox_error', async () => {
    // The second test's input sets the bomb off. On runc and Kata its run ends at its own
    // wall clock (time_limit) and the third runs; on gVisor the bomb may take the whole
    // sandbox down at the host backstop: its run is then a runtime_error (killedBy
    // pids_limit) and the third never runs.
    const code = [
      '#include <stdio.h>',
      '#include <string.h>',
      '#include <unistd.h>',
      'int main(void) {',
      '  char in[16] = {0};',
      '  if (!fgets(in, sizeof in, stdin)) return 1;',
      '  if (strncmp(in, "bomb", 4) == 0) for (;;) if (fork() < 0) usleep(10000);',
      '  fputs(in, stdout);',
      '  return 0;',
      '}',
    ].join('\n');
    const tests = [
      { stdin: '1\n', expectedOutput: '1\n' },
      { stdin: 'bomb\n', expectedOutput: '2\n', timeoutMs: 5000 },
      { stdin: '3\n', expectedOutput: '3\n' },
    ];
    const r = await hostile(svc(), () => execute(svc(), { language: 'c', code, compile: { timeoutMs: 10_000 }, tests, limits: { pids: 64 } }));
    expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.status).not.toBe('sandbox_error');
    expect(r.tests?.[0]?.verdict).toBe('accepted');
    const bomb = r.tests?.[1];
    expect(['time_limit', 'runtime_error'], JSON.stringify(bomb)).toContain(bomb?.verdict);
    expect(r.verdict).toBe(bomb?.verdict);
    // Either the sandbox ended at its pids limit (the bomb's run a runtime_error, the last
    // test never ran), or it did not (the bomb's run ended at its wall clock, the last passed).
    const summary = r.killedBy === undefined ? { passed: 2, total: 3 } : { passed: 1, total: 3 };
    expect({ killedBy: r.killedBy, verdict: r.verdict, summary: r.summary, tests: r.tests?.length }).toEqual(
      r.killedBy === undefined
        ? { killedBy: undefined, verdict: 'time_limit', summary, tests: 3 }
        : { killedBy: 'pids_limit', verdict: 'runtime_error', summary, tests: 2 },
    );
  }, 120_000);

  // A session's call and an execution with outputFiles run through the session launcher
  // (src/sandbox/session-runner.ts): the same bomb is their program's pids limit too. On
  // gVisor the sandbox may end with it: the call is then `killed` (pids_limit) and the
  // session is gone (the answer's `session.ended`; its next call is 410); otherwise the call ends at its deadline and the
  // session serves the next one. Never `sandbox_error`, and never a session that says it
  // lives with its sandbox gone.
  it("a C fork bomb in a session's call is the call's pids limit or its deadline; the session is alive or gone as the answer says", async () => {
    const timeoutMs = 15_000;
    const kills = await counter(svc(), 'kata_exec_pids_limit_kills_total');
    const { bomb, next } = await hostile(svc(), async () => {
      const s = await createSession(svc().url, { limits: { pids: 64 } });
      const bomb = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'c', code: C_BOMB, timeoutMs, compile: { timeoutMs: 10_000 } } });
      const next = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'bash', code: 'echo alive' } });
      await svc().sessions.deleteAll();
      return { bomb, next };
    });
    expect(bomb.status, JSON.stringify(bomb.json)).toBe(200);
    const r = bomb.json;
    expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.stdout).toContain('bombing\n');
    expect(r.limits.pids).toBe(64);
    const sawPidsLimit = r.killedBy === 'pids_limit';
    const seen = { status: r.status, killedBy: r.killedBy, ended: r.session.ended, next: next.status, nextCode: next.json?.code ?? null, nextOut: next.json?.stdout ?? null };
    expect(seen).toEqual(
      sawPidsLimit
        ? { status: 'killed', killedBy: 'pids_limit', ended: true, next: 410, nextCode: 'SESSION_GONE', nextOut: null }
        : { status: 'timeout', killedBy: undefined, ended: undefined, next: 200, nextCode: null, nextOut: 'alive\n' },
    );
    expect(await counter(svc(), 'kata_exec_pids_limit_kills_total')).toBe(kills + (sawPidsLimit ? 1 : 0));
  }, 180_000);

  it('a C fork bomb with outputFiles (a one-shot run through the session launcher) is its pids limit or its deadline, never a sandbox_error', async () => {
    const timeoutMs = 15_000;
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'c', code: C_BOMB, timeoutMs, compile: { timeoutMs: 10_000 }, limits: { pids: 64 }, outputFiles: ['*.txt'] }),
    );
    expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.stdout).toContain('bombing\n');
    expect({ status: r.status, killedBy: r.killedBy }).toEqual(r.killedBy === 'pids_limit' ? { status: 'killed', killedBy: 'pids_limit' } : { status: 'timeout', killedBy: undefined });
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
