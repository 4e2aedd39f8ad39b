/**
 * The warm pool on real Kata VMs: a VM booted ahead, its launcher waiting, used once,
 * destroyed, and replaced; a warm execution's answer excludes the VM boot. And the class of
 * compiled languages (`standard:compiled`): a C submission at a judge site's defaults is
 * compiled and judged in a VM booted ahead.
 */
import { describe, expect, it } from 'vitest';
import { JUDGE_PROGRAMS } from '../helpers/judge-programs.js';
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
    // The boot is in the cold setup and not in the warm one. (Nothing compares whole durations:
    // the emulated guest's python takes seconds that vary with the host's load.)
    expect(warm.timing.setupMs, JSON.stringify({ warm: warm.timing, cold: cold.timing })).toBeLessThan(cold.timing.setupMs);
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

describe('Kata: the warm pool of compiled languages', () => {
  // Only that class: one VM boots at a time (two booting side by side under TCG may both
  // miss the emulated agent's start window). A compile in the guest gets the matrix's room.
  const svc = useKataService({
    KATA_EXEC_TIMEOUT_MS_DEFAULT: '900000',
    KATA_EXEC_TIMEOUT_MS_MAX: '900000',
    KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: '240000',
    // A test's wall clock: the 2 s default is the host's; an emulated guest on a busy host
    // took longer than that to touch 64 MiB (time_limit, not memory_limit, twice in CI).
    KATA_EXEC_TEST_TIMEOUT_MS_DEFAULT: '60000',
    KATA_EXEC_POOL_SIZE: '1',
    KATA_EXEC_POOL_PROFILES: 'standard:compiled',
  });

  it("a C submission with no limits (a judge site's defaults) is compiled and judged in the VM booted ahead, each test with its own memory limit", async () => {
    await waitFor('a VM of the compiled class booted ahead', () => svc().pool.readyCount === 1, 180_000);
    const [warmId] = sandboxIds();
    expect(warmId).toBeDefined();
    const hits = await counter(svc(), 'kata_exec_pool_hits_total', 'class="compiled"');
    const r = await execute(svc(), {
      language: 'c',
      code: JUDGE_PROGRAMS.c!.judge,
      tests: [
        { stdin: 'double 21', expectedOutput: '42' },
        { stdin: 'double 5', expectedOutput: '11' },
        { stdin: 'hog', memoryMb: 64 },
      ],
    });
    expect(await counter(svc(), 'kata_exec_pool_hits_total', 'class="compiled"'), 'served by the compiled class').toBe(hits + 1);
    expect(r.sandboxId).toBe(warmId);
    // The compiled class's sandbox: the compile's 512 MiB.
    expect(r.limits.memoryMb).toBe(512);
    expect(r.compile, r.compile?.stderr).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.tests!.map((t) => t.verdict), JSON.stringify(r.tests!.map((t) => [t.verdict, t.exitCode, t.maxRssKb]))).toEqual(['accepted', 'wrong_answer', 'memory_limit']);
    // Used once, destroyed, replaced.
    expect(await settledLeftoversOf(warmId!, 60_000)).toEqual([]);
    await waitFor('the pool to refill', () => svc().pool.readyCount === 1 && !sandboxIds().includes(warmId!), 180_000);
  });
});
