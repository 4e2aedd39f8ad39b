/**
 * The start wrapper belongs to the service, not to the request: the request's `env`
 * reaches the program only (never the /bin/sh that prints the start marker), so nothing a
 * program sets can run before the marker, fake one of ctr's errors there, or make the
 * service retry it or blame containerd.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { post, testRuntimes } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { hostile, useService } from './hostile-case.js';
import { buildFakeCtrLibrary, expectTracemeLikeControl, FAKE_CTR_LINE, TRACEME } from '../helpers/hostile-programs.js';

describe.each(testRuntimes())('the start wrapper on %s', (runtime) => {
  const svc = useService(runtime);
  let fakeSo: Buffer;
  beforeAll(() => {
    fakeSo = buildFakeCtrLibrary();
  });

  it('LD_TRACE_LOADED_OBJECTS applies to the program only: it lists its libraries, once, and is ok', async () => {
    const r = await hostile(svc(), () => post(svc(), { language: 'python', code: 'print("never")', env: { LD_TRACE_LOADED_OBJECTS: '1' } }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(r.json.stdout).toMatch(/libc\.so\.6 =>/);
    expect(r.json.stdout).not.toContain('never');
  }, 120_000);

  it('an LD_PRELOAD library that fakes a ctr error is the program failing, not containerd', async () => {
    const metricsBefore = await (await fetch(`${svc().url}/metrics`)).text();
    const r = await hostile(svc(), () =>
      post(svc(), {
        language: 'python',
        files: [
          { path: 'main.py', content: 'print("never")' },
          { path: 'fake.so', content: fakeSo.toString('base64'), encoding: 'base64' },
        ],
        env: { LD_PRELOAD: '/code/fake.so' },
      }),
    );
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(r.json).toMatchObject({ status: 'error', exitCode: 1, stdout: '' });
    expect(r.json.stderr).toContain(FAKE_CTR_LINE);
    // No infrastructure failure was counted for it.
    const failures = (m: string) => m.split('\n').filter((l) => l.startsWith('kata_exec_failures_total{'));
    expect(failures(await (await fetch(`${svc().url}/metrics`)).text())).toEqual(failures(metricsBefore));
  }, 120_000);
});

describe.each(testRuntimes())('PTRACE_TRACEME and a self-signal on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' });

  const hits = async () => Number(/^kata_exec_pool_hits_total\{[^}]*\} (\d+)$/m.exec(await svc().metrics.registry.metrics())?.[1] ?? 0);

  // The same program with and without PTRACE_TRACEME: the answer is the same, as it is
  // what the program did (the kernel's answer to the self-signal), not what ctr or the
  // wrapper made of a tracee nobody could handle.
  const paths = [
    ['warm', {}],
    ['cold', { limits: { memoryMb: 200 } }],
  ] as const;
  it.each(paths)('gets a true status on the %s path', async (path, extra) => {
    await expectTracemeLikeControl(async (args) => {
      await waitFor('a warm sandbox, for the warm path', () => path === 'cold' || svc().pool.readyCount >= 1, 60_000);
      const before = await hits();
      const r = await post(svc(), { language: 'python', code: TRACEME, args, timeoutMs: 20_000, ...extra });
      expect(await hits()).toBe(path === 'warm' ? before + 1 : before);
      return r;
    });
  }, 180_000);
});
