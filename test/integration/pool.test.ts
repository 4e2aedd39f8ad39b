/**
 * The warm pool against the real containerd: single use, refill, fallback to the cold
 * path, drain on shutdown, no leaks, and hostile programs through the warm path.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_LEAKS, containerIds, execute, pooledRuntimes, settledLeaks, startRealService, testRuntimes, type RealService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { KILL_SLACK_MS } from '../helpers/timing.js';

async function counter(svc: RealService, name: string): Promise<number> {
  const m = await svc.metrics.registry.getSingleMetricAsString(name);
  return m
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe.each(pooledRuntimes())('warm pool on %s', (runtime) => {
  let svc: RealService;
  const full = () => svc.pool.readyCount === 2;
  /** Runs the request and checks that it really was served by a warm sandbox (one pool hit). */
  const warm = async (req: Parameters<typeof execute>[1]) => {
    const hits = await counter(svc, 'kata_exec_pool_hits_total');
    const r = await execute(svc, req);
    expect(await counter(svc, 'kata_exec_pool_hits_total'), 'served by the pool').toBe(hits + 1);
    return r;
  };

  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '2', KATA_EXEC_POOL_PROFILES: 'standard', KATA_EXEC_CONCURRENCY: '2' });
    await waitFor('the pool to fill', full);
  });
  let closed = false;
  afterAll(async () => {
    if (!closed) await svc.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  it('serves from a warm sandbox, uses it once, deletes it and refills', async () => {
    const before = new Set(containerIds());
    const hits = await counter(svc, 'kata_exec_pool_hits_total');
    const r = await execute(svc, { language: 'python', code: 'print(6*7)' });
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n', stderr: '' });
    expect(await counter(svc, 'kata_exec_pool_hits_total')).toBe(hits + 1);
    // The result names the warm container it ran in; its own id is the execution's.
    expect(before.has(r.sandboxId)).toBe(true);
    expect(r.id).not.toBe(r.sandboxId);
    // One of the warm sandboxes is gone for good, and a new one takes its place.
    await waitFor('the used sandbox to be deleted', () => [...before].filter((id) => !containerIds().includes(id)).length === 1);
    await waitFor('the pool to refill', full);
    expect(containerIds().filter((id) => before.has(id)).length).toBe(1);
  });

  it('never shows one execution what another wrote', async () => {
    await waitFor('a full pool', full);
    // Globs, not ls: coreutils' statx on a directory fails with EINVAL under this gVisor build.
    const a = await warm({ language: 'bash', code: 'echo secret > /tmp/left-behind; echo /tmp/*' });
    expect(a.stdout).toBe('/tmp/left-behind\n');
    const b = await warm({ language: 'bash', code: 'shopt -s nullglob dotglob; echo /code/* /tmp/*; test -e /tmp/left-behind && echo LEAKED || echo clean' });
    expect(b.stdout).toBe('/code/main.sh\nclean\n');
  });

  it('falls back to the cold path when no warm sandbox is ready, or the limits differ', async () => {
    await waitFor('a full pool', full);
    const misses = await counter(svc, 'kata_exec_pool_misses_total');
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => execute(svc, { language: 'javascript', code: `console.log(${i})` })));
    results.forEach((r, i) => expect(r.stdout).toBe(`${i}\n`));
    expect(await counter(svc, 'kata_exec_pool_misses_total')).toBeGreaterThanOrEqual(misses + 1);
    const custom = await execute(svc, { language: 'python', code: 'print("custom")', limits: { memoryMb: 200 } });
    expect(custom).toMatchObject({ status: 'ok', stdout: 'custom\n' });
    expect(custom.limits.memoryMb).toBe(200);
    expect(custom.sandboxId).toBe(custom.id);
  });

  it('kills what the program left behind and answers promptly (setsid/nohup children)', async () => {
    await waitFor('a full pool', full);
    const r = await warm({ language: 'bash', code: 'setsid sleep 300 & nohup sleep 301 >/dev/null 2>&1 & echo started', timeoutMs: 30000 });
    expect(r).toMatchObject({ status: 'ok', stdout: 'started\n' });
    expect(r.durationMs).toBeLessThan(KILL_SLACK_MS);
    await waitFor('the children to be gone', () => !/sleep 30[01]/.test(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })), 10_000);
  });

  it('enforces the timeout, output cap and memory limit on the warm path as on the cold one', async () => {
    await waitFor('a full pool', full);
    const t = await warm({ language: 'python', code: 'while True: pass', timeoutMs: 1500 });
    expect(t.status).toBe('timeout');
    expect(t.durationMs).toBeLessThan(1500 + KILL_SLACK_MS);
    await waitFor('a full pool', full);
    const o = await warm({ language: 'bash', code: 'yes', limits: { outputBytes: 65536 } });
    expect(o.status).toBe('output_limit');
    expect(o.truncated).toBe(true);
    await waitFor('a full pool', full);
    const m = await warm({ language: 'python', code: 'a=[]\nwhile True: a.append(bytearray(1<<20))' });
    expect(m.status, JSON.stringify({ exitCode: m.exitCode, stderr: m.stderr.slice(-300) })).toBe('oom');
    const next = await execute(svc, { language: 'python', code: 'print(6*7)' });
    expect(next.stdout).toBe('42\n');
  });

  // Last: it closes the service (one service per containerd namespace: closing deletes all).
  it('drains on shutdown: every warm sandbox is deleted', async () => {
    await waitFor('a full pool', full);
    // The two warm sandboxes, once the last used one is deleted in the background.
    await waitFor('only the warm sandboxes', () => containerIds().filter((id) => /^kx-[0-9a-f]{20}$/.test(id)).length === 2);
    await svc.close();
    closed = true;
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });
});

// gVisor: a program started by `runsc exec` in a running sandbox does not get the OCI
// seccomp filter its init got, so there is no warm pool there: every execution runs cold.
describe.each(testRuntimes().filter((r) => !pooledRuntimes().includes(r)))('no warm pool on %s', (runtime) => {
  it('keeps no warm sandbox, and runs every execution cold under its filter', async () => {
    const svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '2', KATA_EXEC_POOL_PROFILES: 'standard,hardened' });
    try {
      const r = await execute(svc, { language: 'python', code: 'print(6*7)' });
      expect(r).toMatchObject({ status: 'ok', stdout: '42\n' });
      expect(r.sandboxId).toBe(r.id);
      expect(r.limitsEnforced.seccomp).toBe(true);
      expect(svc.pool.readyCount).toBe(0);
      expect(await counter(svc, 'kata_exec_pool_hits_total')).toBe(0);
    } finally {
      await svc.close();
    }
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });
});
