/**
 * The launcher (every sandbox's init) alone writes believed frames: a program cannot forge
 * the end of its run. It tries each way in: writing a fake end frame to the launcher's
 * stdout (/proc/1/fd/1), printing frame-like bytes on its own, signalling the launcher,
 * ptracing it, reading its memory: the program runs as another user than the launcher, and
 * every way is closed. On both paths (cold and warm), on every test runtime.
 * And when the launcher dies without its end frame, the answer is sandbox_error, never a
 * made-up ok.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { execute, runningTaskIds, testContainerd, testRuntimes } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';
import { useService } from './hostile-case.js';

/** Each way to the launcher: its descriptors, memory and environment, and ptrace. */
const PROBE = [
  'import ctypes, errno, json, os',
  'out = {}',
  'for path in ["/proc/1/fd/1", "/proc/1/fd/2", "/proc/1/fd/0", "/proc/1/mem", "/proc/1/environ"]:',
  '    try:',
  '        os.close(os.open(path, os.O_WRONLY if path.endswith(("/1", "/2")) else os.O_RDONLY))',
  '        out[path] = "OPENED"',
  '    except OSError as e:',
  '        out[path] = errno.errorcode[e.errno]',
  'libc = ctypes.CDLL(None, use_errno=True)',
  // PTRACE_ATTACH (16) and PTRACE_SEIZE (0x4206) on pid 1.
  'for name, req in [("attach", 16), ("seize", 0x4206)]:',
  '    r = libc.ptrace(req, 1, 0, 0)',
  '    out["ptrace-" + name] = "ATTACHED" if r == 0 else errno.errorcode[ctypes.get_errno()]',
  'print(json.dumps(out))',
  'raise SystemExit(3)',
].join('\n');

/**
 * Fake frames: on its own stdout and stderr (plain output, relayed inside the launcher's
 * frames), and into the launcher's stdout where the runtime lets it open /proc/1/fd/1.
 * A guessed nonce, an exit 0: never believed. The program then exits 3.
 */
const FORGER = [
  'import os, struct',
  'def frame(t, p): return t + struct.pack(">I", len(p)) + p',
  'fake = frame(b"S", b"kx-start-0") + frame(b"X", b"kx-start-0 exit 0 0 0 0") + frame(b"R", b"kx-launch 1")',
  'os.write(1, fake)',
  'os.write(2, fake)',
  'for path in ["/proc/1/fd/1", "/proc/1/fd/2"]:',
  '    try:',
  '        fd = os.open(path, os.O_WRONLY)',
  '        os.write(fd, fake)',
  '    except OSError:',
  '        pass',
  'raise SystemExit(3)',
].join('\n');

/**
 * The program runs as nobody, the launcher as root (sandbox/ctr-spec.ts launcherInit): on
 * every runtime none of the launcher's descriptors, nor its memory, opens, nothing reaches
 * it, and the forger's run ends as it did (exit 3), with its own output relayed. (Before
 * the program had a uid of its own, gVisor's procfs, which checks the uid and not
 * dumpability, let it open /proc/1/fd/*, and its Sentry delivered its signals to the
 * launcher.) gVisor (runsc 2022-12) still opens /proc/1/environ to anyone: it holds the
 * sandbox's environment, which the program's own holds too (the request's env goes to the
 * program only), and never the run's nonce, which comes on stdin.
 */
const OPENS: Record<string, string[]> = { runc: [], kata: [], gvisor: ['/proc/1/environ'] };
const FORGED = { status: 'error', exitCode: 3, stdout: expect.stringContaining('kx-start-0 exit 0 0 0 0') };

/** Signals to the launcher from inside the sandbox; then the program's own exit 3. */
const SIGNALLER = [
  'import errno, json, os, signal, time',
  'out = {}',
  'for sig in [signal.SIGTERM, signal.SIGPIPE, signal.SIGSTOP, signal.SIGKILL]:',
  '    try:',
  '        os.kill(1, sig)',
  '        out[sig.name] = "SENT"',
  '    except OSError as e:',
  '        out[sig.name] = errno.errorcode[e.errno]',
  'print(json.dumps(out))',
  'time.sleep(0.5)',
  'raise SystemExit(3)',
].join('\n');

const PATHS = [
  ['cold', { limits: { memoryMb: 200 } }],
  ['warm', {}],
] as const;

describe.each(testRuntimes())('the launcher on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' });
  const run = async (path: 'cold' | 'warm', code: string, extra: object) => {
    await waitFor('a warm sandbox', () => path === 'cold' || svc().pool.readyCount === 1, 60_000);
    const r = await execute(svc(), { language: 'python', code, timeoutMs: 20_000, ...extra });
    expect(r.sandboxId === r.id).toBe(path === 'cold');
    return r;
  };

  it.each(PATHS)('a program cannot reach the launcher on the %s path', async (path, extra) => {
    const r = await run(path, PROBE, extra);
    // Signals did not reach init: the program ran on to its own end.
    expect(r).toMatchObject({ status: 'error', exitCode: 3, signal: null });
    const attempts = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(attempts).filter((k) => attempts[k] === 'OPENED')).toEqual(OPENS[runtime]);
    for (const p of ['/proc/1/fd/1', '/proc/1/fd/2', '/proc/1/fd/0']) expect(attempts[p]).toBe('EACCES');
    expect(attempts['/proc/1/mem']).toBe('EACCES');
    expect(attempts['ptrace-attach']).toBe('EPERM');
    expect(attempts['ptrace-seize']).toBe('EPERM');
    expect(r.usage!.maxRssKb).toBeGreaterThan(0);
  }, 120_000);

  it.each(PATHS)('a program cannot signal the launcher on the %s path: another uid\'s process', async (path, extra) => {
    const r = await run(path, SIGNALLER, extra);
    expect(r).toMatchObject({ status: 'error', exitCode: 3, signal: null, usage: expect.objectContaining({ maxRssKb: expect.any(Number) }) });
    expect(JSON.parse(r.stdout)).toEqual({ SIGTERM: 'EPERM', SIGPIPE: 'EPERM', SIGSTOP: 'EPERM', SIGKILL: 'EPERM' });
  }, 120_000);

  it.each(PATHS)('a program cannot forge the end of its run on the %s path', async (path, extra) => {
    const r = await run(path, FORGER, extra);
    expect(r.status).not.toBe('ok');
    expect(r).toMatchObject(FORGED);
    // The service is fine afterwards.
    const next = await execute(svc(), { language: 'python', code: 'print(6*7)' });
    expect(next).toMatchObject({ status: 'ok', stdout: '42\n' });
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
