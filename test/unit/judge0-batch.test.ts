/**
 * src/judge0/batch.ts: a Judge0 batch's submissions grouped by program into executions
 * whose tests are their runs, each execution within the rules of execution/plan.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { testsFit } from '../../src/execution/plan.js';
import { groupBatch, memberResult, programKey, submissionPrefix } from '../../src/judge0/batch.js';
import { toExecuteRequest, type JudgeResult, type TestOutcome } from '../../src/judge0/mapping.js';
import type { Judge0Submission } from '../../src/schemas/judge0.js';

const config = loadConfig({});

const plan = (sub: Partial<Judge0Submission>, i = 0) => toExecuteRequest({ language_id: 71, source_code: 'print(1)', ...sub } as Judge0Submission, false, `/submissions/${i}`);
const plans = (subs: Partial<Judge0Submission>[]) => subs.map((s, i) => plan(s, i));

describe('groupBatch', () => {
  it('puts the submissions of one program in one execution, whatever their stdin, expected output, runs and per-run limits', () => {
    const ex = groupBatch(
      plans([
        { stdin: '1', expected_output: '2', cpu_time_limit: 1 },
        { language_id: 50, source_code: 'int main(){}' },
        // Another Judge0 id of the same language: the same request.
        { language_id: 92, stdin: '2', number_of_runs: 2, memory_limit: 65536, wall_time_limit: 3 },
        { language_id: 50, source_code: 'int main(){}', compiler_options: '-O0' },
        { stdin: '3', command_line_arguments: 'a' },
        { stdin: '4', max_processes_and_or_threads: 8 },
      ]),
      config,
    );
    expect(ex.map((e) => e.members.map((m) => [m.index, m.first]))).toEqual([[[0, 0], [2, 1]], [[1, 0]], [[3, 0]], [[4, 0]], [[5, 0]]]);
    expect(ex[0]!.request.tests).toEqual([
      { stdin: '1', expectedOutput: '2', cpuTimeMs: 1000 },
      { stdin: '2', timeoutMs: 3000, memoryMb: 64 },
      { stdin: '2', timeoutMs: 3000, memoryMb: 64 },
    ]);
    expect(ex[0]!.request).toMatchObject({ language: 'python', code: 'print(1)', compare: { mode: 'trailing_whitespace' } });
  });

  it('keys a program by its request without tests, whatever the order of its fields', () => {
    const a = plan({ compiler_options: '-O2', language_id: 50, source_code: 'x', max_processes_and_or_threads: 4 }).request;
    const b = { tests: [], compile: a.compile, limits: a.limits, code: a.code, language: a.language, compare: a.compare } as typeof a;
    expect(programKey(b)).toBe(programKey(a));
    expect(programKey({ ...a, code: 'y' })).not.toBe(programKey(a));
  });

  it('cuts at KATA_EXEC_MAX_TESTS, at the time budget and at the memory budget', () => {
    const five = plans([1, 2, 3, 4, 5].map((n) => ({ stdin: String(n), wall_time_limit: 2 })));
    const sizes = (c: Parameters<typeof groupBatch>[1], p = five) => groupBatch(p, c).map((e) => e.members.length);
    expect(sizes(loadConfig({ KATA_EXEC_MAX_TESTS: '2' }))).toEqual([2, 2, 1]);
    expect(sizes(loadConfig({ KATA_EXEC_TIMEOUT_MS_MAX: '6000', KATA_EXEC_TIMEOUT_MS_DEFAULT: '1000' }))).toEqual([3, 2]);
    // C: the compile's 4 s first.
    const c = plans([1, 2, 3].map((n) => ({ language_id: 50, source_code: 'x', stdin: String(n), wall_time_limit: 2 })));
    expect(sizes(loadConfig({ KATA_EXEC_TIMEOUT_MS_MAX: '8000', KATA_EXEC_TIMEOUT_MS_DEFAULT: '1000', KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: '4000' }), c)).toEqual([2, 1]);
    // 32 MiB of budget, 1 MiB of output per stream: one execution's worst case (24.25 MiB) and one run's captures (6 MiB).
    expect(sizes(loadConfig({ KATA_EXEC_MEMORY_BUDGET_MB: '32', KATA_EXEC_OUTPUT_BYTES_MAX: '1048576' }))).toEqual([1, 1, 1, 1, 1]);
  });

  it('gives a submission that does not fit even alone an execution of its own (the service refuses it as it would alone)', () => {
    const ex = groupBatch(plans([{ stdin: '1' }, { stdin: '2', number_of_runs: 3 }, { stdin: '3' }]), loadConfig({ KATA_EXEC_MAX_TESTS: '2' }));
    expect(ex.map((e) => e.members.map((m) => m.index))).toEqual([[0], [1], [2]]);
  });

  const submission = fc.record({
    program: fc.constantFrom(
      { language_id: 71, source_code: 'a' },
      { language_id: 92, source_code: 'a' },
      { language_id: 71, source_code: 'b' },
      { language_id: 50, source_code: 'a' },
      { language_id: 50, source_code: 'a', compiler_options: '-O0' },
    ),
    stdin: fc.string({ maxLength: 3 }),
    number_of_runs: fc.integer({ min: 1, max: 20 }),
    wall_time_limit: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
  });
  const bounds = fc.record({
    KATA_EXEC_MAX_TESTS: fc.integer({ min: 1, max: 256 }),
    KATA_EXEC_TIMEOUT_MS_MAX: fc.constantFrom(20000, 60000, 120000),
    KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: fc.constantFrom(1000, 10000, 30000),
    KATA_EXEC_MEMORY_BUDGET_MB: fc.constantFrom(64, 512),
  });

  it('puts every submission in exactly one execution, in order, each execution one program that fits (or one submission alone)', () => {
    fc.assert(
      fc.property(fc.array(submission, { minLength: 1, maxLength: 20 }), bounds, (subs, b) => {
        const cfg = loadConfig({ ...Object.fromEntries(Object.entries(b).map(([k, v]) => [k, String(v)])), KATA_EXEC_TIMEOUT_MS_DEFAULT: '1000', KATA_EXEC_OUTPUT_BYTES_MAX: '1048576' });
        const ps = plans(subs.map(({ program, ...rest }) => ({ ...program, ...rest })));
        const ex = groupBatch(ps, cfg);

        const seen = ex.flatMap((e) => e.members.map((m) => m.index));
        expect([...seen].sort((x, y) => x - y)).toEqual(ps.map((_p, i) => i));
        for (const e of ex) {
          const idx = e.members.map((m) => m.index);
          expect(idx).toEqual([...idx].sort((x, y) => x - y));
          // Its tests are its members' runs, one after another.
          expect(e.request.tests).toEqual(e.members.flatMap((m) => m.plan.request.tests));
          for (const m of e.members) {
            expect(programKey(m.plan.request)).toBe(programKey(e.request));
            expect(e.request.tests!.slice(m.first, m.first + m.plan.request.tests!.length)).toEqual(m.plan.request.tests);
          }
          const compiled = e.request.language === 'c';
          expect(testsFit(e.request, compiled, cfg) || e.members.length === 1).toBe(true);
        }
        // A program's executions, one after another, hold its submissions in request order,
        // and each was cut only where its next submission would not have fitted in it.
        const byProgram = new Map<string, typeof ex>();
        for (const e of ex) byProgram.set(programKey(e.request), [...(byProgram.get(programKey(e.request)) ?? []), e]);
        expect(byProgram.size).toBe(new Set(ps.map((p) => programKey(p.request))).size);
        for (const execs of byProgram.values()) {
          const idx = execs.flatMap((e) => e.members.map((m) => m.index));
          expect(idx).toEqual([...idx].sort((x, y) => x - y));
          execs.slice(1).forEach((next, k) => {
            const prev = execs[k]!;
            const joined = { ...prev.request, tests: [...prev.request.tests!, ...next.members[0]!.plan.request.tests!] };
            expect(testsFit(joined, prev.request.language === 'c', cfg)).toBe(false);
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});

function outcome(verdict: TestOutcome['verdict'], stdout = ''): TestOutcome {
  return { verdict, exitCode: 0, signal: null, stdout, stderr: '', truncated: false, cpuTimeMs: 1, wallMs: 2, maxRssKb: 100, limits: { timeoutMs: 2000, cpuTimeMs: null, memoryMb: 256 } };
}

describe('memberResult and submissionPrefix', () => {
  const [ex] = groupBatch(plans([{ stdin: 'a' }, { stdin: 'b', number_of_runs: 2 }, { stdin: 'c' }]), config);
  const result = { id: 'kx-0123', status: 'ok', tests: [outcome('accepted', 'a'), outcome('accepted', 'b'), outcome('wrong_answer', 'b'), outcome('accepted', 'c')] } as JudgeResult;

  it("gives each member its own runs and a token of its own: the execution id and its place in it", () => {
    expect(ex!.members.map((m) => memberResult(result, ex!, m)).map((r) => [r.id, r.tests!.map((t) => t.stdout)])).toEqual([
      ['kx-0123-0', ['a']],
      ['kx-0123-1', ['b', 'b']],
      ['kx-0123-2', ['c']],
    ]);
    const [alone] = groupBatch(plans([{ stdin: 'a' }]), config);
    expect(memberResult(result, alone!, alone!.members[0]!).id).toBe('kx-0123');
  });

  it("names a run's field under the submission the run belongs to, the program's under the first", () => {
    const prefix = submissionPrefix(ex!);
    expect(['/tests/0/memoryMb', '/tests/1/cpuTimeMs', '/tests/2', '/tests/3/timeoutMs', '/code', '/tests'].map(prefix)).toEqual([
      '/submissions/0',
      '/submissions/1',
      '/submissions/1',
      '/submissions/2',
      '/submissions/0',
      '/submissions/0',
    ]);
  });
});
