/**
 * The hardening of issue 10, where it applies to Kata, on real VMs: the request's env
 * reaches the program only (a program cannot fake one of ctr's errors or skip the start
 * marker), a self-traced program gets a true status, io_uring is closed under every
 * profile and `hardened` denies what it promises, and a Node.js memory bomb ends as `oom`.
 * (The HTTP-side items hold whatever the runtime; recovery is lifecycle.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { execute, post } from '../helpers/real-service.js';
import { buildFakeCtrLibrary, DENIED, expectTracemeLikeControl, FAKE_CTR_LINE, SYSCALL_PROBE, TRACEME } from '../helpers/hostile-programs.js';
import { settledLeftoversOf, useKataService } from './kata-helpers.js';

const T = 120_000;
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(T) };

describe('Kata: hardening on real VMs', () => {
  const svc = useKataService(ENV);

  it('LD_TRACE_LOADED_OBJECTS applies to the program only: it lists its libraries, once, and is ok', async () => {
    const r = await post(svc(), { language: 'python', code: 'print("never")', env: { LD_TRACE_LOADED_OBJECTS: '1' } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(r.json.stdout).toMatch(/libc\.so\.6 =>/);
    expect(r.json.stdout).not.toContain('never');
    expect(await settledLeftoversOf(r.json.id)).toEqual([]);
  });

  it('an LD_PRELOAD library that fakes a ctr error is the program failing, not containerd', async () => {
    const failures = async () =>
      (await (await fetch(`${svc().url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('kata_exec_failures_total{'));
    const before = await failures();
    const r = await post(svc(), {
      language: 'python',
      files: [
        { path: 'main.py', content: 'print("never")' },
        { path: 'fake.so', content: buildFakeCtrLibrary().toString('base64'), encoding: 'base64' },
      ],
      env: { LD_PRELOAD: '/code/fake.so' },
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(r.json).toMatchObject({ status: 'error', exitCode: 1, stdout: '' });
    expect(r.json.stderr).toContain(FAKE_CTR_LINE);
    expect(await failures()).toEqual(before);
  });

  it('PTRACE_TRACEME and a self-signal: the same true status as without it', async () => {
    await expectTracemeLikeControl((args) => post(svc(), { language: 'python', code: TRACEME, args }));
  });

  it('io_uring is closed under standard; hardened denies all five probes', async () => {
    const standard = await execute(svc(), { language: 'python', code: SYSCALL_PROBE, profile: 'standard' });
    expect(standard.status, standard.stderr).toBe('ok');
    expect(JSON.parse(standard.stdout).io_uring_setup).toMatch(DENIED);
    const hardened = await execute(svc(), { language: 'python', code: SYSCALL_PROBE, profile: 'hardened' });
    expect(hardened.status, hardened.stderr).toBe('ok');
    const out = JSON.parse(hardened.stdout) as Record<string, string>;
    expect(Object.keys(out).sort()).toEqual(['io_uring_setup', 'mknod_block', 'ptrace_traceme', 'syslog', 'unshare_newuser']);
    for (const [name, errno] of Object.entries(out)) expect(errno, name).toMatch(DENIED);
    expect(hardened.limitsEnforced.seccomp).toBe(true);
  });

  it('a Node.js memory bomb ends as oom, not timeout', async () => {
    const code = ['const chunks = [];', 'for (let i = 0; i < 256; i++) chunks.push(Buffer.alloc(1 << 20, 1));', 'console.log("survived");'].join('\n');
    const r = await execute(svc(), { language: 'javascript', code, limits: { memoryMb: 64 } });
    expect(r.stdout).not.toContain('survived');
    expect(r.status, `${r.status} after ${r.durationMs} ms: ${r.stderr.slice(0, 300)}`).toBe('oom');
  });
});
