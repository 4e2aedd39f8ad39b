/**
 * POST /v1/execute with `tests`, `compile` and `compare` (issue 14): what the schema refuses
 * before anything runs, and the shapes of the answers, over the fake runner.
 */
import { describe, expect, it } from 'vitest';
import { useTestApps } from '../helpers/test-apps.js';
import { execute, expectProblem } from '../helpers/problem.js';

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

  it("a session's call takes no tests: its schema has no such field", async () => {
    const t = await setup();
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions/ses-0000000000000000000000/execute',
      payload: { language: 'python', code: 'print(1)', tests: [{ stdin: '' }] },
    });
    expect(expectProblem(res, 400, 'VALIDATION_FAILED').detail).toMatch(/tests/);
  });
});
