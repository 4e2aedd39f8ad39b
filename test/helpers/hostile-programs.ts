/**
 * Hostile programs shared by the hostile tier (runc, gVisor) and the Kata tier: the syscall
 * probe, a library that fakes one of ctr's errors, and a program that asks to be traced.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

/**
 * Each probe runs in a forked child (PTRACE_TRACEME and unshare change the caller) and
 * reports "ok" or the errno's name. x86_64 syscall numbers.
 */
export const SYSCALL_PROBE = [
  'import ctypes, errno, json, os, stat',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'libc.syscall.restype = ctypes.c_long',
  'def sc(*a):',
  '    r = libc.syscall(*[ctypes.c_long(x) if isinstance(x, int) else x for x in a])',
  '    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")',
  'params = ctypes.create_string_buffer(120)',
  'probes = {',
  '    "io_uring_setup": lambda: sc(425, 4, params),',
  '    "unshare_newuser": lambda: sc(272, 0x10000000),',
  '    "ptrace_traceme": lambda: sc(101, 0, 0, 0, 0),',
  '    "syslog": lambda: sc(103, 10, 0, 0),',
  '    "mknod_block": lambda: sc(133, b"/tmp/kx-sda", stat.S_IFBLK | 0o600, os.makedev(8, 0)),',
  '}',
  'out = {}',
  'for name, fn in probes.items():',
  '    r, w = os.pipe()',
  '    pid = os.fork()',
  '    if pid == 0:',
  '        os.close(r)',
  '        os.write(w, fn().encode())',
  '        os._exit(0)',
  '    os.close(w)',
  '    out[name] = os.read(r, 64).decode()',
  '    os.close(r)',
  '    os.waitpid(pid, 0)',
  'print(json.dumps(out))',
].join('\n');

export const DENIED = /^(EPERM|EACCES|ENOSYS)$/;

export const FAKE_CTR_LINE = 'ctr: failed to dial "/run/containerd/containerd.sock": connection refused';

/** A shared library whose constructor prints one of ctr's errors and exits 1 (gcc on the host). */
export function buildFakeCtrLibrary(): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'kx-preload-'));
  try {
    const src = path.join(dir, 'fake.c');
    writeFileSync(
      src,
      `#include <unistd.h>\n#include <string.h>\n__attribute__((constructor)) static void fake(void) {\n  const char *m = ${JSON.stringify(`${FAKE_CTR_LINE}\n`)};\n  write(2, m, strlen(m));\n  _exit(1);\n}\n`,
    );
    execFileSync('gcc', ['-shared', '-fPIC', '-nostartfiles', '-o', path.join(dir, 'fake.so'), src]);
    return readFileSync(path.join(dir, 'fake.so'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asks to be traced by its parent (when told to), then signals itself. */
export const TRACEME = [
  'import ctypes, os, signal, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'if sys.argv[1:] == ["traceme"]:',
  '    libc.ptrace(0, 0, None, None)',
  'print("start", flush=True)',
  'os.kill(os.getpid(), signal.SIGUSR1)',
  'print("after", flush=True)',
].join('\n');


/**
 * Runs TRACEME through `run` without and with PTRACE_TRACEME: the answer must be the same,
 * as it is what the program did (the kernel's answer to the self-signal), not what ctr or
 * the launcher made of a tracee nobody could handle.
 */
export async function expectTracemeLikeControl(run: (args: string[]) => Promise<{ status: number; json: any }>): Promise<void> {
  const outcome = async (args: string[]) => {
    const r = await run(args);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.stderr).not.toContain('ctr:');
    const { status, exitCode, signal, stdout } = r.json;
    return { status, exitCode, signal, stdout };
  };
  const control = await outcome([]);
  expect(control.stdout.startsWith('start\n')).toBe(true);
  expect(await outcome(['traceme'])).toEqual(control);
}
