/**
 * Compiled languages and tests (issue 14) through POST /v1/execute against the real runner,
 * on every runtime of TEST_RUNTIMES: the verdicts of hello world, a compile error, a runtime
 * error, a CPU-time limit, a memory limit and a three-test submission with one wrong
 * answer, in python and C; and a compiled submission served by a warm sandbox. Every
 * assertion is on verdicts, statuses and output, never on elapsed time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { NO_LEAKS, execute, pooledRuntimes, settledLeaks, startRealService, testRuntimes, type RealService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';

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
  let svc: RealService;

  beforeAll(async () => {
    svc = await startRealService(runtime);
  });
  afterAll(async () => {
    await svc?.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });
  afterEach(async () => {
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  describe.each(LANGS)('%s', (language) => {
    const p = PROGRAMS[language];
    const compiled = language === 'c';

    it('hello world: ok, with a compile phase for a compiled language', async () => {
      const r = await execute(svc, { language, code: p.hello });
      expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'hello, world\n' });
      if (compiled) expect(r.compile).toMatchObject({ status: 'ok', exitCode: 0, signal: null });
      else expect(r.compile).toBeUndefined();
    });

    it('a program that does not build: compile_error with the compiler messages and no run (C); a SyntaxError is a runtime_error (python)', async () => {
      const r = await execute(svc, { language, code: p.broken, tests: [{ expectedOutput: 'unclosed' }, { expectedOutput: 'unclosed' }] });
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
      const r = await execute(svc, { language, code: p.crash, tests: [{ expectedOutput: 'before' }] });
      const t = r.tests![0]!;
      expect(t.verdict).toBe('runtime_error');
      expect(t.stdout).toBe('before\n');
      if (compiled) expect(t.signal).toBe('SIGABRT');
      else expect(t.stderr).toContain('ValueError: bad input');
      expect(r.verdict).toBe('runtime_error');
    });

    it('the CPU-time limit: a spinning run is time_limit, a sleeping one with the same CPU limit and a longer wall clock is accepted', async () => {
      const limits = { cpuTimeMs: 500, timeoutMs: 5000 };
      const r = await execute(svc, {
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
      const r = await execute(svc, {
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
      const r = await execute(svc, {
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

async function counter(svc: RealService, name: string): Promise<number> {
  const m = await svc.metrics.registry.getSingleMetricAsString(name);
  return m
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe.each(pooledRuntimes())('judging in a warm sandbox on %s', (runtime) => {
  let svc: RealService;

  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' });
    await waitFor('the pool to fill', () => svc.pool.readyCount === 1);
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
});
