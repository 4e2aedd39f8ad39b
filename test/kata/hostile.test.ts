/**
 * The hostile basics on real Kata VMs, side by side: fork bombs (python, and C compiled in
 * the VM), a Go memory bomb compiled in the VM, a disk fill, an output flood and escape
 * probes (python's memory bomb is in vm.test.ts). Each is contained in its VM
 * and leaves nothing of itself; then the service answers the next request correctly and
 * nothing of ours is left on the host.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execute, NO_LEAKS, settledLeaks } from '../helpers/real-service.js';
import { settledLeftoversOf, useKataService } from './kata-helpers.js';

// The service's default deadline (no timeoutMs in a request): a VM start that failed and was
// made again gets it whole, where a caller's timeoutMs would be left short by it.
const T = 40_000;
// A compile in an emulated guest: go build took about 45 s; the compiled cases get 240 s in all.
const COMPILED_T = 240_000;
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(COMPILED_T) };

describe('Kata: hostile programs', () => {
  const svc = useKataService(ENV);
  const token = `kxhost${randomBytes(8).toString('hex')}`;
  const dir = mkdtempSync('/tmp/kx-kata-hostile-');
  chmodSync(dir, 0o755);
  const marker = path.join(dir, 'marker');
  writeFileSync(marker, `${token}\n`, { mode: 0o644 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe.concurrent('each contained in its VM', () => {
    it('a fork bomb under a pids limit of 64', async () => {
      const code = 'import os, time\nprint("bombing", flush=True)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)';
      const r = await execute(svc(), { language: 'python', code, limits: { pids: 64 } });
      expect(['timeout', 'error', 'killed', 'oom']).toContain(r.status);
      expect(r.stdout).toContain('bombing');
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });

    it('a C fork bomb under a pids limit of 64, compiled in the VM first, is a time_limit of its run', async () => {
      // As a judge site sends it: one test with a wall clock of its own, the deadline the service's.
      // The guest refuses the forks (RLIMIT_NPROC) and the bomb spins until its run's wall clock.
      const code = '#include <stdio.h>\n#include <unistd.h>\nint main(void){puts("bombing");fflush(stdout);for(;;)if(fork()<0)usleep(10000);}\n';
      const r = await execute(svc(), { language: 'c', code, compile: { timeoutMs: 50_000 }, tests: [{ timeoutMs: 15_000 }], limits: { pids: 64 } });
      expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
      expect(r.tests?.map((t) => t.verdict), JSON.stringify({ status: r.status, timing: r.timing })).toEqual(['time_limit']);
      expect(r.tests![0]!.stdout).toContain('bombing');
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });

    it('a Go memory bomb is oom, compiled in the VM first with its own memory', async () => {
      const code = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar blocks [][]byte\n\tfor i := 0; i < 256; i++ {\n\t\tb := make([]byte, 1<<20)\n\t\tfor j := range b {\n\t\t\tb[j] = 1\n\t\t}\n\t\tblocks = append(blocks, b)\n\t\tif i%16 == 0 {\n\t\t\tfmt.Println("allocated", i, "MiB")\n\t\t}\n\t}\n\tfmt.Println("survived", len(blocks))\n}\n';
      const r = await execute(svc(), { language: 'go', code, compile: { timeoutMs: 180_000 }, limits: { memoryMb: 64 } });
      expect(r.compile, JSON.stringify(r.compile)).toMatchObject({ status: 'ok', exitCode: 0 });
      expect(r.stdout).toContain('allocated 0 MiB');
      expect(r.stdout).not.toContain('survived');
      expect(r.status, r.stderr.slice(0, 300)).toBe('oom');
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });

    it('a disk fill stops at the /tmp size and at the read-only root', async () => {
      const code = 'dd if=/dev/zero of=/tmp/fill bs=1M 2>&1 | head -n1; dd if=/dev/zero of=/fill bs=1M count=1 2>&1 | head -n1; du -m /tmp/fill | cut -f1';
      const r = await execute(svc(), { language: 'bash', code, limits: { diskMb: 16 } });
      expect(r.stdout).toMatch(/No space left on device/);
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(r.stdout.trim().split('\n').pop()).toBe('16');
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });

    it('an output flood is cut at its cap and the VM stopped', async () => {
      const r = await execute(svc(), { language: 'bash', code: 'yes', limits: { outputBytes: 65536 } });
      expect(r.status).toBe('output_limit');
      expect(r.truncated).toBe(true);
      expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(65536 + 200);
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });

    it('escape probes see the guest, never the host', async () => {
      const code = [
        'import os',
        `m = ${JSON.stringify(marker)}`,
        'for p in [m, "/proc/1/root" + m, "/proc/self/root" + m]:',
        '    try: print("READ", p, open(p).read().strip())',
        '    except OSError as e: print("denied", e.strerror)',
        'print("pids", len([p for p in os.listdir("/proc") if p.isdigit()]))',
        'try: os.mkdir("/sys/fs/cgroup/x"); print("CGROUP-WRITABLE")',
        'except OSError as e: print("cgroup", e.strerror)',
        'print("devs", sorted(d for d in os.listdir("/dev") if d.startswith(("vd", "sd", "kvm", "mem"))))',
      ].join('\n');
      const r = await execute(svc(), { language: 'python', code });
      expect(r.status, r.stderr).toBe('ok');
      expect(r.stdout).not.toContain(token);
      expect(r.stdout).not.toContain('READ');
      expect(r.stdout).not.toContain('CGROUP-WRITABLE');
      expect(r.stdout).toContain('devs []');
      // The guest's own few processes, not the host's hundreds.
      expect(Number(/pids (\d+)/.exec(r.stdout)?.[1])).toBeLessThan(20);
      expect(await settledLeftoversOf(r.id)).toEqual([]);
    });
  });

  it('then answers the next request correctly, and nothing of ours is left on the host', async () => {
    const r = await execute(svc(), { language: 'python', code: 'print(6*7)' });
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n' });
    expect(await settledLeaks(svc().runDir)).toEqual(NO_LEAKS);
  });
});
