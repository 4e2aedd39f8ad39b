/**
 * The warm pool against the real containerd, on every runtime: single use, refill,
 * fallback to the cold path (an empty class, other limits, a pooled sandbox that died),
 * drain on shutdown, no leaks, and hostile programs through the warm path.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_LEAKS, containerIds, counter, ctr, execute, pooledRuntimes, settledLeaks, startRealService, testRuntimes, type RealService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { KILL_SLACK_MS } from '../helpers/timing.js';

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

  it('gives the program a writable working directory and reports its usage, as the cold path does', async () => {
    await waitFor('a full pool', full);
    const r = await warm({ language: 'python', code: 'open("out.txt", "w").write("x" * 100)\nprint(open("/code/out.txt").read().count("x"), sum(range(3_000_000)) > 0)' });
    expect(r).toMatchObject({ status: 'ok', stdout: '100 True\n' });
    expect(r.usage!.cpuUserMs + r.usage!.cpuSysMs).toBeGreaterThan(0);
    expect(r.usage!.maxRssKb).toBeGreaterThan(1000);
  });

  it('notices a pooled sandbox that died before hand-out and runs the request cold: never a 502', async () => {
    await waitFor('a full pool', full);
    const lost = await counter(svc, 'kata_exec_pool_lost_total');
    // Someone else deletes every pooled sandbox under the service.
    const pooled = containerIds().filter((id) => /^kx-[0-9a-f]{20}$/.test(id));
    expect(pooled.length).toBe(2);
    for (const id of pooled) ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]);
    const r = await execute(svc, { language: 'python', code: 'print(6*7)' });
    expect(r).toMatchObject({ status: 'ok', stdout: '42\n' });
    expect(r.sandboxId).toBe(r.id);
    expect(pooled).not.toContain(r.sandboxId);
    expect(await counter(svc, 'kata_exec_pool_lost_total')).toBeGreaterThanOrEqual(lost + 1);
    await waitFor('the pool to refill', full);
  });

  it('falls back to the cold path when no warm sandbox is ready, or the limits differ', async () => {
    await waitFor('a full pool', full);
    const misses = await counter(svc, 'kata_exec_pool_misses_total');
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => execute(svc, { language: 'javascript', code: `console.log(${i})` })));
    results.forEach((r, i) => expect(r.stdout).toBe(`${i}\n`));
    expect(await counter(svc, 'kata_exec_pool_misses_total')).toBeGreaterThanOrEqual(misses + 1);
    const unmatched = await counter(svc, 'kata_exec_pool_unmatched_total');
    const custom = await execute(svc, { language: 'python', code: 'print("custom")', limits: { memoryMb: 200 } });
    expect(custom).toMatchObject({ status: 'ok', stdout: 'custom\n' });
    expect(custom.limits.memoryMb).toBe(200);
    expect(custom.sandboxId).toBe(custom.id);
    // Counted: it ran cold because no pooled class has its limits.
    expect(await counter(svc, 'kata_exec_pool_unmatched_total')).toBe(unmatched + 1);
  });

  it('kills what the program left behind and answers promptly (setsid/nohup children)', async () => {
    await waitFor('a full pool', full);
    const r = await warm({ language: 'bash', code: 'setsid sleep 3131 & nohup sleep 3132 >/dev/null 2>&1 & echo started', timeoutMs: 30000 });
    expect(r).toMatchObject({ status: 'ok', stdout: 'started\n' });
    expect(r.durationMs).toBeLessThan(KILL_SLACK_MS);
    await waitFor('the children to be gone', () => !/sleep 313[12]/.test(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })), 10_000);
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

// gVisor's pool too: the pooled program runs under the launcher, the sandbox's init, so it
// gets init's filter (before the launcher, `runsc exec` started it without one).
describe.each(testRuntimes().filter((r) => r === 'gvisor'))('warm hardened pool on %s', (runtime) => {
  it('runs a pooled program under the hardened filter', async () => {
    const svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'hardened' });
    try {
      await waitFor('the pool to fill', () => svc.pool.readyCount === 1);
      const hits = await counter(svc, 'kata_exec_pool_hits_total');
      const code = [
        'import ctypes, os',
        'libc = ctypes.CDLL(None, use_errno=True)',
        // unshare(CLONE_NEWUSER) and ptrace(PTRACE_ATTACH, 1): both denied by the hardened filter.
        'print(libc.syscall(272, 0x10000000), os.strerror(ctypes.get_errno()))',
        'print(libc.syscall(101, 16, 1, 0, 0), os.strerror(ctypes.get_errno()))',
      ].join('\n');
      const r = await execute(svc, { language: 'python', code, profile: 'hardened' });
      expect(await counter(svc, 'kata_exec_pool_hits_total')).toBe(hits + 1);
      expect(r).toMatchObject({ status: 'ok', stdout: '-1 Operation not permitted\n-1 Operation not permitted\n' });
      expect(r.limitsEnforced.seccomp).toBe(true);
    } finally {
      await svc.close();
    }
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });
});
