/** A request with a compile phase or tests becomes the sandbox's steps (src/execution/plan.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ErrorCode, type KataExecError } from '../../src/errors.js';
import { answerBytesPerTest, MIN_TEST_ANSWER_BYTES, planSteps, START_ALLOWANCE_MS, stepsWorstCaseBytes, testsFit, type PlanInput, type PlanLanguage } from '../../src/execution/plan.js';
import type { ExecuteRequest } from '../../src/schemas/execute.js';

const config = loadConfig({});
const j = config.judge;

/** A compiled language as languages.ts defines one (its compile argv takes the extra arguments). */
const C: PlanLanguage = {
  name: 'c',
  compile: { command: (f, extra) => ['gcc', '-O2', ...extra, '-o', '/code/main', f, '-lm'], env: ['TMPDIR=/tmp'] },
  command: () => ['/code/main'],
};
const PY: PlanLanguage = { name: 'python', command: (f) => ['python3', f] };

function input(req: Partial<ExecuteRequest>, lang: PlanLanguage = C, over: Partial<PlanInput> = {}): PlanInput {
  return {
    req: { language: lang.name, code: 'x', ...req },
    lang,
    entryPath: lang === C ? '/code/main.c' : '/code/main.py',
    args: ['a1'],
    memoryMb: 256,
    outputBytes: 65536,
    timeoutMs: config.limits.timeoutMs.default,
    config,
    runtime: 'gvisor',
    ...over,
  };
}

function thrown(f: () => unknown): KataExecError {
  try {
    f();
  } catch (e) {
    return e as KataExecError;
  }
  throw new Error('did not throw');
}

describe('planSteps: a compiled language', () => {
  it('without tests: a required compile step with the default compile limits, then one run with the stdin and the execution timeout', () => {
    const p = planSteps(input({ stdin: 'in', compile: { args: ['-DX=1'] } }));
    expect(p.steps).toHaveLength(2);
    expect(p.steps[0]).toEqual({
      command: ['gcc', '-O2', '-DX=1', '-o', '/code/main', '/code/main.c', '-lm'],
      env: ['TMPDIR=/tmp'],
      stdin: null,
      wallMs: j.compile.timeoutMs,
      cpuMs: null,
      memoryKb: j.compile.memoryMb * 1024,
      outputBytes: j.compile.outputBytes,
      required: true,
    });
    expect(p.steps[1]).toMatchObject({ command: ['/code/main', 'a1'], wallMs: config.limits.timeoutMs.default, cpuMs: null, memoryKb: 256 * 1024, outputBytes: 65536, required: false });
    expect(p.steps[1]!.stdin?.toString()).toBe('in');
    expect(p.tests).toBeNull();
    // The sandbox holds the compiler: the larger of the two memories.
    expect(p.memoryMb).toBe(Math.max(256, j.compile.memoryMb));
    expect(p.timeoutMs).toBe(Math.min(j.compile.timeoutMs + config.limits.timeoutMs.default + START_ALLOWANCE_MS.gvisor, config.limits.timeoutMs.max));
  });

  it("the request's compile limits replace the defaults; tests each get their own step after the compile", () => {
    const p = planSteps(
      input({ compile: { timeoutMs: 5000, memoryMb: 128, outputBytes: 2048 }, tests: [{ stdin: '1', timeoutMs: 1000, cpuTimeMs: 500, memoryMb: 64 }, { stdin: '2' }], limits: { cpuTimeMs: 300 } }),
    );
    expect(p.compile).toEqual({ timeoutMs: 5000, memoryMb: 128, outputBytes: 2048 });
    expect(p.steps.map((s) => [s.required, s.wallMs, s.cpuMs, s.memoryKb, s.stdin?.toString() ?? null])).toEqual([
      [true, 5000, null, 128 * 1024, null],
      [false, 1000, 500, 64 * 1024, '1'],
      [false, j.testTimeoutMs, 300, 256 * 1024, '2'],
    ]);
    expect(p.memoryMb).toBe(256);
    expect(p.timeoutMs).toBe(5000 + 1000 + j.testTimeoutMs + START_ALLOWANCE_MS.gvisor);
  });

  it('a timeout asked for is the deadline; a compile that cannot fit in it is 422 TIME_BUDGET_EXCEEDED', () => {
    expect(planSteps(input({ timeoutMs: 40000 })).timeoutMs).toBe(40000);
    const e = thrown(() => planSteps(input({ timeoutMs: 5000, compile: { timeoutMs: 6000 } })));
    expect(e.code).toBe(ErrorCode.TimeBudgetExceeded);
    expect(e.message).toContain("the compile's 6000 ms");
    expect(e.fields).toEqual([{ path: '/timeoutMs', message: expect.stringContaining('6000') }]);
  });

  it('compile and tests that add up past the maximum timeout: 422, the message gives the figures', () => {
    const e = thrown(() => planSteps(input({ tests: Array.from({ length: 20 }, () => ({})) })));
    expect(e.code).toBe(ErrorCode.TimeBudgetExceeded);
    expect(e.message).toContain(`20 tests' ${20 * j.testTimeoutMs} ms`);
    expect(e.message).toContain('KATA_EXEC_TIMEOUT_MS_MAX');
  });

  it('compile limits over the server maxima: 400 LIMIT_EXCEEDED for each', () => {
    const e = thrown(() => planSteps(input({ compile: { timeoutMs: 10 ** 7, memoryMb: 10 ** 6, outputBytes: 10 ** 9 } })));
    expect(e.code).toBe(ErrorCode.LimitExceeded);
    expect(e.fields!.map((f) => f.path)).toEqual(['/compile/timeoutMs', '/compile/memoryMb', '/compile/outputBytes']);
  });

  it('defaults above a lowered maximum are capped by it, as limits are', () => {
    const low = loadConfig({ KATA_EXEC_MEMORY_MB_MAX: '300', KATA_EXEC_TIMEOUT_MS_MAX: '20000', KATA_EXEC_TIMEOUT_MS_DEFAULT: '5000' });
    const p = planSteps(input({}, C, { config: low, timeoutMs: 5000 }));
    expect(p.compile).toMatchObject({ timeoutMs: 20000, memoryMb: 300 });
    expect(p.timeoutMs).toBe(20000);
  });
});

describe('planSteps: an interpreted language', () => {
  it('with tests: one run per test, no compile', () => {
    const p = planSteps(input({ tests: [{ stdin: 'a', expectedOutput: 'b' }] }, PY));
    expect(p.compile).toBeNull();
    expect(p.steps).toEqual([expect.objectContaining({ command: ['python3', '/code/main.py', 'a1'], required: false })]);
    expect(p.tests).toEqual([{ expectedOutput: 'b', timeoutMs: j.testTimeoutMs, cpuTimeMs: null, memoryMb: 256 }]);
    expect(p.compare).toEqual({ mode: 'trailing_whitespace' });
  });

  it('compile options are refused: python has no compile', () => {
    const e = thrown(() => planSteps(input({ compile: { args: ['-O'] } }, PY)));
    expect(e.code).toBe(ErrorCode.ValidationFailed);
    expect(e.fields).toEqual([{ path: '/compile', message: 'python is not a compiled language' }]);
  });
});

describe('answerBytesPerTest', () => {
  it('shares the cap among the tests, never under the floor nor over the cap', () => {
    expect(answerBytesPerTest(1048576, 1)).toBe(1048576);
    expect(answerBytesPerTest(1048576, 4)).toBe(262144);
    expect(answerBytesPerTest(1048576, 1024)).toBe(MIN_TEST_ANSWER_BYTES);
    expect(answerBytesPerTest(1024, 64)).toBe(1024);
  });
});

describe('testsFit', () => {
  it('says of a request with tests what planSteps and the memory check decide for its size', () => {
    const cfg = loadConfig({ KATA_EXEC_MAX_TESTS: '40', KATA_EXEC_MEMORY_BUDGET_MB: '128', KATA_EXEC_OUTPUT_BYTES_MAX: '1048576' });
    const outputBytes = cfg.limits.outputBytes.default;
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.option(fc.integer({ min: 1, max: 30000 }), { nil: undefined }), { minLength: 1, maxLength: 50 }),
        fc.option(fc.integer({ min: 1, max: 60000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 60000 }), { nil: undefined }),
        (compiled, timeouts, compileMs, timeoutMs) => {
          const req: ExecuteRequest = {
            language: compiled ? 'c' : 'python',
            code: 'x',
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            ...(compiled && compileMs !== undefined ? { compile: { timeoutMs: compileMs } } : {}),
            tests: timeouts.map((t) => (t === undefined ? {} : { timeoutMs: t })),
          };
          let taken: boolean;
          try {
            const p = planSteps(input(req, compiled ? C : PY, { config: cfg, outputBytes }));
            taken = stepsWorstCaseBytes(outputBytes, p.steps) <= cfg.memoryBudgetBytes;
          } catch (e) {
            const code = (e as KataExecError).code;
            if (code !== ErrorCode.TimeBudgetExceeded && code !== ErrorCode.LimitExceeded) throw e;
            taken = false;
          }
          expect(testsFit(req, compiled, cfg)).toBe(taken);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("planSteps: in a session's sandbox, whose memory is fixed", () => {
  const inSession = (req: Partial<ExecuteRequest>, lang: PlanLanguage = C) => input(req, lang, { memoryMb: 256, fixedMemoryMb: 256 });

  it("the compile's memory defaults to at most the session's, and the sandbox's memory stays the session's", () => {
    const p = planSteps(inSession({ tests: [{ memoryMb: 64 }, {}] }));
    expect(p.compile!.memoryMb).toBe(256);
    expect(p.steps.map((s) => s.memoryKb)).toEqual([256 * 1024, 64 * 1024, 256 * 1024]);
    expect(p.memoryMb).toBe(256);
    // A smaller compile default stays as it is.
    const small = planSteps(input({}, C, { memoryMb: 1024, fixedMemoryMb: 1024 }));
    expect(small.compile!.memoryMb).toBe(j.compile.memoryMb);
    expect(small.memoryMb).toBe(1024);
  });

  it("a compile or a test that asks for more memory than the session has: 400 LIMIT_EXCEEDED at each, naming the session's", () => {
    const e = thrown(() => planSteps(inSession({ compile: { memoryMb: 300 }, tests: [{ memoryMb: 100 }, { memoryMb: 257 }] })));
    expect(e.code).toBe(ErrorCode.LimitExceeded);
    expect(e.fields).toEqual([
      { path: '/compile/memoryMb', message: "must be at most 256 (the session's memoryMb)" },
      { path: '/tests/1/memoryMb', message: "must be at most 256 (the session's memoryMb)" },
    ]);
  });

  it('past the server maximum, one error per field (the maximum)', () => {
    const e = thrown(() => planSteps(inSession({ tests: [{ memoryMb: config.limits.memoryMb.max + 1 }] })));
    expect(e.fields).toEqual([{ path: '/tests/0/memoryMb', message: `must be at most ${config.limits.memoryMb.max} (KATA_EXEC_MEMORY_MB_MAX)` }]);
  });
});
