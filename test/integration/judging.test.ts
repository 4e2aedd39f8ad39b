/**
 * Compiled languages and tests (issue 14) through POST /v1/execute against the real runner,
 * on every runtime of TEST_RUNTIMES: the verdicts of hello world, a compile error, a runtime
 * error, a CPU-time limit, a memory limit and a three-test submission with one wrong
 * answer, in python and C; and a compiled submission served by a warm sandbox. Every
 * assertion is on verdicts, statuses and output, never on elapsed time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findLanguage } from '../../src/execution/languages.js';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { counter, execute, NO_LEAKS, pooledRuntimes, type RealService, settledLeaks, startRealService, testRuntimes, useService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { JUDGE_PROGRAMS } from '../helpers/judge-programs.js';

/** One program per language for each case; `stdin` picks what it does where a case needs two behaviours. */
const PROGRAMS = {
  python: {
    hello: 'print("hello, world")',
    double: 'print(2 * int(input()))',
    broken: 'print("unclosed"',
    crash: 'import sys\nprint("before")\nsys.stdout.flush()\nraise ValueError("bad input")',
    spinOrSleep: 'import time\nif input() == "spin":\n    while True: pass\ntime.sleep(1.5)\nprint("slept")',
    hog: 'b = b"x" * (200 * 1024 * 1024)\nprint(len(b))',
  },
  c: {
    hello: '#include <stdio.h>\nint main(void){puts("hello, world");return 0;}',
    double: '#include <stdio.h>\nint main(void){long a;if(scanf("%ld",&a)!=1)return 2;printf("%ld\\n",2*a);return 0;}',
    broken: '#include <stdio.h>\nint main(void){puts("unclosed")\n}',
    crash: '#include <stdio.h>\n#include <stdlib.h>\nint main(void){puts("before");fflush(stdout);abort();}',
    spinOrSleep:
      '#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){char w[16]={0};if(scanf("%15s",w)!=1)return 2;if(!strcmp(w,"spin")){volatile unsigned long n=0;for(;;)n++;}sleep(1);usleep(500000);puts("slept");return 0;}',
    // Every page written through a volatile pointer: gcc -O2 may drop a malloc and memset whose bytes are never read.
    hog: '#include <stdio.h>\n#include <stdlib.h>\nint main(void){size_t n=200u<<20;volatile char*p=malloc(n);if(!p)return 3;for(size_t i=0;i<n;i+=4096)p[i]=1;printf("%zu\\n",n);return 0;}',
  },
} as const;

type Lang = keyof typeof PROGRAMS;
const LANGS: Lang[] = ['python', 'c'];

describe.each(testRuntimes())('judging on %s', (runtime) => {
  const svc = useService(runtime, {}, { leaksEach: true });

  describe.each(LANGS)('%s', (language) => {
    const p = PROGRAMS[language];
    const compiled = language === 'c';

    it('hello world: ok, with a compile phase for a compiled language', async () => {
      const r = await execute(svc(), { language, code: p.hello });
      expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'hello, world\n' });
      if (compiled) expect(r.compile).toMatchObject({ status: 'ok', exitCode: 0, signal: null });
      else expect(r.compile).toBeUndefined();
    });

    it('a program that does not build: compile_error with the compiler messages and no run (C); a SyntaxError is a runtime_error (python)', async () => {
      const r = await execute(svc(), { language, code: p.broken, tests: [{ expectedOutput: 'unclosed' }, { expectedOutput: 'unclosed' }] });
      if (compiled) {
        expect(r.status).toBe('compile_error');
        expect(r.compile).toMatchObject({ status: 'error', exitCode: 1 });
        expect(r.compile!.stderr).toMatch(/error/);
        expect(r.compile!.stderr).toContain('main.c');
        expect(r.tests).toEqual([]);
        expect(r.verdict).toBe('compile_error');
      } else {
        expect(r.tests!.map((t) => t.verdict)).toEqual(['runtime_error', 'runtime_error']);
        expect(r.tests![0]!.stderr).toContain('SyntaxError');
        expect(r.verdict).toBe('runtime_error');
      }
      expect(r.summary).toEqual({ passed: 0, total: 2 });
    });

    it('a runtime error: runtime_error, what it printed before, its error', async () => {
      const r = await execute(svc(), { language, code: p.crash, tests: [{ expectedOutput: 'before' }] });
      const t = r.tests![0]!;
      expect(t.verdict).toBe('runtime_error');
      expect(t.stdout).toBe('before\n');
      if (compiled) expect(t.signal).toBe('SIGABRT');
      else expect(t.stderr).toContain('ValueError: bad input');
      expect(r.verdict).toBe('runtime_error');
    });

    it('the CPU-time limit: a spinning run is time_limit, a sleeping one with the same CPU limit and a longer wall clock is accepted', async () => {
      const limits = { cpuTimeMs: 500, timeoutMs: 5000 };
      const r = await execute(svc(), {
        language,
        code: p.spinOrSleep,
        tests: [
          { stdin: 'spin', expectedOutput: 'slept', ...limits },
          { stdin: 'sleep', expectedOutput: 'slept', ...limits },
        ],
      });
      expect(r.tests!.map((t) => t.verdict)).toEqual(['time_limit', 'accepted']);
      expect(r.tests![0]!.limits).toEqual({ timeoutMs: 5000, cpuTimeMs: 500, memoryMb: r.tests![0]!.limits.memoryMb });
      expect(r.tests![1]!.stdout).toBe('slept\n');
      expect(r.limitsEnforced.cpuTime).toBe(true);
      expect(r.summary).toEqual({ passed: 1, total: 2 });
    });

    it('a memory limit: a run past its memoryMb is memory_limit, the same program with room is accepted', async () => {
      const r = await execute(svc(), {
        language,
        code: p.hog,
        limits: { memoryMb: 512 },
        tests: [
          { memoryMb: 64, expectedOutput: String(200 * 1024 * 1024) },
          { memoryMb: 400, expectedOutput: String(200 * 1024 * 1024) },
        ],
      });
      expect(r.tests!.map((t) => t.verdict)).toEqual(['memory_limit', 'accepted']);
      expect(r.verdict).toBe('memory_limit');
    });

    it('three tests, one wrong answer: accepted, wrong_answer, accepted; summary 2/3; overall wrong_answer', async () => {
      const r = await execute(svc(), {
        language,
        code: p.double,
        tests: [
          { stdin: '21\n', expectedOutput: '42\n' },
          { stdin: '5', expectedOutput: '11' },
          { stdin: '-4', expectedOutput: '-8' },
        ],
      });
      expect(r.tests!.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer', 'accepted']);
      expect(r.tests!.map((t) => t.stdout)).toEqual(['42\n', '10\n', '-8\n']);
      expect(r.summary).toEqual({ passed: 2, total: 3 });
      expect(r.verdict).toBe('wrong_answer');
      expect(r.status).toBe('ok');
      if (compiled) expect(r.compile!.status).toBe('ok');
      for (const t of r.tests!) {
        expect(t.exitCode).toBe(0);
        expect(t.maxRssKb).toBeGreaterThan(0);
      }
    });
  });
});

describe.each(pooledRuntimes())('judging in a warm sandbox on %s', (runtime) => {
  let svc: RealService;

  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard,standard:compiled' });
  });
  beforeEach(async () => {
    // One sandbox of each class: the profile's defaults, and a compiled language's (the compile's 512 MiB).
    await waitFor('the pool to fill', () => svc.pool.readyCount === 2);
  });
  afterAll(async () => {
    await svc?.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  it('a C submission whose limits match the pool (compile.memoryMb within limits.memoryMb) is compiled and judged in a warm sandbox', async () => {
    const hits = await counter(svc, 'kata_exec_pool_hits_total');
    const r: ExecuteResult = await execute(svc, {
      language: 'c',
      code: PROGRAMS.c.double,
      compile: { memoryMb: 256 },
      tests: [
        { stdin: '1', expectedOutput: '2' },
        { stdin: '2', expectedOutput: '5' },
      ],
    });
    expect(await counter(svc, 'kata_exec_pool_hits_total'), 'served by the pool').toBe(hits + 1);
    expect(r.sandboxId).not.toBe(r.id);
    expect(r.compile!.status).toBe('ok');
    expect(r.tests!.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
    expect(r.summary).toEqual({ passed: 1, total: 2 });
  });

  it('a C submission with no limits at all (a judge site\'s defaults) is a pool hit, and each test keeps its own memory limit', async () => {
    const hits = await counter(svc, 'kata_exec_pool_hits_total', 'class="compiled"');
    const unmatched = await counter(svc, 'kata_exec_pool_unmatched_total');
    const hog = String(200 * 1024 * 1024);
    const r: ExecuteResult = await execute(svc, {
      language: 'c',
      code: PROGRAMS.c.hog,
      tests: [{ memoryMb: 64, expectedOutput: hog }, { expectedOutput: hog }, { expectedOutput: '1' }],
    });
    expect(await counter(svc, 'kata_exec_pool_hits_total', 'class="compiled"'), 'served by the compiled class').toBe(hits + 1);
    expect(await counter(svc, 'kata_exec_pool_unmatched_total')).toBe(unmatched);
    expect(r.sandboxId).not.toBe(r.id);
    expect(r.limits.memoryMb).toBe(512);
    expect(r.compile!.status).toBe('ok');
    expect(r.tests!.map((t) => [t.verdict, t.limits.memoryMb])).toEqual([
      ['memory_limit', 64],
      ['accepted', 256],
      ['wrong_answer', 256],
    ]);
    expect(r.verdict).toBe('memory_limit');
  });
});

/**
 * Every language of the full image (test/helpers/judge-programs.ts): six tests cover every
 * verdict; a source that does not build is a compile_error (compiled languages) or a
 * runtime_error (interpreted ones).
 */
describe.each(testRuntimes())('every language judged on %s', (runtime) => {
  const svc = useService(runtime);

  it.each(Object.keys(JUDGE_PROGRAMS))('%s: accepted, wrong_answer, runtime_error, time_limit, accepted (sleeping), memory_limit', async (language) => {
    const compiled = findLanguage(language)!.compile !== undefined;
    const r = await execute(svc(), {
      language,
      code: JUDGE_PROGRAMS[language]!.judge,
      // Room for the JVM's heap; each test has its own limits below. gVisor compiles slowly on a shared host.
      limits: { memoryMb: 1024, cpuTimeMs: 3000 },
      ...(compiled ? { compile: { timeoutMs: 34_000 } } : {}),
      tests: [
        { stdin: 'double 21', expectedOutput: '42', timeoutMs: 4000 },
        { stdin: 'double 5', expectedOutput: '11', timeoutMs: 4000 },
        { stdin: 'crash', timeoutMs: 4000 },
        { stdin: 'spin', timeoutMs: 4000 },
        { stdin: 'sleep', expectedOutput: 'slept', timeoutMs: 4000 },
        { stdin: 'hog', memoryMb: 64, timeoutMs: 4000 },
      ],
    });
    if (compiled) expect(r.compile, `${language}: ${r.compile?.stderr}`).toMatchObject({ status: 'ok' });
    expect(
      r.tests!.map((t) => t.verdict),
      `${language}: ${JSON.stringify(r.tests!.map((t) => [t.exitCode, t.signal, t.stderr.slice(0, 200)]))}`,
    ).toEqual(['accepted', 'wrong_answer', 'runtime_error', 'time_limit', 'accepted', 'memory_limit']);
    expect(r.summary).toEqual({ passed: 2, total: 6 });
    expect(r.verdict).toBe('wrong_answer');
  });

  it.each(Object.keys(JUDGE_PROGRAMS))('%s: a source that does not build is compile_error (compiled) or runtime_error (interpreted), never run twice', async (language) => {
    const compiled = findLanguage(language)!.compile !== undefined;
    const r = await execute(svc(), { language, code: JUDGE_PROGRAMS[language]!.broken, ...(compiled ? { compile: { timeoutMs: 50_000 } } : {}), tests: [{ expectedOutput: '1' }] });
    if (compiled) {
      expect(r).toMatchObject({ status: 'compile_error', verdict: 'compile_error', tests: [] });
      expect(r.compile!.status).toBe('error');
      expect(r.compile!.stderr.length + r.compile!.stdout.length).toBeGreaterThan(0);
    } else {
      expect(r.tests!.map((t) => t.verdict)).toEqual(['runtime_error']);
      expect(r.verdict).toBe('runtime_error');
    }
    expect(r.summary).toEqual({ passed: 0, total: 1 });
  });
});
