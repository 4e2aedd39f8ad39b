/**
 * /judge0 over app.inject: the real routes, queue, quotas and audit, with the executor's
 * run replaced by scripted results (the fake runner does not judge tests). Requests and
 * answers follow Judge0 CE's documentation: "Create a Submission"
 * (docs/api/submissions/create_a_submission.md in github.com/judge0/judge0, served at
 * https://ce.judge0.com/#submissions-submission-post), "List All Statuses" and "Get a Language".
 */
import { describe, expect, it, vi } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { Prepared } from '../../src/execution/executor.js';
import type { JudgeRequest, JudgeResult, TestOutcome } from '../../src/judge0/mapping.js';
import { ranSteps, sandboxResult, stepResult } from '../fakes/fake-runner.js';
import type { SandboxResult, SandboxSpec, StepResult } from '../../src/sandbox/types.js';
import { useTestApps } from '../helpers/test-apps.js';
import type { TestApp, TestAppOptions } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem as expectProblemBody } from '../helpers/problem.js';

const setup = useTestApps();

/** A problem body (that leaks nothing) with Judge0's `error` beside `detail`. */
function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  const p = expectProblemBody(res, status, code) as ReturnType<typeof expectProblemBody> & { error: string };
  expect(p.error).toBe(p.detail);
  return p;
}

type Script = (req: JudgeRequest, call: number) => Partial<JudgeResult>;

/**
 * A test app whose executions answer `script(request)`; `requests` are what the executor was
 * given. The executor still checks the program (language, profile, limits) and the service
 * still queues, counts and audits it; the runs and their verdicts are the script's.
 */
async function judge0App(script: Script = () => ({}), opts: TestAppOptions = {}) {
  const t = await setup(opts);
  const requests: JudgeRequest[] = [];
  const prepare = t.executor.prepare.bind(t.executor);
  vi.spyOn(t.executor, 'prepare').mockImplementation((req, id) => {
    requests.push(req);
    // The spec of the program alone (its checks: language, profile, limits); the tests are the script's.
    const { tests: _t, compile: _c, compare: _m, ...program } = req;
    return prepare(program, id);
  });
  const run = vi.spyOn(t.executor, 'run').mockImplementation(async (p: Prepared, o) => {
    const base = t.executor.toResult(p, sandboxResult(), o.queuedMs, o.startedAt);
    return { ...base, ...script(requests.at(-1)!, run.mock.calls.length - 1) } as typeof base;
  });
  return { t, requests, run };
}

function accepted(over: Partial<TestOutcome> = {}): TestOutcome {
  return { verdict: 'accepted', exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, cpuTimeMs: 1, wallMs: 4, maxRssKb: 380, limits: { timeoutMs: 5000, cpuTimeMs: null, memoryMb: 256 }, ...over };
}

function post(t: TestApp, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'POST', url, payload: payload as object, headers });
}

/** The documentation's C program: it reads a name and greets it. */
const C_HELLO = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';

/** The same program in Python. */
const GREET = 'print(f"hello, {input()}")';

describe('POST /judge0/submissions?wait=true', () => {
  it("answers the documentation's example: 201 with Judge0's default fields, status Accepted", async () => {
    const { t, requests, run } = await judge0App((req) => ({ tests: [accepted({ stdout: `hello, ${req.tests![0]!.stdin}\n` })] }));
    const res = await post(t, '/judge0/submissions?wait=true', { source_code: GREET, language_id: '71', stdin: 'Judge0', expected_output: 'hello, Judge0' });

    expect(res.statusCode).toBe(201);
    const body = res.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
    expect(body).toEqual({
      stdout: 'hello, Judge0\n',
      time: '0.001',
      memory: 380,
      stderr: null,
      token: expect.stringMatching(/^kx-[0-9a-f]{20}$/),
      compile_output: null,
      message: null,
      status: { id: 3, description: 'Accepted' },
    });
    // One execution through the service, its request one test carrying stdin and expected_output.
    expect(run).toHaveBeenCalledTimes(1);
    expect(requests[0]).toMatchObject({ language: 'python', code: GREET, tests: [{ stdin: 'Judge0', expectedOutput: 'hello, Judge0' }], compare: { mode: 'trailing_whitespace' } });
    const audit = t.logger.lines.filter((l) => typeof l.obj === 'object' && 'audit' in l.obj);
    expect(audit).toHaveLength(1);
    expect((audit[0]!.obj as { audit: { language: string } }).audit.language).toBe('python');
  });

  it("compiles the documentation's C program with compiler_options, and answers a compile error as Judge0 does", async () => {
    const { t, requests, run } = await judge0App(() => ({
      status: 'compile_error',
      exitCode: null,
      compile: { status: 'error', exitCode: 1, signal: null, stdout: '', stderr: "main.c:4:3: error: unknown type name 'chr'\n", truncated: false, usage: null, durationMs: 90 },
      tests: [],
    }));
    const res = await post(t, '/judge0/submissions?wait=true&fields=status,compile_output,stdout,time,memory,exit_code', {
      source_code: C_HELLO.replace('char name', 'chr name'),
      language_id: '50',
      stdin: 'Judge0',
      expected_output: 'hello, Judge0',
      compiler_options: '-Wall -DNAME="x y"',
    });
    expect(res.statusCode).toBe(201);
    expect(requests[0]).toMatchObject({ language: 'c', compile: { args: ['-Wall', '-DNAME=x y'] }, tests: [{ stdin: 'Judge0', expectedOutput: 'hello, Judge0' }] });
    expect(run).toHaveBeenCalledTimes(1);
    expect(res.json()).toEqual({
      status: { id: 6, description: 'Compilation Error' },
      compile_output: "main.c:4:3: error: unknown type name 'chr'\n",
      stdout: null,
      time: null,
      memory: null,
      exit_code: null,
    });
  });

  it('takes and gives Base64 with base64_encoded=true (the documentation\'s Base64 example)', async () => {
    const { t, requests } = await judge0App(() => ({ tests: [accepted({ verdict: 'wrong_answer', stdout: 'hello, Judge0\n', stderr: 'ü' })] }));
    const res = await post(t, '/judge0/submissions?wait=true&base64_encoded=true&fields=stdout,stderr,status,stdin', {
      source_code: Buffer.from(GREET).toString('base64'),
      language_id: 71,
      stdin: 'SnVkZ2Uw',
      expected_output: Buffer.from('bye').toString('base64'),
    });
    expect(res.statusCode).toBe(201);
    expect(requests[0]!.code).toBe(GREET);
    expect(requests[0]!.tests).toEqual([{ stdin: 'Judge0', expectedOutput: 'bye' }]);
    expect(res.json()).toEqual({ stdout: 'aGVsbG8sIEp1ZGdlMAo=', stderr: Buffer.from('ü').toString('base64'), status: { id: 4, description: 'Wrong Answer' }, stdin: 'SnVkZ2Uw' });
  });

  it('answers fields=* with every attribute, and the asked limits echoed in Judge0 units', async () => {
    const { t, requests } = await judge0App(() => ({ status: 'error', tests: [accepted({ verdict: 'runtime_error', exitCode: 3, stderr: 'boom\n', cpuTimeMs: 12, wallMs: 40 })] }));
    const res = await post(t, '/judge0/submissions?wait=true&fields=*', {
      source_code: 'import sys; sys.exit(3)',
      language_id: 92,
      cpu_time_limit: 2,
      wall_time_limit: 5,
      memory_limit: 65536,
      command_line_arguments: 'a "b c"',
    });
    expect(res.statusCode).toBe(201);
    expect(requests[0]).toMatchObject({ args: ['a', 'b c'], tests: [{ cpuTimeMs: 2000, timeoutMs: 5000, memoryMb: 64 }] });
    expect(res.json()).toMatchObject({
      status: { id: 11, description: 'Runtime Error (NZEC)' },
      message: 'Exited with error status 3',
      exit_code: 3,
      exit_signal: null,
      stderr: 'boom\n',
      time: '0.012',
      wall_time: '0.040',
      language_id: 92,
      language: { id: 92, name: 'Python (3.11.2)' },
      cpu_time_limit: 2,
      wall_time_limit: 5,
      memory_limit: 65536,
      number_of_runs: 1,
      enable_network: false,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('refuses what it does not do with 422 NOT_SUPPORTED and Judge0\'s error field, before running anything', async () => {
    const { t, run } = await judge0App();
    const noWait = expectProblem(await post(t, '/judge0/submissions', { source_code: 'print(1)', language_id: 71 }), 422, 'NOT_SUPPORTED');
    expect(noWait).toMatchObject({ error: noWait.detail, errors: [{ path: '/wait', message: 'must be true' }] });
    expectProblem(await post(t, '/judge0/submissions?wait=false', { source_code: 'print(1)', language_id: 71 }), 422, 'NOT_SUPPORTED');
    const cb = expectProblem(
      await post(t, '/judge0/submissions?wait=true', { source_code: 'print(1)', language_id: 71, callback_url: 'http://example.com/x', enable_network: true }),
      422,
      'NOT_SUPPORTED',
    );
    expect(cb.errors!.map((e) => e.path)).toEqual(['/callback_url', '/enable_network']);
    for (const method of ['GET', 'DELETE'] as const) {
      expectProblem(await t.app.inject({ method, url: '/judge0/submissions/d85cd024-1548-4165-96c7-7bc88673f194' }), 422, 'NOT_SUPPORTED');
    }
    expectProblem(await t.app.inject({ method: 'GET', url: '/judge0/submissions' }), 422, 'NOT_SUPPORTED');
    expect(run).not.toHaveBeenCalled();
  });

  it("refuses the documentation's bad requests: a missing language_id, an unknown one, unknown fields", async () => {
    const { t, run } = await judge0App();
    const missing = expectProblem(await post(t, '/judge0/submissions?wait=true', { source_code: 'x' }), 400, 'VALIDATION_FAILED');
    expect(missing.errors).toContainEqual({ path: '/language_id', message: expect.any(String) });
    const unknown = expectProblem(await post(t, '/judge0/submissions?wait=true', { source_code: 'x', language_id: 150000, stdin: 'world' }), 400, 'UNKNOWN_LANGUAGE');
    expect(unknown).toMatchObject({ error: expect.stringContaining('150000'), errors: [{ path: '/language_id' }] });
    const extra = expectProblem(await post(t, '/judge0/submissions?wait=true', { source_code: 'x', language_id: 71, input: 'old name' }), 400, 'VALIDATION_FAILED');
    expect(extra.errors).toEqual([{ path: '/input', message: 'is not a known field' }]);
    expectProblem(await post(t, '/judge0/submissions?wait=true&fields=stdout,id', { source_code: 'x', language_id: 71 }), 400, 'VALIDATION_FAILED');
    expectProblem(await post(t, '/judge0/submissions?wait=true&callback=1', { source_code: 'x', language_id: 71 }), 400, 'VALIDATION_FAILED');
    expect(run).not.toHaveBeenCalled();
  });

  it("names a service limit by the Judge0 field it came from", async () => {
    const { t } = await judge0App();
    const p = expectProblem(
      await post(t, '/judge0/submissions?wait=true', { source_code: 'x', language_id: 71, max_processes_and_or_threads: t.config.limits.pids.max + 1 }),
      400,
      'LIMIT_EXCEEDED',
    );
    expect(p.errors).toEqual([{ path: '/max_processes_and_or_threads', message: `must be at most ${t.config.limits.pids.max} (server maximum)` }]);
  });
});

describe('POST /judge0/submissions/batch?wait=true', () => {
  it('refuses the whole batch when one submission is bad, naming it, and runs none', async () => {
    const { t, run } = await judge0App();
    const p = expectProblem(
      await post(t, '/judge0/submissions/batch?wait=true', {
        submissions: [
          { source_code: 'x', language_id: 71 },
          { source_code: 'x', language_id: 71, additional_files: 'UEsDBA==' },
        ],
      }),
      422,
      'NOT_SUPPORTED',
    );
    expect(p.errors).toEqual([{ path: '/submissions/1/additional_files', message: expect.any(String) }]);
    expectProblem(await post(t, '/judge0/submissions/batch', { submissions: [{ source_code: 'x', language_id: 71 }] }), 422, 'NOT_SUPPORTED');
    expectProblem(await post(t, '/judge0/submissions/batch?wait=true', { submissions: [] }), 400, 'VALIDATION_FAILED');
    expect(run).not.toHaveBeenCalled();
  });

});

// ---------------------------------------------------------------------------------------
// Batches over the real executor: the fake runner plays the launcher, one StepResult per step.

type Answer = { token: string; stdout: string | null; stderr: string | null; compile_output: string | null; message: string | null; time: string | null; status: { id: number } };

/**
 * A judge program as the fake launcher runs it: a compile step succeeds (or fails with
 * `compileError`); a run reads a command on stdin: `double N` prints 2N, `crash` exits 1,
 * `spin` is stopped at its CPU-time limit, `hog` at its memory limit. `lostAt`: the step
 * (by index) under which the sandbox failed: it never ends, nothing after it runs.
 */
function judgeProgram(o: { compileError?: string; lostAt?: number } = {}) {
  return (spec: SandboxSpec): SandboxResult => {
    const out: StepResult[] = [];
    for (const [i, s] of spec.steps!.entries()) {
      if (i === o.lostAt) {
        out.push(stepResult({ exitCode: null }));
        break;
      }
      if (s.required) {
        out.push(o.compileError ? stepResult({ exitCode: 1, stderr: o.compileError }) : stepResult());
        if (o.compileError) break;
        continue;
      }
      const [cmd, n] = (s.stdin?.toString() ?? '').split(' ');
      if (cmd === 'double') out.push(stepResult({ stdout: `${2 * Number(n)}\n`, wallMs: 10 + i }));
      else if (cmd === 'crash') out.push(stepResult({ exitCode: 1, stderr: 'bad\n' }));
      else if (cmd === 'spin') out.push(stepResult({ exitCode: null, signal: 'SIGKILL', limit: 'cpu' }));
      else if (cmd === 'hog') out.push(stepResult({ exitCode: null, signal: 'SIGKILL', limit: 'memory' }));
      else out.push(stepResult());
    }
    return ranSteps(out);
  };
}

/** The source of a C judge program (the fake launcher never reads it). */
const C_JUDGE = '#include <stdio.h>\nint main(void){ /* double N, crash, spin, hog */ return 0; }';
const PY_JUDGE = 'c, *n = input().split()\nprint(2 * int(n[0]))';

async function batch(t: TestApp, submissions: Record<string, unknown>[], query = ''): Promise<Answer[]> {
  const res = await post(t, `/judge0/submissions/batch?wait=true${query}`, { submissions });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<Answer[]>();
}

/** The stdin of each run step of a call, in order. */
const stdins = (spec: SandboxSpec) => spec.steps!.filter((s) => !s.required).map((s) => s.stdin?.toString() ?? '');

describe('POST /judge0/submissions/batch?wait=true: one execution per program', () => {
  it('runs the submissions of one program as one execution (one sandbox, one compile, a run per submission with its own limits) and answers each from its own runs, in order, under a token of its own', async () => {
    const t = await setup();
    t.runner.always(judgeProgram());
    const answers = await batch(t, [
      { language_id: 50, source_code: C_JUDGE, stdin: 'double 21', expected_output: '42', cpu_time_limit: 1, memory_limit: 65536 },
      { language_id: 71, source_code: PY_JUDGE, stdin: 'double 1', expected_output: '2' },
      { language_id: 50, source_code: C_JUDGE, stdin: 'double 5', expected_output: '11', wall_time_limit: 3 },
      // Another id of the same language builds the same request: it runs with the others.
      { language_id: 49, source_code: C_JUDGE, stdin: 'crash', number_of_runs: 2 },
      { language_id: 50, source_code: C_JUDGE, compiler_options: '-O0', stdin: 'double 1', expected_output: '2' },
      { language_id: 50, source_code: C_JUDGE, stdin: 'spin', cpu_time_limit: 0.5 },
      { language_id: 50, source_code: C_JUDGE, stdin: 'hog', memory_limit: 32768 },
    ]);

    // Three programs, three sandboxes: C (five submissions), python, C with other compiler options.
    expect(t.runner.calls).toHaveLength(3);
    const [c, py, c0] = t.runner.specs as [SandboxSpec, SandboxSpec, SandboxSpec];
    expect(c.steps!.filter((s) => s.required)).toHaveLength(1);
    expect(stdins(c)).toEqual(['double 21', 'double 5', 'crash', 'crash', 'spin', 'hog']);
    const runs = c.steps!.filter((s) => !s.required);
    expect(runs.map((s) => [s.cpuMs, s.wallMs, s.memoryKb])).toEqual([
      [1000, t.config.judge.testTimeoutMs, 65536],
      [null, 3000, t.config.limits.memoryMb.default * 1024],
      [null, t.config.judge.testTimeoutMs, t.config.limits.memoryMb.default * 1024],
      [null, t.config.judge.testTimeoutMs, t.config.limits.memoryMb.default * 1024],
      [500, t.config.judge.testTimeoutMs, t.config.limits.memoryMb.default * 1024],
      [null, t.config.judge.testTimeoutMs, 32768],
    ]);
    expect(stdins(py)).toEqual(['double 1']);
    expect(c0.steps![0]!.command).toContain('-O0');
    expect(stdins(c0)).toEqual(['double 1']);

    expect(answers.map((a) => [a.status.id, a.stdout, a.message])).toEqual([
      [3, '42\n', null],
      [3, '2\n', null],
      [4, '10\n', null],
      [11, null, 'Exited with error status 1'],
      [3, '2\n', null],
      [5, null, 'Time limit exceeded'],
      [12, null, 'Memory limit exceeded'],
    ]);
    // Each answer is its own runs': the wall time of the first submission's run only.
    expect(answers[0]!.time).toBe('0.010');
    expect(answers.map((a) => a.token)).toEqual([`${c.id}-0`, py.id, `${c.id}-1`, `${c.id}-2`, c0.id, `${c.id}-3`, `${c.id}-4`]);
    // One audit line per execution.
    expect(t.logger.lines.filter((l) => typeof l.obj === 'object' && 'audit' in l.obj)).toHaveLength(3);
  });

  it('a compile error answers every submission of the program Compilation Error with the compiler output; the others run', async () => {
    const t = await setup();
    t.runner.always((spec) => (spec.labels['org.kata-exec.language'] === 'c' ? judgeProgram({ compileError: 'main.c:1:1: error: expected ;\n' })(spec) : judgeProgram()(spec)));
    const answers = await batch(t, [
      { language_id: 50, source_code: C_JUDGE, stdin: 'double 1', expected_output: '2' },
      { language_id: 71, source_code: PY_JUDGE, stdin: 'double 2', expected_output: '4' },
      { language_id: 50, source_code: C_JUDGE, stdin: 'double 2', expected_output: '4', number_of_runs: 3 },
    ]);
    expect(t.runner.calls).toHaveLength(2);
    expect(answers.map((a) => [a.status.id, a.compile_output, a.stdout, a.time])).toEqual([
      [6, 'main.c:1:1: error: expected ;\n', null, null],
      [3, null, '4\n', '0.010'],
      [6, 'main.c:1:1: error: expected ;\n', null, null],
    ]);
  });

  it('a sandbox that fails answers every submission of its execution Internal Error (13), those whose runs were done too', async () => {
    const t = await setup();
    // Steps: the compile, then runs 1 to 3; the sandbox fails under the second run.
    t.runner.always(judgeProgram({ lostAt: 2 }));
    const answers = await batch(t, ['double 1', 'double 2', 'double 3'].map((stdin) => ({ language_id: 50, source_code: C_JUDGE, stdin })));
    expect(t.runner.calls).toHaveLength(1);
    expect(answers.map((a) => [a.status.id, a.message])).toEqual(Array.from({ length: 3 }, () => [13, 'the sandbox failed while running the program']));
    expect(new Set(answers.map((a) => a.token)).size).toBe(3);
  });

  it('cuts a group at KATA_EXEC_MAX_TESTS, in order, never cutting a submission (number_of_runs)', async () => {
    const t = await setup({ env: { KATA_EXEC_MAX_TESTS: '3' } });
    t.runner.always(judgeProgram());
    const runs = [1, 2, 1, 1, 3];
    const answers = await batch(
      t,
      runs.map((n, i) => ({ language_id: 71, source_code: PY_JUDGE, stdin: `double ${i}`, expected_output: String(2 * i), number_of_runs: n })),
    );
    expect(t.runner.specs.map(stdins)).toEqual([
      ['double 0', 'double 1', 'double 1'],
      ['double 2', 'double 3'],
      ['double 4', 'double 4', 'double 4'],
    ]);
    const [a, b, c] = t.runner.specs.map((s) => s.id);
    expect(answers.map((x) => x.token)).toEqual([`${a}-0`, `${a}-1`, `${b}-0`, `${b}-1`, c]);
    expect(answers.map((x) => [x.status.id, x.stdout])).toEqual(runs.map((_n, i) => [3, `${2 * i}\n`]));
  });

  it("cuts a group so that the compile and the runs' wall-clock limits fit in KATA_EXEC_TIMEOUT_MS_MAX", async () => {
    const t = await setup({ env: { KATA_EXEC_TIMEOUT_MS_MAX: '10000', KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: '4000' } });
    t.runner.always(judgeProgram());
    const answers = await batch(
      t,
      [1, 2, 3, 4, 5].map((n) => ({ language_id: 50, source_code: C_JUDGE, stdin: `double ${n}`, expected_output: String(2 * n), wall_time_limit: 2 })),
    );
    // 4 s of compile and three runs of 2 s fill 10 s: three, then two.
    expect(t.runner.specs.map(stdins)).toEqual([['double 1', 'double 2', 'double 3'], ['double 4', 'double 5']]);
    for (const spec of t.runner.specs) {
      expect(spec.steps!.reduce((s, st) => s + st.wallMs, 0)).toBeLessThanOrEqual(10000);
      expect(spec.timeoutMs).toBeLessThanOrEqual(10000);
    }
    expect(answers.map((a) => a.status.id)).toEqual([3, 3, 3, 3, 3]);
  });

  it('takes one rate-limit token per execution, all before anything runs', async () => {
    const t = await setup({ env: { KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' } });
    t.runner.always(judgeProgram());
    // Three submissions of one program: one execution, one token.
    await batch(t, [1, 2, 3].map((n) => ({ language_id: 71, source_code: PY_JUDGE, stdin: `double ${n}` })));
    expect(t.runner.calls).toHaveLength(1);
    // Two programs need two more tokens: one is left.
    const two = [PY_JUDGE, `${PY_JUDGE}\n`].map((source_code) => ({ language_id: 71, source_code, stdin: 'double 1' }));
    expectProblem(await post(t, '/judge0/submissions/batch?wait=true', { submissions: two }), 429, 'RATE_LIMITED');
    expect(t.runner.calls).toHaveLength(1);
  });

  it("names a limit of an execution's run under the submission it belongs to", async () => {
    const t = await setup();
    const tooMuch = (t.config.limits.memoryMb.max + 1) * 1024;
    const p = expectProblem(
      await post(t, '/judge0/submissions/batch?wait=true', {
        submissions: [
          { language_id: 71, source_code: PY_JUDGE, stdin: 'double 1' },
          { language_id: 71, source_code: PY_JUDGE, stdin: 'double 2', number_of_runs: 2 },
          { language_id: 71, source_code: PY_JUDGE, stdin: 'double 3', memory_limit: tooMuch },
        ],
      }),
      400,
      'LIMIT_EXCEEDED',
    );
    expect(p.errors).toEqual([{ path: '/submissions/2/memory_limit', message: `must be at most ${t.config.limits.memoryMb.max * 1024} (KATA_EXEC_MEMORY_MB_MAX) (kilobytes)` }]);
    expect(t.runner.calls).toHaveLength(0);
  });
});

describe('GET /judge0/languages, /judge0/languages/:id, /judge0/statuses', () => {
  it('lists one Judge0 id per language of the image, named with its version', async () => {
    const { t } = await judge0App();
    const res = await t.app.inject({ method: 'GET', url: '/judge0/languages' });
    expect(res.statusCode).toBe(200);
    // The fake catalog: python 3.11.2, javascript 18.20.4, bash 5.2.15.
    expect(res.json()).toEqual([
      { id: 46, name: 'Bash (5.2.15)' },
      { id: 93, name: 'JavaScript (Node.js 18.20.4)' },
      { id: 92, name: 'Python (3.11.2)' },
    ]);
  });

  it("answers for any accepted id with how it runs here (the documentation's Get a Language shape)", async () => {
    const { t } = await judge0App();
    const res = await t.app.inject({ method: 'GET', url: '/judge0/languages/71' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 71, name: 'Python (3.11.2)', is_archived: false, source_file: 'main.py', compile_cmd: null, run_cmd: 'python3 /code/main.py' });
    // The fake catalog's image lacks C: archived, in Judge0's terms.
    const c = await t.app.inject({ method: 'GET', url: '/judge0/languages/50' });
    expect(c.json()).toEqual({ id: 50, name: 'C', is_archived: true, source_file: 'main.c', compile_cmd: 'gcc -O2 -std=gnu17 -o /code/main /code/main.c -lm', run_cmd: '/code/main' });
    expect(expectProblem(await t.app.inject({ method: 'GET', url: '/judge0/languages/70' }), 404, 'NOT_FOUND').error).toMatch(/no language with id 70/);
  });

  it("lists Judge0's statuses", async () => {
    const { t } = await judge0App();
    const res = await t.app.inject({ method: 'GET', url: '/judge0/statuses' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ id: number; description: string }[]>();
    expect(body).toHaveLength(14);
    expect(body.slice(2, 6)).toEqual([
      { id: 3, description: 'Accepted' },
      { id: 4, description: 'Wrong Answer' },
      { id: 5, description: 'Time Limit Exceeded' },
      { id: 6, description: 'Compilation Error' },
    ]);
  });
});

describe('/judge0 authentication', () => {
  it("takes the key as Authorization: Bearer or as Judge0's X-Auth-Token (on /judge0 only)", async () => {
    const { t } = await judge0App(() => ({ tests: [accepted({ stdout: 'ok\n' })] }), { env: { KATA_EXEC_API_KEYS: API_KEYS } });
    const sub = { source_code: 'print("ok")', language_id: 71 };
    const none = expectProblem(await post(t, '/judge0/submissions?wait=true', sub), 401, 'UNAUTHORIZED');
    expect(none.error).toBe(none.detail);
    expectProblem(await post(t, '/judge0/submissions?wait=true', sub, { 'x-auth-token': 'wrong' }), 401, 'UNAUTHORIZED');
    expect((await post(t, '/judge0/submissions?wait=true', sub, { 'x-auth-token': TOKENS.alice })).statusCode).toBe(201);
    expect((await post(t, '/judge0/submissions?wait=true', sub, bearer(TOKENS.bob))).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: '/judge0/statuses', headers: { 'x-auth-token': TOKENS.bob } })).statusCode).toBe(200);
    // Elsewhere X-Auth-Token is not a key.
    expectProblemBody(await post(t, '/v1/execute', { language: 'python', code: 'print(1)' }, { 'x-auth-token': TOKENS.alice }), 401, 'UNAUTHORIZED');
  });
});
