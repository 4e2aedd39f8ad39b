/**
 * Per-key limits: the request rate (@fastify/rate-limit, 429 RATE_LIMITED) and the
 * concurrency quota (429 QUOTA_EXCEEDED), both counted per API key. Global saturation
 * stays 503 QUEUE_FULL (test/http/queue.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { useTestApps } from '../helpers/test-apps.js';
import { type TestApp } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem } from '../helpers/problem.js';

const apps = useTestApps();
const setup = (env: Record<string, string> = {}) => apps({ env });

function run(t: TestApp, token: string | null, code = 'print(1)') {
  return t.app.inject({
    method: 'POST',
    url: '/v1/execute',
    payload: { language: 'python', code },
    ...(token ? { headers: bearer(token) } : {}),
  });
}

function retryAfterOf(res: { headers: Record<string, unknown> }): number {
  const n = Number(res.headers['retry-after']);
  expect(Number.isInteger(n), `Retry-After ${String(res.headers['retry-after'])}`).toBe(true);
  return n;
}

describe('rate limit (KATA_EXEC_RATE_LIMIT_PER_MINUTE)', () => {
  it('lets 2 through per minute, refuses the third with 429 RATE_LIMITED and Retry-After; no sandbox for it', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' });
    expect((await run(t, TOKENS.alice)).statusCode).toBe(200);
    expect((await run(t, TOKENS.alice)).statusCode).toBe(200);
    const third = await run(t, TOKENS.alice);
    const p = expectProblem(third, 429, 'RATE_LIMITED');
    expect(p.detail).toMatch(/retry/i);
    const retryAfter = retryAfterOf(third);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(t.runner.calls).toHaveLength(2);
  });

  it('counts per key: bob still passes when alice is limited', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' });
    await run(t, TOKENS.alice);
    await run(t, TOKENS.alice);
    expectProblem(await run(t, TOKENS.alice), 429, 'RATE_LIMITED');
    expect((await run(t, TOKENS.bob)).statusCode).toBe(200);
    expect((await run(t, TOKENS.bob)).statusCode).toBe(200);
    expectProblem(await run(t, TOKENS.bob), 429, 'RATE_LIMITED');
  });

  it('without keys, counts per client address', async () => {
    const t = await setup({ KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' });
    const from = (remoteAddress: string) =>
      t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1' }, remoteAddress });
    expect((await from('127.0.0.2')).statusCode).toBe(200);
    expect((await from('127.0.0.2')).statusCode).toBe(200);
    expectProblem(await from('127.0.0.2'), 429, 'RATE_LIMITED');
    expect((await from('127.0.0.3')).statusCode).toBe(200);
  });

  it('never limits the probes, and 0 turns the limit off', async () => {
    const limited = await setup({ KATA_EXEC_RATE_LIMIT_PER_MINUTE: '1' });
    for (let i = 0; i < 4; i++) expect((await limited.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const off = await setup({ KATA_EXEC_RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 5; i++) expect((await run(off, null)).statusCode).toBe(200);
  });
});

describe('per-key concurrency quota (KATA_EXEC_KEY_CONCURRENCY)', () => {
  it('refuses a second concurrent execution of the same key with 429 QUOTA_EXCEEDED; another key passes; released afterwards', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_KEY_CONCURRENCY: '1' });
    t.runner.always((spec) => ({ stdout: spec.files[0]!.content.toString() }));
    const gate = t.runner.hold();

    const aliceFirst = run(t, TOKENS.alice, 'alice-1');
    await t.runner.waitForCalls(1);

    const aliceSecond = await run(t, TOKENS.alice, 'alice-2');
    const p = expectProblem(aliceSecond, 429, 'QUOTA_EXCEEDED');
    expect(p.detail).not.toContain('alice-2');
    expect(retryAfterOf(aliceSecond)).toBeGreaterThanOrEqual(1);
    expect(t.runner.calls).toHaveLength(1);

    // Another key is not affected: it reaches the runner while alice's first is still held.
    const bobFirst = run(t, TOKENS.bob, 'bob-1');
    await t.runner.waitForCalls(2);
    expect(t.service.queue.stats()).toEqual({ running: 2, waiting: 0 });

    gate.release();
    const [a, b] = await Promise.all([aliceFirst, bobFirst]);
    expect(a.statusCode).toBe(200);
    expect(a.json<ExecuteResult>().stdout).toBe('alice-1');
    expect(b.statusCode).toBe(200);

    // The place is given back once the execution ends.
    const again = await run(t, TOKENS.alice, 'alice-3');
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json<ExecuteResult>().stdout).toBe('alice-3');
  });

  it('a queued execution counts too, and a refused or failed one gives its place back', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_KEY_CONCURRENCY: '2', KATA_EXEC_CONCURRENCY: '1' });
    const gate = t.runner.hold();
    const first = run(t, TOKENS.alice);
    await t.runner.waitForCalls(1);
    const second = run(t, TOKENS.alice);
    await vi.waitFor(() => expect(t.service.queue.stats()).toEqual({ running: 1, waiting: 1 }));
    expectProblem(await run(t, TOKENS.alice), 429, 'QUOTA_EXCEEDED');
    gate.release();
    expect((await first).statusCode).toBe(200);
    expect((await second).statusCode).toBe(200);

    // A request refused before it ran (unknown language) does not hold a place.
    for (let i = 0; i < 3; i++) {
      expectProblem(
        await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'cobol', code: 'x' }, headers: bearer(TOKENS.alice) }),
        400,
        'UNKNOWN_LANGUAGE',
      );
    }
    // Nor does one whose sandbox failed.
    t.runner.next(new Error('boom'), new Error('boom'));
    expect((await run(t, TOKENS.alice)).statusCode).toBe(500);
    expect((await run(t, TOKENS.alice)).statusCode).toBe(500);
    const [x, y] = await Promise.all([run(t, TOKENS.alice), run(t, TOKENS.alice)]);
    expect([x.statusCode, y.statusCode]).toEqual([200, 200]);
  });

  it('0 (the default) leaves only the global queue', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const gate = t.runner.hold();
    const all = [run(t, TOKENS.alice), run(t, TOKENS.alice), run(t, TOKENS.alice)];
    await t.runner.waitForCalls(3);
    gate.release();
    for (const r of await Promise.all(all)) expect(r.statusCode).toBe(200);
  });
});
