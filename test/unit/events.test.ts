// ContainerdEvents' OOM waiters, over a fake `ctr events` process.
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SpawnedProcess } from '../../src/ctr/exec.js';
import { ContainerdEvents } from '../../src/ctr/events.js';
import { deferred } from '../helpers/wait.js';

const T = { address: '/run/c.sock', namespace: 'kx' };
const oomLine = (ns: string, id: string) => `2026-11-29 16:00:00.000000000 +0000 UTC ${ns} /tasks/oom {"container_id":"${id}"}\n`;

function fakeEvents() {
  const stdout = new PassThrough();
  const exit = deferred<{ exitCode: number | null; signal: string | null; spawnError: string | null }>();
  const spawned: string[][] = [];
  const spawn = (_file: string, args: readonly string[]): SpawnedProcess => {
    spawned.push([...args]);
    return { stdout, stderr: new PassThrough(), stdin: null, done: exit.promise, kill: () => exit.resolve({ exitCode: null, signal: 'SIGTERM', spawnError: null }) };
  };
  const events = new ContainerdEvents('ctr', T, () => undefined, spawn);
  return { events, stdout, spawned };
}

/** Lets readline deliver what was written. */
const tick = () => new Promise((r) => setImmediate(r));

describe('ContainerdEvents: OOM waiters', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('subscribes with ctr events', () => {
    const f = fakeEvents();
    f.events.start();
    expect(f.spawned).toEqual([['--address', T.address, '--namespace', T.namespace, '--connect-timeout', '3s', 'events']]);
    f.events.stop();
  });

  it('an OOM already seen answers at once', async () => {
    const f = fakeEvents();
    f.events.start();
    f.stdout.write(oomLine('kx', 'kx-1'));
    await tick();
    expect(await f.events.sawOom('kx-1', 0)).toBe(true);
    f.events.stop();
  });

  it('a waiter is woken by the event that arrives while it waits', async () => {
    const f = fakeEvents();
    f.events.start();
    const waiting = f.events.sawOom('kx-2', 1000);
    await vi.advanceTimersByTimeAsync(500);
    f.stdout.write(oomLine('kx', 'kx-2'));
    await tick();
    expect(await waiting).toBe(true);
    f.events.stop();
  });

  it('no event within the wait: false; another namespace or another container does not count', async () => {
    const f = fakeEvents();
    f.events.start();
    const waiting = f.events.sawOom('kx-3', 1000);
    f.stdout.write(oomLine('other', 'kx-3'));
    f.stdout.write(oomLine('kx', 'kx-4'));
    await tick();
    await vi.advanceTimersByTimeAsync(1000);
    expect(await waiting).toBe(false);
    f.events.stop();
  });

  it('forget() drops what was seen; the kernel watch feeds noteOom too', async () => {
    const f = fakeEvents();
    f.events.start();
    f.events.noteOom('kx-5');
    expect(await f.events.sawOom('kx-5', 0)).toBe(true);
    f.events.forget('kx-5');
    const again = f.events.sawOom('kx-5', 10);
    await vi.advanceTimersByTimeAsync(10);
    expect(await again).toBe(false);
    f.events.stop();
  });

  it('without a subscription it does not wait', async () => {
    const f = fakeEvents();
    expect(await f.events.sawOom('kx-6', 60_000)).toBe(false);
  });

  it('keeps the time of each report: a wait for one after a moment ends at the first such report, not at an earlier one', async () => {
    const f = fakeEvents();
    f.events.start();
    f.events.noteOom('kx-7');
    const [first] = await f.events.oomTimesSince('kx-7', 0, 0);
    expect(first).toBeGreaterThan(0);
    const waiting = f.events.oomTimesSince('kx-7', first! + 1_000_000, 1000);
    f.events.noteOom('kx-7');
    await vi.advanceTimersByTimeAsync(1000);
    // The second report came now, before the moment asked about: none after it within the wait.
    expect(await waiting).toEqual([]);
    expect(await f.events.oomTimesSince('kx-7', 0, 0)).toHaveLength(2);
    f.events.forget('kx-7');
    expect(await f.events.oomTimesSince('kx-7', 0, 0)).toEqual([]);
    f.events.stop();
  });
});
