/**
 * POST /v1/execute with `tests`, `compile` and `compare` (issue 14): what the schema refuses
 * before anything runs, and the shapes of the answers, over the fake runner.
 */
import { describe, expect, it } from 'vitest';
import { START_ALLOWANCE_MS } from '../../src/execution/plan.js';
import type { SandboxSpec, StepResult } from '../../src/sandbox/types.js';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { captured, ranSteps, stepResult } from '../fakes/fake-runner.js';
import { useTestApps } from '../helpers/test-apps.js';
import { execute, expectProblem } from '../helpers/problem.js';
import { parseSse } from '../helpers/sse.js';

const setup = useTestApps();

describe('POST /v1/execute: tests, compile and compare that the schema refuses', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown field in a test', { tests: [{ stdin: '1', expected: '1' }] }, '/tests/0/expected'],
    ['an empty tests array', { tests: [] }, '/tests'],
    ['a test timeout of 0', { tests: [{ timeoutMs: 0 }] }, '/tests/0/timeoutMs'],
    ['an unknown compare mode', { compare: { mode: 'fuzzy' } }, '/compare/mode'],
    ['a negative tolerance', { compare: { mode: 'numbers', tolerance: -1 } }, '/compare/tolerance'],
    ['a compile field that is not one', { compile: { flags: ['-O2'] } }, '/compile/flags'],
    ['a CPU-time limit of 0', { limits: { cpuTimeMs: 0 } }, '/limits/cpuTimeMs'],
  ])('%s: 400 VALIDATION_FAILED naming the field, nothing run', async (_what, extra, path) => {
    const t = await setup();
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', ...extra } });
    const p = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(p.errors?.map((e) => e.path)).toContain(path);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('more tests than the schema ever takes (256): 400 VALIDATION_FAILED at /tests', async () => {
    const t = await setup();
    const res = await execute(t.app, { language: 'python', code: 'print(1)', tests: Array.from({ length: 257 }, () => ({})) });
    expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors?.map((e) => e.path)).toContain('/tests');
    expect(t.runner.calls).toHaveLength(0);
  });

  it("a session's call takes tests and compile by the same schema: a bad one is refused, a good one reaches the session", async () => {
    const t = await setup();
    const call = (extra: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/v1/sessions/ses-0000000000000000000000/execute', payload: { language: 'c', code: 'int main(){}', ...extra } });
    expect(expectProblem(await call({ tests: [{ stdin: '', expected: '1' }] }), 400, 'VALIDATION_FAILED').errors?.map((e) => e.path)).toContain('/tests/0/expected');
    expect(expectProblem(await call({ limits: { cpuTimeMs: 0 } }), 400, 'VALIDATION_FAILED').errors?.map((e) => e.path)).toContain('/limits/cpuTimeMs');
    expectProblem(await call({ compile: { args: ['-O2'] }, limits: { cpuTimeMs: 500 }, tests: [{ stdin: '1', expectedOutput: '1' }], compare: { mode: 'tokens' } }), 404, 'SESSION_NOT_FOUND');
  });
});

// ---------------------------------------------------------------------------------------
// Requests that run: the fake runner plays the launcher, one StepResult per step.

/** A fake program run per step: its stdin doubled, as a number ("21\n" -> "42\n"). */
const doubles = (spec: SandboxSpec) =>
  ranSteps(spec.steps!.map((s) => stepResult({ stdout: `${2 * Number((s.stdin ?? Buffer.alloc(0)).toString())}\n` })));

const threeTests = [
  { stdin: '1', expectedOutput: '2' },
  { stdin: '2', expectedOutput: '5\n' },
  { stdin: '3', expectedOutput: '6\n\n' },
];

describe('POST /v1/execute with tests (interpreted language): one step per test, judged', () => {
  it('three tests, one wrong: the steps carry each stdin and the limits; verdicts, summary 2/3, overall wrong_answer', async () => {
    const t = await setup();
    t.runner.always(doubles);
    const res = await execute(t.app, { language: 'python', code: 'print(2*int(input()))', tests: threeTests, limits: { cpuTimeMs: 700 } });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json<ExecuteResult>();
    const spec = t.runner.lastSpec;
    expect(spec.steps).toHaveLength(3);
    expect(spec.steps!.map((s) => s.stdin?.toString())).toEqual(['1', '2', '3']);
    expect(spec.steps![0]).toMatchObject({
      command: ['python3', '/code/main.py'],
      wallMs: t.config.judge.testTimeoutMs,
      cpuMs: 700,
      memoryKb: t.config.limits.memoryMb.default * 1024,
      outputBytes: t.config.limits.outputBytes.default,
      required: false,
    });
    // The deadline: the tests' wall-clock limits plus the sandbox's start (gVisor here).
    expect(spec.timeoutMs).toBe(3 * t.config.judge.testTimeoutMs + START_ALLOWANCE_MS.gvisor);
    expect(r.tests!.map((x) => x.verdict)).toEqual(['accepted', 'wrong_answer', 'accepted']);
    expect(r.tests![1]).toMatchObject({ exitCode: 0, signal: null, stdout: '4\n', cpuTimeMs: 10, wallMs: 15, maxRssKb: 9000, truncated: false });
    expect(r.tests![1]!.limits).toEqual({ timeoutMs: t.config.judge.testTimeoutMs, cpuTimeMs: 700, memoryMb: t.config.limits.memoryMb.default });
    expect(r.summary).toEqual({ passed: 2, total: 3 });
    expect(r.verdict).toBe('wrong_answer');
    expect(r.status).toBe('ok');
    expect(r.compile).toBeUndefined();
    expect(r.limits).toMatchObject({ timeoutMs: spec.timeoutMs, cpuTimeMs: 700 });
    expect(r.limitsEnforced.cpuTime).toBe(true);
  });

  it('compare modes reach the judge: exact refuses the missing newline that the default accepts', async () => {
    const t = await setup();
    t.runner.always(doubles);
    const tests = [{ stdin: '1', expectedOutput: '2' }];
    const lenient = (await execute(t.app, { language: 'python', code: 'x', tests })).json<ExecuteResult>();
    const exact = (await execute(t.app, { language: 'python', code: 'x', tests, compare: { mode: 'exact' } })).json<ExecuteResult>();
    expect(lenient.verdict).toBe('accepted');
    expect(exact.verdict).toBe('wrong_answer');
  });

  it('each ending of a run gets its verdict; the overall one is the first that is not accepted', async () => {
    const t = await setup();
    t.runner.always(
      ranSteps([
        stepResult({ limit: 'cpu', exitCode: null, signal: 'SIGKILL' }),
        stepResult({ limit: 'wall', exitCode: null, signal: 'SIGKILL' }),
        stepResult({ limit: 'memory', exitCode: null, signal: 'SIGKILL' }),
        stepResult({ limit: 'oom', exitCode: 137, signal: 'SIGKILL' }),
        stepResult({ exitCode: 1, stderr: 'Traceback\n' }),
        stepResult({ exitCode: 139, signal: 'SIGSEGV' }),
        stepResult({ limit: 'output', exitCode: null, signal: 'SIGKILL' }),
        stepResult({ stdout: captured('x'.repeat(10), 5000) }),
        stepResult({ stdout: '2\n' }),
      ]),
    );
    const res = await execute(t.app, { language: 'python', code: 'x', tests: Array.from({ length: 9 }, () => ({ expectedOutput: '2' })) });
    const r = res.json<ExecuteResult>();
    expect(r.tests!.map((x) => x.verdict)).toEqual([
      'time_limit',
      'time_limit',
      'memory_limit',
      'memory_limit',
      'runtime_error',
      'runtime_error',
      'output_limit',
      'output_limit',
      'accepted',
    ]);
    expect(r.tests![4]!.stderr).toBe('Traceback\n');
    expect(r.verdict).toBe('time_limit');
    expect(r.summary).toEqual({ passed: 1, total: 9 });
  });

  it('the sandbox stopped at its deadline during the second of three tests: that one is time_limit, the third never ran', async () => {
    const t = await setup();
    t.runner.always(ranSteps([stepResult({ stdout: '2\n' }), stepResult({ exitCode: null, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 0, maxRssKb: 0 } })], { timedOut: true }));
    const r = (await execute(t.app, { language: 'python', code: 'x', tests: threeTests })).json<ExecuteResult>();
    expect(r.tests!.map((x) => x.verdict)).toEqual(['accepted', 'time_limit']);
    expect(r.tests![1]).toMatchObject({ cpuTimeMs: null, maxRssKb: null });
    expect(r.summary).toEqual({ passed: 1, total: 3 });
    expect(r.verdict).toBe('time_limit');
    expect(r.status).toBe('timeout');
  });

  it("a test is judged on all its run wrote; the answer's copy is the cap shared among the tests", async () => {
    const t = await setup();
    const long = 'a'.repeat(6000);
    t.runner.always((spec) => ranSteps(spec.steps!.map(() => stepResult({ stdout: long }))));
    const res = await execute(t.app, { language: 'python', code: 'x', limits: { outputBytes: 8192 }, tests: [0, 1, 2, 3].map(() => ({ expectedOutput: long })) });
    const r = res.json<ExecuteResult>();
    expect(r.tests!.map((x) => x.verdict)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    // 8192 / 4 tests = 2048 bytes, below the floor: 4096 of JSON each, head and tail around a marker.
    for (const x of r.tests!) {
      expect(x.truncated).toBe(true);
      expect(x.stdout.length).toBeLessThan(4096 + 64);
      expect(x.stdout).toMatch(/^a+\n…\[\d+ bytes dropped\]…\na+$/);
    }
  });

  it('a run without tests but with a CPU-time limit is one step: status from how it ended', async () => {
    const t = await setup();
    t.runner.always(ranSteps([stepResult({ limit: 'cpu', exitCode: null, signal: 'SIGKILL', stdout: 'spinning\n' })]));
    const res = await execute(t.app, { language: 'python', code: 'while True: pass', limits: { cpuTimeMs: 500 }, stdin: 'in' });
    const r = res.json<ExecuteResult>();
    const spec = t.runner.lastSpec;
    expect(spec.steps).toEqual([expect.objectContaining({ cpuMs: 500, wallMs: t.config.limits.timeoutMs.default, required: false })]);
    expect(spec.steps![0]!.stdin?.toString()).toBe('in');
    expect(spec.stdin).toBeNull();
    expect(r).toMatchObject({ status: 'timeout', stdout: 'spinning\n' });
    expect(r.tests).toBeUndefined();
    expect(r.verdict).toBeUndefined();
    expect(r.limitsEnforced.cpuTime).toBe(true);
  });

  it('without tests or a CPU-time limit an interpreted language runs as one program, no steps', async () => {
    const t = await setup();
    const r = (await execute(t.app, { language: 'python', code: 'print(1)' })).json<ExecuteResult>();
    expect(t.runner.lastSpec.steps).toBeUndefined();
    expect(r.limitsEnforced.cpuTime).toBe(false);
    expect(r.limits.cpuTimeMs).toBeUndefined();
  });

  it('streaming: each output event says which test wrote it; the result event has the verdicts', async () => {
    const t = await setup();
    t.runner.always((spec, call) => {
      spec.steps!.forEach((_s, i) => call.opts.onOutput?.('stdout', Buffer.from(`out${i}\n`), i));
      return doubles(spec);
    });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { accept: 'text/event-stream' }, payload: { language: 'python', code: 'x', tests: threeTests } });
    const events = parseSse(res.body);
    expect(events.map((e) => e.event)).toEqual(['start', 'stdout', 'stdout', 'stdout', 'result']);
    expect(events.slice(1, 4).map((e) => e.data)).toEqual([0, 1, 2].map((i) => ({ data: `out${i}\n`, phase: 'test', test: i })));
    expect((events[4]!.data as ExecuteResult).summary).toEqual({ passed: 2, total: 3 });
  });
});

describe('POST /v1/execute with tests: what is refused before anything runs', () => {
  it.each<[string, Record<string, unknown>, number, string, string]>([
    ['compile for an interpreted language', { compile: { args: ['-O2'] } }, 400, 'VALIDATION_FAILED', '/compile'],
    ['compare without tests', { compare: { mode: 'tokens' } }, 400, 'VALIDATION_FAILED', '/compare'],
    ['a tolerance outside numbers mode', { tests: [{}], compare: { mode: 'tokens', tolerance: 0.1 } }, 400, 'VALIDATION_FAILED', '/compare/tolerance'],
    ['stdin beside tests', { stdin: 'x', tests: [{}] }, 400, 'VALIDATION_FAILED', '/stdin'],
    ['a test timeout over the maximum', { tests: [{ timeoutMs: 60001 }] }, 400, 'LIMIT_EXCEEDED', '/tests/0/timeoutMs'],
    ['a test memory over the maximum', { tests: [{ memoryMb: 4096 }] }, 400, 'LIMIT_EXCEEDED', '/tests/0/memoryMb'],
    ['tests whose wall-clock limits add up past the maximum timeout', { tests: [{ timeoutMs: 40000 }, { timeoutMs: 30000 }] }, 422, 'TIME_BUDGET_EXCEEDED', '/tests'],
    ['tests that do not fit the timeout asked for', { timeoutMs: 3000, tests: [{}, {}] }, 422, 'TIME_BUDGET_EXCEEDED', '/timeoutMs'],
    ['tests whose output could never fit the memory budget', { limits: { outputBytes: 16777216 }, tests: Array.from({ length: 8 }, () => ({ timeoutMs: 100 })) }, 400, 'LIMIT_EXCEEDED', '/limits/outputBytes'],
  ])('%s: %i %s', async (_what, extra, status, code, path) => {
    const t = await setup();
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', ...extra } });
    const p = expectProblem(res, status, code);
    expect(p.errors?.map((e) => e.path)).toContain(path);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('more tests than KATA_EXEC_MAX_TESTS: 400 LIMIT_EXCEEDED naming the setting', async () => {
    const t = await setup({ env: { KATA_EXEC_MAX_TESTS: '2' } });
    const res = await execute(t.app, { language: 'python', code: 'x', tests: [{}, {}, {}] });
    const p = expectProblem(res, 400, 'LIMIT_EXCEEDED');
    expect(p.errors).toEqual([{ path: '/tests', message: expect.stringContaining('KATA_EXEC_MAX_TESTS') }]);
    expect((await execute(t.app, { language: 'python', code: 'x', tests: [{}, {}] })).statusCode).toBe(200);
  });
});

describe('POST /v1/execute with a compiled language (c)', () => {
  const C_CODE = '#include <stdio.h>\nint main(){int a;scanf("%d",&a);printf("%d\\n",2*a);}';

  it('without tests: a compile step, then one run; the answer has `compile` and the run\'s fields', async () => {
    const t = await setup();
    t.runner.always(ranSteps([stepResult({ stderr: 'main.c:1: warning: unused\n', wallMs: 300 }), stepResult({ stdout: '42\n' })]));
    const res = await execute(t.app, { language: 'c', code: C_CODE, stdin: '21', compile: { args: ['-DX'] } });
    const r = res.json<ExecuteResult>();
    const spec = t.runner.lastSpec;
    expect(spec.steps!.map((s) => [s.command, s.required])).toEqual([
      [['gcc', '-O2', '-std=gnu17', '-DX', '-o', '/code/main', '/code/main.c', '-lm'], true],
      [['/code/main'], false],
    ]);
    expect(spec.steps![1]!.stdin?.toString()).toBe('21');
    expect(spec.resources.memoryBytes).toBe(t.config.judge.compile.memoryMb * 1024 * 1024);
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n' });
    expect(r.compile).toEqual({
      status: 'ok',
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: 'main.c:1: warning: unused\n',
      truncated: false,
      usage: { cpuUserMs: 8, cpuSysMs: 2, maxRssKb: 9000 },
      durationMs: 300,
    });
    expect(r.limits.compile).toEqual(t.config.judge.compile);
    expect(r.tests).toBeUndefined();
  });

  it('a compile error: status compile_error, the messages in compile.stderr, no run, every test not passed', async () => {
    const t = await setup();
    t.runner.always(ranSteps([stepResult({ exitCode: 1, stderr: "main.c:1:1: error: expected ';'\n" })]));
    const res = await execute(t.app, { language: 'c', code: 'int main(){', tests: [{ expectedOutput: '1' }, { expectedOutput: '2' }] });
    const r = res.json<ExecuteResult>();
    expect(r.status).toBe('compile_error');
    expect(r.compile).toMatchObject({ status: 'error', exitCode: 1 });
    expect(r.compile!.stderr).toContain('error: expected');
    expect(r.tests).toEqual([]);
    expect(r.verdict).toBe('compile_error');
    expect(r.summary).toEqual({ passed: 0, total: 2 });
    expect(r.value).toBeUndefined();
  });

  it.each<[string, Partial<Omit<StepResult, 'stdout' | 'stderr'>>, string]>([
    ['its wall clock', { limit: 'wall', exitCode: null, signal: 'SIGKILL' }, 'timeout'],
    ['its memory', { limit: 'memory', exitCode: null, signal: 'SIGKILL' }, 'oom'],
    ['its output', { limit: 'output', exitCode: null, signal: 'SIGKILL' }, 'output_limit'],
    ['a signal', { exitCode: 139, signal: 'SIGSEGV' }, 'error'],
  ])('a compile ended by %s: compile.status %s and status compile_error', async (_what, end, status) => {
    const t = await setup();
    t.runner.always(ranSteps([stepResult(end)]));
    const r = (await execute(t.app, { language: 'c', code: 'x' })).json<ExecuteResult>();
    expect(r.compile!.status).toBe(status);
    expect(r.status).toBe('compile_error');
  });

  it('three tests after the compile: the compile is step 0, each test a step with its stdin; streamed output says compile, then test i', async () => {
    const t = await setup();
    t.runner.always((spec, call) => {
      call.opts.onOutput?.('stderr', Buffer.from('warning\n'), 0);
      call.opts.onOutput?.('stdout', Buffer.from('2\n'), 1);
      return ranSteps([stepResult({ stderr: 'warning\n' }), ...spec.steps!.slice(1).map((s) => stepResult({ stdout: `${2 * Number(s.stdin!.toString())}\n` }))]);
    });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { accept: 'text/event-stream' }, payload: { language: 'c', code: C_CODE, tests: threeTests } });
    const events = parseSse(res.body);
    expect(events.slice(1, 3).map((e) => [e.event, e.data])).toEqual([
      ['stderr', { data: 'warning\n', phase: 'compile' }],
      ['stdout', { data: '2\n', phase: 'test', test: 0 }],
    ]);
    const r = events.at(-1)!.data as ExecuteResult;
    expect(t.runner.lastSpec.steps).toHaveLength(4);
    expect(r.compile!.status).toBe('ok');
    expect(r.tests!.map((x) => x.verdict)).toEqual(['accepted', 'wrong_answer', 'accepted']);
    expect(r.summary).toEqual({ passed: 2, total: 3 });
    expect(r.verdict).toBe('wrong_answer');
  });

});
