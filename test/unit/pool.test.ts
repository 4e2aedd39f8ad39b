// The warm pool over the fake runner's warm side: filling, one use per sandbox, the cold
// fallback, refilling only on idle slots, expiry, back-off and draining.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PoolClass } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';
import type { Profile } from '../../src/schemas/common.js';
import { MAX_PARALLEL_CREATES, poolKey, WarmPool } from '../../src/sandbox/pool.js';
import type { Logger, SandboxSpec } from '../../src/sandbox/types.js';
import { FakeSandboxRunner } from '../fakes/fake-runner.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };
const MiB = 1024 * 1024;

function spec(profile: Profile, over: Partial<SandboxSpec['resources']> = {}): SandboxSpec {
  return {
    id: `kx-${profile}-0000000000`,
    image: 'sandbox:latest',
    runtime: 'gvisor',
    hypervisor: null,
    kernelPath: '',
    imagePath: '',
    command: ['bash', '/code/main.sh'],
    workingDir: '/code',
    env: ['PATH=/usr/bin'],
    programEnv: [],
    files: [],
    stdin: null,
    resources: { memoryBytes: 256 * MiB, cpuMillis: 1000, pids: 128, tmpfsBytes: 64 * MiB, openFiles: 256, outputBytes: MiB, ...over },
    security: { user: '65534:65534', readOnlyRootfs: profile !== 'dev', networkMode: 'none', seccompProfile: 'default', privileged: false },
    timeoutMs: 10_000,
    labels: {},
  };
}

async function counter(m: Metrics, name: string): Promise<number> {
  const v = (await m.registry.getSingleMetric(name)!.get()).values;
  return v.reduce((a, x) => a + x.value, 0);
}

describe('WarmPool', () => {
  let runner: FakeSandboxRunner;
  let metrics: Metrics;
  let idle: boolean;
  let pool: WarmPool;
  const make = (size: number, profiles: Profile[] = ['standard'], maxAgeMs = 60_000) => {
    const classes = profiles.map((profile) => ({ profile, kind: 'default' as const }));
    pool = new WarmPool({ size, classes, maxAgeMs }, { runner, template: (c) => spec(c.profile), canRefill: () => idle, metrics, logger: quiet });
    return pool;
  };
  /** Lets the pool's ticks and the fake's promises run. */
  const ticks = (n = 1) => vi.advanceTimersByTimeAsync(200 * n);

  beforeEach(() => {
    vi.useFakeTimers();
    runner = new FakeSandboxRunner();
    metrics = new Metrics();
    idle = true;
  });
  afterEach(async () => {
    const drained = pool?.drain();
    await vi.runAllTimersAsync();
    await drained;
    vi.useRealTimers();
  });

  it('creates up to MAX_PARALLEL_CREATES at once, never past the size counting those in flight', async () => {
    runner.createDelayMs = 1000;
    make(3).start();
    await ticks(2);
    // Two begun, neither done: a third waits for one of them.
    expect(runner.createsBegun).toBe(MAX_PARALLEL_CREATES);
    expect(runner.warm.created).toHaveLength(0);
    await ticks(30);
    expect(pool.readyCount).toBe(3);
    // Not one more than the size, though two were in flight while the pool held one.
    expect(runner.createsBegun).toBe(3);
  });

  it('fills each pooled profile up to its size', async () => {
    make(2, ['standard', 'dev']).start();
    await ticks(1);
    expect(runner.warm.created.length).toBeLessThanOrEqual(2);
    await ticks(10);
    expect(pool.readyCount).toBe(4);
    expect(runner.warm.created.map((w) => w.template.security.readOnlyRootfs).sort()).toEqual([false, false, true, true]);
    await ticks(10);
    expect(runner.warm.created).toHaveLength(4);
  });

  it('a matching spec runs in a warm sandbox, which is used once, destroyed, and refilled', async () => {
    make(1).start();
    await ticks(5);
    const warmId = runner.warm.created[0]!.id;
    runner.next({ stdout: 'hi\n' });
    const r = await pool.tryRun(spec('standard'), {});
    expect(r?.stdout.data.toString()).toBe('hi\n');
    expect(runner.warm.runs).toEqual([{ sandbox: warmId, spec: spec('standard') }]);
    expect(runner.warm.destroyed).toContain(warmId);
    expect(await counter(metrics, 'kata_exec_pool_hits_total')).toBe(1);
    await ticks(5);
    expect(pool.readyCount).toBe(1);
    expect(runner.warm.created[1]!.id).not.toBe(warmId);
  });

  it('a spec that differs in what is fixed at creation takes the cold path and leaves the pool alone', async () => {
    make(1).start();
    await ticks(5);
    expect(pool.tryRun(spec('standard', { memoryBytes: 512 * MiB }), {})).toBeNull();
    const strict = spec('standard');
    strict.security.seccompProfile = 'strict';
    expect(pool.tryRun(strict, {})).toBeNull();
    expect(pool.readyCount).toBe(1);
    expect(runner.warm.runs).toEqual([]);
  });

  it('the output cap is chosen per execution: it does not change the key', () => {
    expect(poolKey(spec('standard', { outputBytes: 10 }))).toBe(poolKey(spec('standard', { outputBytes: 20 })));
    expect(poolKey(spec('standard', { pids: 10 }))).not.toBe(poolKey(spec('standard', { pids: 20 })));
  });

  it('a spec of no pooled class runs cold and is counted as unmatched', async () => {
    make(1).start();
    await ticks(5);
    const other = spec('standard', { memoryBytes: 512 * MiB });
    other.labels = { 'org.kata-exec.profile': 'standard' };
    expect(pool.tryRun(other, {})).toBeNull();
    expect(await counter(metrics, 'kata_exec_pool_unmatched_total')).toBe(1);
    expect(await counter(metrics, 'kata_exec_pool_misses_total')).toBe(0);
  });

  it('a pooled sandbox that died while idle is dropped, never handed out', async () => {
    make(1).start();
    await ticks(5);
    const deadId = runner.warm.created[0]!.id;
    runner.dead.add(deadId);
    idle = false;
    expect(pool.tryRun(spec('standard'), {})).toBeNull();
    expect(runner.warm.runs).toEqual([]);
    expect(runner.warm.destroyed).toContain(deadId);
    expect(await counter(metrics, 'kata_exec_pool_lost_total')).toBe(1);
    expect(await counter(metrics, 'kata_exec_pool_misses_total')).toBe(1);
  });

  it('a pooled sandbox lost between hand-out and the program runs the request cold', async () => {
    make(1).start();
    await ticks(5);
    runner.loseWarmRuns(1);
    runner.next({ stdout: 'cold\n' });
    const r = await pool.tryRun(spec('standard'), {});
    expect(r?.stdout.data.toString()).toBe('cold\n');
    expect(runner.warm.runs).toHaveLength(1);
    expect(runner.calls).toHaveLength(1);
    expect(await counter(metrics, 'kata_exec_pool_lost_total')).toBe(1);
  });

  it('an empty pool is a miss, counted, and the cold path', async () => {
    idle = false;
    make(1).start();
    await ticks(5);
    expect(pool.tryRun(spec('standard'), {})).toBeNull();
    expect(await counter(metrics, 'kata_exec_pool_misses_total')).toBe(1);
  });

  it('refills only while a slot is idle', async () => {
    idle = false;
    make(2).start();
    await ticks(10);
    expect(runner.warm.created).toHaveLength(0);
    idle = true;
    await ticks(10);
    expect(pool.readyCount).toBe(2);
  });

  it('destroys sandboxes older than maxAgeMs and makes new ones', async () => {
    make(1, ['standard'], 1000).start();
    await ticks(2);
    const first = runner.warm.created[0]!.id;
    await ticks(10);
    expect(runner.warm.destroyed).toContain(first);
    expect(pool.readyCount).toBe(1);
  });

  it('backs off after a failed creation instead of spinning', async () => {
    runner.failCreate(new Error('boom'), 3);
    make(1).start();
    await ticks(20);
    // Three failures wait 1 s, 2 s, 3 s before the next try: at most 3 tries in 4 s.
    expect(runner.warm.created).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pool.readyCount).toBe(1);
  });

  describe('a compiled class beside the default one', () => {
    /** A compiled class's sandbox: the compile's memory (512 MiB) instead of the default 256. */
    const template = (c: PoolClass, compiledMb = 512) => spec(c.profile, c.kind === 'compiled' ? { memoryBytes: compiledMb * MiB } : {});
    const classes: PoolClass[] = [
      { profile: 'standard', kind: 'default' },
      { profile: 'standard', kind: 'compiled' },
    ];
    let wanted: boolean;
    const makeTwo = (compiledMb = 512) => {
      pool = new WarmPool(
        { size: 1, classes, maxAgeMs: 60_000 },
        { runner, template: (c) => template(c, compiledMb), wanted: (c) => c.kind === 'default' || wanted, canRefill: () => idle, metrics, logger: quiet },
      );
      return pool;
    };
    beforeEach(() => {
      wanted = true;
    });

    it('keeps sandboxes of each; a request of the compiled size takes one of those, counted as the compiled class', async () => {
      makeTwo().start();
      await ticks(10);
      expect(pool.readyCount).toBe(2);
      expect(runner.warm.created.map((w) => w.template.resources.memoryBytes / MiB).sort()).toEqual([256, 512]);
      const compiledId = runner.warm.created.find((w) => w.template.resources.memoryBytes === 512 * MiB)!.id;
      runner.next({ stdout: 'built\n' });
      const r = await pool.tryRun(spec('standard', { memoryBytes: 512 * MiB }), {});
      expect(r?.stdout.data.toString()).toBe('built\n');
      expect(runner.warm.runs.map((x) => x.sandbox)).toEqual([compiledId]);
      const hits = (await metrics.registry.getSingleMetric('kata_exec_pool_hits_total')!.get()).values;
      expect(hits).toEqual([{ value: 1, labels: { profile: 'standard', class: 'compiled' } }]);
    });

    it('is the default class when its sandbox is the same (the default memory already holds the compile)', async () => {
      makeTwo(256).start();
      await ticks(10);
      expect(pool.classes).toEqual([{ profile: 'standard', kind: 'default' }]);
      expect(pool.readyCount).toBe(1);
    });

    it('is not filled while not wanted (no compiled language in the image), and its sandboxes go when it stops being wanted', async () => {
      wanted = false;
      makeTwo().start();
      await ticks(10);
      expect(runner.warm.created.map((w) => w.template.resources.memoryBytes / MiB)).toEqual([256]);
      wanted = true;
      await ticks(10);
      expect(pool.readyCount).toBe(2);
      const compiledId = runner.warm.created.find((w) => w.template.resources.memoryBytes === 512 * MiB)!.id;
      wanted = false;
      await ticks(2);
      expect(runner.warm.destroyed).toContain(compiledId);
      expect(pool.readyCount).toBe(1);
    });
  });

  it('drain destroys every ready sandbox and stops refilling', async () => {
    make(2).start();
    await ticks(10);
    const ids = runner.warm.created.map((w) => w.id);
    await pool.drain();
    expect(runner.warm.destroyed.sort()).toEqual(ids.sort());
    expect(pool.readyCount).toBe(0);
    await ticks(10);
    expect(runner.warm.created).toHaveLength(2);
    expect(pool.tryRun(spec('standard'), {})).toBeNull();
  });
});
