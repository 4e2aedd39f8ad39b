import { describe, expect, it, vi } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { useTestApps } from '../helpers/test-apps.js';
import { type TestApp } from '../helpers/build-test-app.js';
import { execute, expectProblem } from '../helpers/problem.js';
import { AbortedError } from '../../src/errors.js';

const setup = useTestApps();

const ONE_SLOT_ONE_WAITER = { env: { KATA_EXEC_CONCURRENCY: '1', KATA_EXEC_QUEUE_DEPTH: '1' } };

async function metricsText(t: TestApp): Promise<string> {
  return (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
}

describe('bounded queue', () => {
  it('runs one, queues one, refuses the third with 503 QUEUE_FULL + Retry-After; the held two then finish', async () => {
    const t = await setup(ONE_SLOT_ONE_WAITER);
    t.runner.always((spec) => ({ stdout: `${spec.files[0]!.content.toString()}\n` }));
    const gate = t.runner.hold();

    const first = execute(t.app, { language: 'python', code: 'first' });
    await t.runner.waitForCalls(1);
    const second = execute(t.app, { language: 'python', code: 'second' });
    await vi.waitFor(() => expect(t.service.queue.stats()).toEqual({ running: 1, waiting: 1 }));

    const third = await execute(t.app, { language: 'python', code: 'third' });
    const p = expectProblem(third, 503, 'QUEUE_FULL');
    expect(p.detail).not.toContain('third');
    const retryAfter = Number(third.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The refused request never reached a sandbox; the waiting one has not either.
    expect(t.runner.calls).toHaveLength(1);

    const saturated = await metricsText(t);
    expect(saturated).toMatch(/^kata_exec_queue_depth 1$/m);
    expect(saturated).toMatch(/^kata_exec_in_flight 1$/m);
    expect(saturated).toContain('kata_exec_failures_total{code="QUEUE_FULL"} 1');

    gate.release();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.statusCode).toBe(200);
    expect(r2.statusCode).toBe(200);
    expect(r1.json<ExecuteResult>().stdout).toBe('first\n');
    expect(r2.json<ExecuteResult>().stdout).toBe('second\n');
    expect(t.runner.calls).toHaveLength(2);
    expect(t.service.queue.stats()).toEqual({ running: 0, waiting: 0 });

    const after = await metricsText(t);
    expect(after).toMatch(/^kata_exec_queue_depth 0$/m);
    expect(after).toMatch(/^kata_exec_in_flight 0$/m);
    expect(after).toContain('kata_exec_executions_total{runtime="gvisor",language="python",status="ok"} 2');

    // Capacity is back.
    expect((await execute(t.app, { language: 'python', code: 'fourth' })).statusCode).toBe(200);
  });

  it('with QUEUE_DEPTH=0 a busy service refuses at once instead of queueing', async () => {
    const t = await setup({ env: { KATA_EXEC_CONCURRENCY: '1', KATA_EXEC_QUEUE_DEPTH: '0' } });
    const gate = t.runner.hold();
    const first = execute(t.app, { language: 'python', code: 'x' });
    await t.runner.waitForCalls(1);
    expectProblem(await execute(t.app, { language: 'python', code: 'y' }), 503, 'QUEUE_FULL');
    gate.release();
    expect((await first).statusCode).toBe(200);
  });

  it('requests refused before the queue (validation, unknown language) take no slot', async () => {
    const t = await setup(ONE_SLOT_ONE_WAITER);
    const gate = t.runner.hold();
    const first = execute(t.app, { language: 'python', code: 'x' });
    await t.runner.waitForCalls(1);
    expectProblem(await execute(t.app, { language: 'cobol', code: 'x' }), 400, 'UNKNOWN_LANGUAGE');
    expectProblem(await execute(t.app, { language: 'python', code: 'x', limits: { memoryMb: 10 ** 9 } }), 400, 'LIMIT_EXCEEDED');
    expect(t.service.queue.stats()).toEqual({ running: 1, waiting: 0 });
    gate.release();
    await first;
  });
});

describe('drain', () => {
  it('after drain, a new request gets 503 SHUTTING_DOWN with Retry-After and no sandbox', async () => {
    const t = await setup();
    await t.service.drain();
    const res = await execute(t.app, { language: 'python', code: 'x' });
    expectProblem(res, 503, 'SHUTTING_DOWN');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('lets the running execution finish, fails the waiting one, and resolves only when idle', async () => {
    const t = await setup(ONE_SLOT_ONE_WAITER);
    t.runner.always({ stdout: 'done\n' });
    const gate = t.runner.hold();
    const running = execute(t.app, { language: 'python', code: 'x' });
    await t.runner.waitForCalls(1);
    const waiting = execute(t.app, { language: 'python', code: 'y' });
    await vi.waitFor(() => expect(t.service.queue.stats().waiting).toBe(1));

    let drained = false;
    const drain = t.service.drain().then(() => {
      drained = true;
    });
    expectProblem(await waiting, 503, 'SHUTTING_DOWN');
    expect(drained).toBe(false);
    expect(t.runner.calls).toHaveLength(1);

    gate.release();
    const r = await running;
    expect(r.statusCode).toBe(200);
    expect(r.json<ExecuteResult>().stdout).toBe('done\n');
    await drain;
    expect(drained).toBe(true);
    expectProblem(await execute(t.app, { language: 'python', code: 'z' }), 503, 'SHUTTING_DOWN');
  });
});

describe('aborts (a client that goes away)', () => {
  it('aborting a running execution kills its sandbox and frees the slot for the next one', async () => {
    const t = await setup(ONE_SLOT_ONE_WAITER);
    const gate = t.runner.hold();
    const ac = new AbortController();
    const running = t.service.execute({ language: 'python', code: 'while True: pass' }, { requestId: 'r1', signal: ac.signal });
    await t.runner.waitForCalls(1);
    const next = t.service.execute({ language: 'python', code: 'print(1)' }, { requestId: 'r2' });
    await vi.waitFor(() => expect(t.service.queue.stats().waiting).toBe(1));

    ac.abort();
    const r = await running;
    expect(r).toMatchObject({ status: 'killed', signal: 'SIGKILL' });
    expect(t.runner.calls[0]!.outcome).toBe('aborted');
    // The slot passed to the waiter, which is held by the same gate until released.
    await t.runner.waitForCalls(2);
    gate.release();
    expect((await next).status).toBe('ok');
    expect(t.service.queue.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('a waiting execution whose client left leaves the queue without running', async () => {
    const t = await setup(ONE_SLOT_ONE_WAITER);
    const gate = t.runner.hold();
    const first = t.service.execute({ language: 'python', code: 'x' }, { requestId: 'r1' });
    await t.runner.waitForCalls(1);
    const ac = new AbortController();
    const waiting = t.service.execute({ language: 'python', code: 'y' }, { requestId: 'r2', signal: ac.signal });
    await vi.waitFor(() => expect(t.service.queue.stats().waiting).toBe(1));

    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(t.service.queue.stats()).toEqual({ running: 1, waiting: 0 });

    gate.release();
    expect((await first).status).toBe('ok');
    expect(t.runner.calls).toHaveLength(1);
  });
});
