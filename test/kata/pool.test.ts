/**
 * The warm pool on real Kata VMs: a VM booted ahead, its launcher waiting, used once,
 * destroyed, and replaced; a warm execution's answer excludes the VM boot.
 */
import { describe, expect, it } from 'vitest';
import { counter, execute, NO_LEAKS, settledLeaks } from '../helpers/real-service.js';
import { leftoversOf, sandboxIds, settledLeftoversOf, useKataService, waitFor } from './kata-helpers.js';

const T = 120_000;

describe('Kata: the warm pool', () => {
  const svc = useKataService({
    KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T),
    KATA_EXEC_TIMEOUT_MS_MAX: String(T),
    KATA_EXEC_POOL_SIZE: '1',
    KATA_EXEC_POOL_PROFILES: 'standard',
  });

  it('boots a VM ahead, uses it once, destroys it and boots the next; the warm answer excludes the boot', async () => {
    await waitFor('a VM booted ahead', () => svc().pool.readyCount === 1, 180_000);
    const [warmId] = sandboxIds();
    expect(warmId).toBeDefined();
    // Booted: its qemu and shim are running before any request.
    expect(leftoversOf(warmId!).some((l) => l.startsWith('process') && l.includes('qemu'))).toBe(true);

    const hits = await counter(svc(), 'kata_exec_pool_hits_total');
    const warm = await execute(svc(), { language: 'python', code: 'import os\nprint(6*7, os.uname().release)' });
    expect(warm, warm.stderr).toMatchObject({ status: 'ok', exitCode: 0 });
    const [answer, release] = warm.stdout.trim().split(' ');
    expect(answer).toBe('42');
    expect(release).not.toBe((await import('node:os')).release());
    expect(await counter(svc(), 'kata_exec_pool_hits_total')).toBe(hits + 1);

    // Used once: that VM is destroyed, nothing of it is left, and another takes its place.
    expect(await settledLeftoversOf(warmId!, 60_000)).toEqual([]);
    await waitFor('the pool to refill', () => svc().pool.readyCount === 1 && !sandboxIds().includes(warmId!), 180_000);

    // A cold execution (other limits than the pool's) boots its VM inside the request.
    const cold = await execute(svc(), { language: 'python', code: 'print(6*7)', limits: { memoryMb: 200 } });
    expect(cold.stdout).toBe('42\n');
    expect(warm.timing.setupMs, JSON.stringify({ warm: warm.timing, cold: cold.timing })).toBeLessThan(cold.timing.setupMs);
    expect(warm.durationMs).toBeLessThan(cold.durationMs);
  });

  it('the warm path is a fresh VM each time: nothing one execution wrote is seen by the next', async () => {
    await waitFor('a VM booted ahead', () => svc().pool.readyCount === 1, 180_000);
    const a = await execute(svc(), { language: 'bash', code: 'echo secret > /tmp/left-behind; echo /tmp/*' });
    expect(a.stdout).toBe('/tmp/left-behind\n');
    await waitFor('a VM booted ahead', () => svc().pool.readyCount === 1, 180_000);
    const b = await execute(svc(), { language: 'bash', code: 'test -e /tmp/left-behind && echo LEAKED || echo clean' });
    expect(b.stdout).toBe('clean\n');
  });

  it('drains on shutdown: the warm VM is destroyed', async () => {
    await waitFor('a VM booted ahead', () => svc().pool.readyCount === 1, 180_000);
    await svc().close();
    expect(await settledLeaks(svc().runDir)).toEqual(NO_LEAKS);
  });
});
