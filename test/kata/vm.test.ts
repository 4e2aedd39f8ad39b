/**
 * The Kata tier, on real VMs (the Kata kit: Kata 1.13, QEMU under TCG emulation here): each
 * case runs in a VM of its own, proven from the host (the guest's kernel and CPU are not the
 * host's), and the cases run side by side. Times are never asserted: a VM boots in ~10 s
 * emulated, more on a busy host, so timeouts get room.
 */
import { describe, expect, it } from 'vitest';
import { execute } from '../helpers/real-service.js';
import { containerInfo, expectGuestIsVm, GUEST_IDENTITY, sandboxIds, settledLeftoversOf, useKataService, waitFor } from './kata-helpers.js';

/** A VM boots within the timeout: the default (10 s) is shorter than an emulated boot. */
const T = 120_000;
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(T) };

describe.concurrent('Kata: programs on real VMs', () => {
  const svc = useKataService(ENV);

  it('bash answers from a VM of its own, reported as kata on qemu', async () => {
    const r = await execute(svc(), { language: 'bash', code: GUEST_IDENTITY });
    expect(r, r.stderr).toMatchObject({ status: 'ok', exitCode: 0, stderr: '' });
    expectGuestIsVm(r.stdout);
    expect(r.backend).toEqual({ kind: 'kata', ociRuntime: 'io.containerd.kata.v2', hypervisor: 'qemu', isolation: 'vm', profile: 'standard' });
    expect(r.limitsEnforced).toMatchObject({ timeout: true, memory: true, cpu: true, pids: true, disk: true, output: true, openFiles: true, network: true, readOnlyRootfs: true });
  });

  it('python: files, stdin, args, env, stderr and the exit code', async () => {
    const r = await execute(svc(), {
      language: 'python',
      code: [
        'import os, sys',
        'sys.path.insert(0, "/code/lib")',
        'from util import twice',
        'print(twice(21), sys.argv[1:], os.environ["GREETING"], sys.stdin.read().strip(), os.uname().release)',
        'print("to stderr", file=sys.stderr)',
        'sys.exit(3)',
      ].join('\n'),
      files: [{ path: 'lib/util.py', content: 'def twice(x):\n    return 2 * x\n' }],
      stdin: 'from stdin\n',
      args: ['a b', '--c'],
      env: { GREETING: 'hello' },
    });
    expect(r).toMatchObject({ status: 'error', exitCode: 3, stderr: 'to stderr\n' });
    const [answer, release] = r.stdout.trim().split(/ (?=\S+$)/);
    expect(answer).toBe("42 ['a b', '--c'] hello from stdin");
    expect(release).not.toBe((await import('node:os')).release());
  });

  it('javascript answers, in the guest kernel', async () => {
    const r = await execute(svc(), { language: 'javascript', code: 'console.log(require("os").release(), process.argv.slice(2).join(","))', args: ['x', 'y'] });
    expect(r).toMatchObject({ status: 'ok', exitCode: 0 });
    const [release, args] = r.stdout.trim().split(' ');
    expect(args).toBe('x,y');
    expect(release).not.toBe((await import('node:os')).release());
  });

  it('a timeout kills the VM: no qemu, shim, container, task or mount is left of it', async () => {
    const r = await execute(svc(), { language: 'bash', code: 'echo started; exec sleep 600', timeoutMs: 60_000 });
    expect(r.status).toBe('timeout');
    expect(r.stdout).toBe('started\n');
    expect(await settledLeftoversOf(r.id)).toEqual([]);
  });

  it('the memory limit sizes the VM (default_memory), and the guest sees it', async () => {
    // 300 MiB: the VM gets default_memory = 300 + 128 MiB, and the limit is hot-plugged on top.
    const pending = execute(svc(), { language: 'bash', code: 'sed -n "s/^MemTotal: *//p" /proc/meminfo; sleep 5' , limits: { memoryMb: 300 } });
    const id = await waitFor('the sandbox of memoryMb 300', () =>
      sandboxIds().find((c) => {
        try {
          return containerInfo(c).Spec.annotations?.['io.katacontainers.config.hypervisor.default_memory'] === '428';
        } catch {
          return false;
        }
      }),
    );
    const info = containerInfo(id);
    expect(info.Runtime.Name).toBe('io.containerd.kata.v2');
    // Kata's own annotations (containerd adds the labels beside them): the VM's size, nothing else.
    const kata = Object.fromEntries(Object.entries(info.Spec.annotations ?? {}).filter(([k]) => k.startsWith('io.katacontainers.')));
    expect(kata).toEqual({ 'io.katacontainers.config.hypervisor.default_memory': '428', 'io.katacontainers.config.hypervisor.default_vcpus': '1' });
    const r = await pending;
    expect(r.status).toBe('ok');
    const kb = Number(/^(\d+) kB/.exec(r.stdout)?.[1]);
    // More than the annotation's 428 MiB (the limit is hot-plugged on top, in 128 MiB blocks:
    // 384 MiB), and at most 428 + 384 MiB, less than Kata's default 512 MiB VM would have.
    expect(kb).toBeGreaterThan(428 * 1024);
    expect(kb).toBeLessThanOrEqual((428 + 384) * 1024);
  });

  it('a memory bomb comes back as oom, through Kata\'s own OOM event', async () => {
    const r = await execute(svc(), { language: 'python', code: 'a = []\nwhile True: a.append(bytearray(1 << 20))', limits: { memoryMb: 128 } });
    expect(r.status, JSON.stringify({ exitCode: r.exitCode, signal: r.signal, stderr: r.stderr.slice(-300) })).toBe('oom');
  });

  it('output cap, pids limit, read-only root, /tmp size and no network hold inside the VM', async () => {
    const r = await execute(svc(), {
      language: 'bash',
      code: [
        'head -c 100000 /dev/zero | tr "\\0" x',
        'echo',
        'touch /etc/x 2>/dev/null && echo ROOT-WRITABLE >&2 || echo root-ro >&2',
        'dd if=/dev/zero of=/tmp/fill bs=1M count=32 2>/dev/null; echo tmp-$(( $(stat -c %s /tmp/fill) / 1048576 ))M >&2',
        'echo net: $(ls /sys/class/net) >&2',
        'echo nproc: $(ulimit -u) >&2',
        // A subshell that forks until RLIMIT_NPROC refuses; then count without forking.
        '(for i in $(seq 60); do sleep 30 & done) 2>/dev/null',
        'set -- /proc/[0-9]*; echo procs: $# >&2',
      ].join('\n'),
      limits: { outputBytes: 4096, pids: 24, diskMb: 8 },
    });
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes.stdout).toBeGreaterThan(0);
    expect(r.stderr).toContain('root-ro');
    expect(r.stderr).toContain('tmp-8M');
    expect(r.stderr).toContain('net: lo\n');
    // The program's 24: RLIMIT_NPROC counts one uid, and the launcher (init) is root.
    expect(r.stderr).toContain('nproc: 24\n');
    const procs = Number(/procs: (\d+)/.exec(r.stderr)?.[1]);
    expect(procs).toBeGreaterThan(0);
    expect(procs).toBeLessThanOrEqual(24 + 2);
    expect(r.limitsEnforced).toMatchObject({ pids: true, disk: true, output: true, network: true, readOnlyRootfs: true });
  });

  it('hardened: seccomp holds in the guest (strict denies mknodat, the default profile allows it)', async () => {
    const code = 'import os\ntry:\n    os.mkfifo("/tmp/f"); r = "made"\nexcept OSError as e:\n    r = e.strerror\nprint(r, [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0])';
    // One after the other: one VM at a time (see vitest.config.ts).
    const hardened = await execute(svc(), { language: 'python', code, profile: 'hardened' });
    const standard = await execute(svc(), { language: 'python', code, profile: 'standard' });
    expect(hardened, hardened.stderr).toMatchObject({ status: 'ok', stdout: 'Operation not permitted 2\n' });
    expect(standard.stdout).toBe('made 2\n');
    // The kit's configuration sets disable_guest_seccomp = false, and the service read it.
    expect(hardened.limitsEnforced.seccomp).toBe(true);
    expect(standard.limitsEnforced.seccomp).toBe(true);
  });

  it('dev: a writable root (an overlay made in containerd\'s namespace) as root, discarded after', async () => {
    const r = await execute(svc(), { language: 'bash', code: 'echo hi > /etc/written && cat /etc/written && id -u && ls /usr/bin/python3', profile: 'dev' });
    expect(r, r.stderr).toMatchObject({ status: 'ok', stdout: 'hi\n0\n/usr/bin/python3\n' });
    expect(await settledLeftoversOf(r.id)).toEqual([]);
  });
});
