/**
 * The launcher (every sandbox's init) alone writes frames: a program cannot forge the end
 * of its run. It tries each way in: writing a fake end frame to the launcher's stdout
 * (/proc/1/fd/1), printing frame-like bytes on its own, killing the launcher, ptracing it,
 * reading its memory. On both paths (cold and warm), on every test runtime. And when the
 * launcher dies without its end frame, the answer is sandbox_error, never a made-up ok.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { execute, runningTaskIds, testContainerd, testRuntimes } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { hostile, useService } from './hostile-case.js';

/** Every attempt prints its outcome; the program then exits 3 (so a forged ok would show). */
const FORGER = [
  'import ctypes, errno, os, signal, struct, time',
  'def frame(t, p): return t + struct.pack(">I", len(p)) + p',
  // Guesses at the end frame: any nonce, exit 0.
  'fake = frame(b"S", b"kx-start-0") + frame(b"X", b"kx-start-0 exit 0 0 0 0") + frame(b"R", b"kx-launch 1")',
  'out = {}',
  'for path in ["/proc/1/fd/1", "/proc/1/fd/2", "/proc/1/fd/0", "/proc/1/mem", "/proc/1/environ"]:',
  '    try:',
  '        fd = os.open(path, os.O_WRONLY if path.endswith(("/1", "/2")) else os.O_RDONLY)',
  '        out[path] = "OPENED"',
  '        if path.endswith(("/1", "/2")): os.write(fd, fake)',
  '    except OSError as e:',
  '        out[path] = errno.errorcode[e.errno]',
  'libc = ctypes.CDLL(None, use_errno=True)',
  // PTRACE_ATTACH (16) and PTRACE_SEIZE (0x4206) on pid 1.
  'for name, req in [("attach", 16), ("seize", 0x4206)]:',
  '    r = libc.ptrace(req, 1, 0, 0)',
  '    out["ptrace-" + name] = "ATTACHED" if r == 0 else errno.errorcode[ctypes.get_errno()]',
  // Signals to init from inside its PID namespace: ignored by the kernel (it has no handler for them).
  'for sig in [signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGPIPE]:',
  '    try: os.kill(1, sig)',
  '    except OSError as e: pass',
  'time.sleep(0.3)',
  'os.write(1, fake)',
  'os.write(2, fake)',
  'import json, sys; sys.stdout.write("\\n" + json.dumps(out) + "\\n"); sys.stdout.flush()',
  'os._exit(3)',
].join('\n');

const PATHS = [
  ['cold', { limits: { memoryMb: 200 } }],
  ['warm', {}],
] as const;

describe.each(testRuntimes())('the launcher on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' });

  it.each(PATHS)('a program cannot forge the end of its run on the %s path', async (path, extra) => {
    await waitFor('a warm sandbox', () => path === 'cold' || svc().pool.readyCount === 1, 60_000);
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code: FORGER, timeoutMs: 20_000, ...extra }));
    expect(r.sandboxId === r.id).toBe(path === 'cold');
    // Its real end: exit 3, with its frame-like bytes as plain output on both streams.
    expect(r).toMatchObject({ status: 'error', exitCode: 3, signal: null });
    expect(r.stdout.startsWith('\u0000\u0000\u0000')).toBe(false);
    expect(r.stdout).toContain('kx-start-0 exit 0 0 0 0');
    expect(r.stderr).toContain('kx-start-0 exit 0 0 0 0');
    const attempts = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string>;
    // Not dumpable and another process: neither its descriptors nor its memory nor ptrace.
    for (const p of ['/proc/1/fd/1', '/proc/1/fd/2', '/proc/1/fd/0', '/proc/1/mem', '/proc/1/environ']) expect(attempts[p], p).toMatch(/^(EACCES|EPERM|ENOENT)$/);
    expect(attempts['ptrace-attach']).toBe('EPERM');
    expect(attempts['ptrace-seize']).toBe('EPERM');
    expect(r.usage).not.toBeNull();
  }, 120_000);

  it('a launcher that dies without its end frame answers sandbox_error, never ok', async () => {
    await waitFor('the pool to be full (no sandbox starts but ours)', () => svc().pool.readyCount === 1, 60_000);
    const before = new Set(runningTaskIds());
    const c = testContainerd();
    const ps = (t: string) => execFileSync('ctr', ['--address', c.address, '-n', c.namespace, 'tasks', 'ps', t], { encoding: 'utf8' }).trim().split('\n');
    const answer = execute(svc(), { language: 'bash', code: 'echo started; sleep 20; exit 0', timeoutMs: 60_000, limits: { memoryMb: 200 } });
    let id = '';
    await waitFor('the sandbox to run its program', () => {
      // Ours: a new task with the launcher and its program (header, then two processes at least).
      id = runningTaskIds().find((t) => !before.has(t) && ps(t).length >= 3) ?? '';
      return id !== '';
    });
    // The init process on the host (the launcher under runc; gVisor's sandbox process), from ctr's task list.
    const list = execFileSync('ctr', ['--address', c.address, '-n', c.namespace, 'tasks', 'list'], { encoding: 'utf8' });
    const pid = Number(list.split('\n').find((l) => l.startsWith(`${id} `))!.trim().split(/\s+/)[1]);
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, 'SIGKILL');
    const r = await answer;
    expect(r).toMatchObject({ status: 'sandbox_error', exitCode: null, usage: null });
  }, 120_000);
});
