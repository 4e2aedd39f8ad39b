import { afterEach, describe, expect, it, vi } from 'vitest';
import { BoundedQueue, type QueueStats } from '../../src/queue/queue.js';
import { AbortedError, QueueFullError, ShuttingDownError } from '../../src/errors.js';
import { deferred } from '../helpers/wait.js';

/** Lets every pending promise callback run (no timers involved). */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** A job whose end the test controls; records when it started. */
function job(q: BoundedQueue, name: string, log: string[], signal?: AbortSignal) {
  const d = deferred<string>();
  const started = deferred();
  const result = q.run(async () => {
    log.push(name);
    started.resolve();
    return d.promise;
  }, signal);
  return { finish: () => d.resolve(name), fail: (e: unknown) => d.reject(e), result, started: started.promise };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('BoundedQueue', () => {
  it('never runs more than `concurrency` jobs at once', async () => {
    const q = new BoundedQueue(2, 100);
    let running = 0;
    let peak = 0;
    const ends = Array.from({ length: 7 }, () => deferred());
    const results = ends.map((d) =>
      q.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await d.promise;
        running--;
      }),
    );
    await flush();
    expect(running).toBe(2);
    expect(q.stats()).toEqual({ running: 2, waiting: 5 });
    for (const d of ends) {
      d.resolve();
      await flush();
      expect(running).toBeLessThanOrEqual(2);
    }
    await Promise.all(results);
    expect(peak).toBe(2);
    expect(q.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('starts waiting jobs in FIFO order', async () => {
    const q = new BoundedQueue(1, 10);
    const log: string[] = [];
    const jobs = ['a', 'b', 'c', 'd'].map((n) => job(q, n, log));
    await flush();
    expect(log).toEqual(['a']);
    for (let i = 0; i < jobs.length; i++) {
      jobs[i]!.finish();
      await flush();
    }
    expect(log).toEqual(['a', 'b', 'c', 'd']);
    expect((await Promise.all(jobs.map((j) => j.result))).map((r) => r.value)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses past the depth with QueueFullError and a Retry-After', async () => {
    const q = new BoundedQueue(1, 2);
    const log: string[] = [];
    const jobs = ['a', 'b', 'c'].map((n) => job(q, n, log));
    await flush();
    const fn = vi.fn(async () => 'x');
    const e = await q.run(fn).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(QueueFullError);
    expect((e as QueueFullError).code).toBe('QUEUE_FULL');
    expect((e as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((e as QueueFullError).retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(fn).not.toHaveBeenCalled();
    expect(q.stats()).toEqual({ running: 1, waiting: 2 });
    for (const j of jobs) {
      j.finish();
      await flush();
    }
    await Promise.all(jobs.map((j) => j.result));
  });

  it('depth 0: refuses as soon as every slot is busy, runs when one is free', async () => {
    const q = new BoundedQueue(1, 0);
    const a = job(q, 'a', []);
    await expect(q.run(async () => 1)).rejects.toBeInstanceOf(QueueFullError);
    a.finish();
    await a.result;
    await expect(q.run(async () => 1)).resolves.toMatchObject({ value: 1 });
  });

  it('abort while waiting: AbortedError, the waiter leaves and its job never runs', async () => {
    const q = new BoundedQueue(1, 10);
    const log: string[] = [];
    const a = job(q, 'a', log);
    const ac = new AbortController();
    const b = job(q, 'b', log, ac.signal);
    const c = job(q, 'c', log);
    await flush();
    expect(q.stats()).toEqual({ running: 1, waiting: 2 });
    ac.abort();
    await expect(b.result).rejects.toBeInstanceOf(AbortedError);
    expect(q.stats()).toEqual({ running: 1, waiting: 1 });
    a.finish();
    await flush();
    c.finish();
    await Promise.all([a.result, c.result]);
    expect(log).toEqual(['a', 'c']);
    expect(q.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('abort after the job started does not interrupt it', async () => {
    const q = new BoundedQueue(1, 10);
    const ac = new AbortController();
    const a = job(q, 'a', [], ac.signal);
    await a.started;
    ac.abort();
    a.finish();
    await expect(a.result).resolves.toMatchObject({ value: 'a' });
  });

  // A signal already aborted never fires 'abort': run() must check it first (a client that
  // disconnected while its body was read must not run later).
  it('a signal already aborted when the job must wait: AbortedError, never runs', async () => {
    const q = new BoundedQueue(1, 10);
    const a = job(q, 'a', []);
    const fn = vi.fn(async () => 'b');
    const b = q.run(fn, AbortSignal.abort());
    const outcome = b.then(
      () => 'ran',
      (e: unknown) => e,
    );
    await flush();
    a.finish();
    expect(await outcome).toBeInstanceOf(AbortedError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('a job that throws frees its slot and the error reaches the caller', async () => {
    const q = new BoundedQueue(1, 10);
    const log: string[] = [];
    const a = job(q, 'a', log);
    const b = job(q, 'b', log);
    a.fail(new Error('boom'));
    await expect(a.result).rejects.toThrow('boom');
    await flush();
    expect(log).toEqual(['a', 'b']);
    b.finish();
    await b.result;
    expect(q.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('close(): waiters fail with ShuttingDownError, running jobs finish, new work is refused', async () => {
    const q = new BoundedQueue(1, 10);
    const log: string[] = [];
    const a = job(q, 'a', log);
    const b = job(q, 'b', log);
    const c = job(q, 'c', log);
    await flush();
    q.close();
    await expect(b.result).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(c.result).rejects.toMatchObject({ code: 'SHUTTING_DOWN', retryAfterSeconds: expect.any(Number) });
    await expect(q.run(async () => 1)).rejects.toBeInstanceOf(ShuttingDownError);
    a.finish();
    await expect(a.result).resolves.toMatchObject({ value: 'a' });
    expect(log).toEqual(['a']);
  });

  it('idle() resolves at once when nothing runs, else when everything is done', async () => {
    const q = new BoundedQueue(2, 10);
    await q.idle();
    const a = job(q, 'a', []);
    const b = job(q, 'b', []);
    const c = job(q, 'c', []);
    let idle = false;
    void q.idle().then(() => {
      idle = true;
    });
    a.finish();
    await flush();
    b.finish();
    await flush();
    expect(idle).toBe(false);
    c.finish();
    await flush();
    expect(idle).toBe(true);
  });

  it('idle() after close() resolves when the running jobs end', async () => {
    const q = new BoundedQueue(1, 10);
    const a = job(q, 'a', []);
    const b = job(q, 'b', []);
    b.result.catch(() => undefined);
    await flush();
    q.close();
    let idle = false;
    void q.idle().then(() => {
      idle = true;
    });
    await flush();
    expect(idle).toBe(false);
    a.finish();
    await flush();
    expect(idle).toBe(true);
  });


  it('tells onChange about every change of running and waiting', async () => {
    const seen: QueueStats[] = [];
    const q = new BoundedQueue(1, 10, (s) => seen.push(s));
    const a = job(q, 'a', []);
    const b = job(q, 'b', []);
    await flush();
    a.finish();
    await flush();
    b.finish();
    await b.result;
    expect(seen[0]).toEqual({ running: 1, waiting: 0 });
    expect(seen).toContainEqual({ running: 1, waiting: 1 });
    expect(seen.at(-1)).toEqual({ running: 0, waiting: 0 });
  });
});
