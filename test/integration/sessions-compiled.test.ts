/**
 * Compiled languages and tests in a session (issue 14), against the real containerd on every
 * test runtime: a C program compiled in the session's sandbox and run there, what it wrote
 * (its binary too) there for the next call; a compile error; tests judged in the session,
 * each with its own limits, beside a background process that neither counts in a test's CPU
 * time nor is ended by its limits; a compiled call cut at its deadline, the session alive
 * after it. Assertions are on statuses, verdicts and output, never on elapsed time.
 */
import { describe, expect, it } from 'vitest';
import { testRuntimes, useService } from '../helpers/real-service.js';
import { call, createSession, sessionExec } from '../helpers/sessions.js';

const WRITER = '#include <stdio.h>\nint main(void){FILE*f=fopen("out.txt","w");if(!f)return 3;fputs("written by C\\n",f);fclose(f);puts("hello from C");return 0;}\n';

/** Reads a command on stdin: double N, spin, sleep, hog (200 MiB touched). */
const JUDGE =
  '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){char c[16]={0};long n=0;if(scanf("%15s",c)!=1)return 2;\nif(!strcmp(c,"double")){if(scanf("%ld",&n)!=1)return 2;printf("%ld\\n",2*n);}\nelse if(!strcmp(c,"spin")){volatile unsigned long i=0;for(;;)i++;}\nelse if(!strcmp(c,"sleep")){usleep(1500000);puts("slept");}\nelse if(!strcmp(c,"hog")){size_t m=200u<<20;volatile char*p=malloc(m);if(!p)return 3;for(size_t i=0;i<m;i+=4096)p[i]=1;puts("hogged");}\nreturn 0;}\n';

describe.each(testRuntimes())('compiled languages and tests in a session on %s', (runtime) => {
  // A failed test leaves no session to the next one's limits.
  const svc = useService(runtime, {}, { sessionsEach: true });

  it('compiles C in the session and runs it; what it wrote, its binary too, is there for the next call', async () => {
    const s = await createSession(svc().url, { limits: { memoryMb: 256 } });
    const r = await sessionExec(svc().url, s.id, { language: 'c', code: WRITER });
    expect(r, r.compile?.stderr).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'hello from C\n', sandboxId: s.id, session: { id: s.id } });
    expect(r.compile).toMatchObject({ status: 'ok', exitCode: 0, signal: null });
    // The compile's memory is at most the session's; the sandbox's is the session's.
    expect(r.limits).toMatchObject({ memoryMb: 256, compile: { memoryMb: 256 } });

    const next = await sessionExec(svc().url, s.id, { language: 'bash', code: 'cat out.txt; test -x main && echo binary kept' });
    expect(next).toMatchObject({ status: 'ok', stdout: 'written by C\nbinary kept\n' });
    const file = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/out.txt`);
    expect(file.body.toString('utf8')).toBe('written by C\n');

    // A compile that asks for more memory than the session has is refused before anything runs.
    const over = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'c', code: WRITER, compile: { memoryMb: 512 } } });
    expect(over.status).toBe(400);
    expect(over.json).toMatchObject({ code: 'LIMIT_EXCEEDED', errors: [{ path: '/compile/memoryMb' }] });
  });

  it("a compile error: compile_error with the compiler's messages and no run; the session serves the next call", async () => {
    const s = await createSession(svc().url, {});
    const r = await sessionExec(svc().url, s.id, { language: 'c', code: 'int main(void){ return }\n', tests: [{ expectedOutput: '1' }] });
    expect(r).toMatchObject({ status: 'compile_error', verdict: 'compile_error', tests: [], summary: { passed: 0, total: 1 } });
    expect(r.compile).toMatchObject({ status: 'error', exitCode: 1 });
    expect(r.compile.stderr).toContain('main.c');
    expect(r.stdout).toBe('');
    const after = await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo alive' });
    expect(after).toMatchObject({ status: 'ok', stdout: 'alive\n' });
  });

  it("judges tests in the session, each with its own limits, beside a background process that neither counts nor is ended", async () => {
    const s = await createSession(svc().url, { limits: { memoryMb: 256 } });
    const bg = await call(svc().url, 'POST', `/v1/sessions/${s.id}/processes`, { json: { language: 'bash', code: 'while :; do :; done' } });
    expect(bg.status, JSON.stringify(bg.json)).toBe(201);

    const r = await sessionExec(svc().url, s.id, {
      language: 'c',
      code: JUDGE,
      limits: { cpuTimeMs: 500 },
      tests: [
        { stdin: 'double 21', expectedOutput: '42' },
        { stdin: 'double 5', expectedOutput: '11' },
        { stdin: 'spin', timeoutMs: 5000 },
        // A spinning background process shares the CPU: its time is not this test's.
        { stdin: 'sleep', expectedOutput: 'slept', timeoutMs: 5000 },
        { stdin: 'hog', memoryMb: 64 },
      ],
    });
    expect(r.compile, r.compile?.stderr).toMatchObject({ status: 'ok' });
    expect(
      r.tests.map((t: any) => t.verdict),
      JSON.stringify(r.tests.map((t: any) => [t.exitCode, t.signal, t.cpuTimeMs, t.maxRssKb, t.stderr.slice(0, 200)])),
    ).toEqual(['accepted', 'wrong_answer', 'time_limit', 'accepted', 'memory_limit']);
    expect(r.tests.map((t: any) => t.limits)).toEqual([
      { timeoutMs: 2000, cpuTimeMs: 500, memoryMb: 256 },
      { timeoutMs: 2000, cpuTimeMs: 500, memoryMb: 256 },
      { timeoutMs: 5000, cpuTimeMs: 500, memoryMb: 256 },
      { timeoutMs: 5000, cpuTimeMs: 500, memoryMb: 256 },
      { timeoutMs: 2000, cpuTimeMs: 500, memoryMb: 64 },
    ]);
    expect(r.summary).toEqual({ passed: 2, total: 5 });
    expect(r.verdict).toBe('wrong_answer');
    expect(r.limitsEnforced.cpuTime).toBe(true);

    const procs = await call(svc().url, 'GET', `/v1/sessions/${s.id}/processes`);
    expect(procs.json.processes).toEqual([expect.objectContaining({ id: bg.json.id, running: true })]);
  });

  it('a compiled call cut at its deadline is a timeout, and the session lives on', async () => {
    const s = await createSession(svc().url, {});
    const r = await sessionExec(svc().url, s.id, {
      language: 'c',
      code: '#include <stdio.h>\n#include <unistd.h>\nint main(void){puts("before");fflush(stdout);sleep(60);return 0;}\n',
      // The compile must fit in the timeout; the run gets what is left of it.
      compile: { timeoutMs: 3000 },
      timeoutMs: 6000,
    });
    expect(r.compile, r.compile?.stderr).toMatchObject({ status: 'ok' });
    expect(r).toMatchObject({ status: 'timeout', stdout: 'before\n' });
    const after = await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo alive' });
    expect(after).toMatchObject({ status: 'ok', stdout: 'alive\n' });
  });
});
