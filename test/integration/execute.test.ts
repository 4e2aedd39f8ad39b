/**
 * The core execute path against the real containerd, on every runtime of TEST_RUNTIMES
 * (runc and gvisor here; TEST_RUNTIMES=kata on a Kata host runs the same cases in VMs).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { execute, post, profilesOf, startRealService, testContainerd, testRuntimes, useService } from '../helpers/real-service.js';
import { KILL_SLACK_MS, STARTED_DEADLINE_MS } from '../helpers/timing.js';

describe.each(testRuntimes())('execute on %s', (runtime) => {
  const svc = useService(runtime, {}, { leaksEach: true });

  it('is ready: containerd answers, the runtime is installed, the image is present', async () => {
    const res = await request(`${svc().url}/readyz`);
    const body = (await res.body.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(res.statusCode).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.map((c) => c.name).sort()).toEqual(['containerd', 'image', 'runtime']);
  });

  it.each([
    ['python', 'print(6*7)'],
    ['javascript', 'console.log(6*7)'],
    ['bash', 'echo $((6*7))'],
  ])('runs %s and returns what it printed', async (language, code) => {
    const r = await execute(svc(), { language, code });
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n', stderr: '', signal: null, truncated: false });
    expect(r.backend.kind).toBe(runtime);
    expect(r.backend.profile).toBe('standard');
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.timing.setupMs).toBeGreaterThan(0);
    expect(r.limitsEnforced.readOnlyRootfs).toBe(true);
  });

  it('reports a failing program as a 200 with its exit code and stderr', async () => {
    const r = await execute(svc(), { language: 'bash', code: 'echo out; echo oops >&2; exit 7' });
    expect(r).toMatchObject({ status: 'error', exitCode: 7, stdout: 'out\n', stderr: 'oops\n' });
  });

  it('reports a Python exception with its traceback', async () => {
    const r = await execute(svc(), { language: 'python', code: 'raise ValueError("bad input")' });
    expect(r.status).toBe('error');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('ValueError: bad input');
  });

  it('parses the last __OUT__ line as the value', async () => {
    const r = await execute(svc(), {
      language: 'python',
      code: 'import json\nprint("__OUT__:" + json.dumps({"n": 1}))\nprint("__OUT__:" + json.dumps({"n": 2, "ok": True}))',
    });
    expect(r.value).toEqual({ n: 2, ok: true });
  });

  it('survives output that is not UTF-8', async () => {
    const r = await execute(svc(), { language: 'python', code: 'import sys; sys.stdout.buffer.write(b"a\\xff\\xfe\\x00b\\n")' });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('a\uFFFD\uFFFD\u0000b\n');
  });

  it('kills the sandbox at the deadline and says timeout', async () => {
    const timeoutMs = STARTED_DEADLINE_MS;
    const r = await execute(svc(), { language: 'python', code: 'import time\nprint("started", flush=True)\ntime.sleep(60)', timeoutMs });
    expect(r.status).toBe('timeout');
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('started\n');
    expect(r.durationMs).toBeGreaterThanOrEqual(timeoutMs);
    // The kill goes through containerd at the deadline, not after the program's 60 s.
    expect(r.durationMs).toBeLessThan(timeoutMs + KILL_SLACK_MS);
  });

  it('runs the program as nobody on a read-only root with a writable /tmp and working directory', async () => {
    const r = await execute(svc(), {
      language: 'bash',
      code: 'id -u; echo x > /tmp/f && cat /tmp/f; touch /etc/nope 2>/dev/null && echo wrote-etc || echo ro-etc; pwd; echo y > out.txt && cat /code/out.txt',
    });
    expect(r.stdout).toBe('65534\nx\nro-etc\n/code\ny\n');
  });

  it("gives the program its files as its own: it may change them and write beside them in their directories", async () => {
    const r = await execute(svc(), {
      language: 'bash',
      code: 'echo more >> data/in.txt && cat data/in.txt; echo new > data/deep/out.txt && cat data/deep/out.txt; rm data/in.txt && echo removed; find data/deep -printf "%U %u %p\\n" | sort; id -un; grep -E "^Cap(Prm|Eff)" /proc/self/status',
      files: [
        { path: 'data/in.txt', content: 'first\n' },
        { path: 'data/deep/x.txt', content: 'x' },
      ],
    });
    expect(r).toMatchObject({ status: 'ok', stderr: '' });
    // Every capability of the launcher (root) is gone in the program.
    expect(r.stdout).toBe('first\nmore\nnew\nremoved\n65534 nobody data/deep\n65534 nobody data/deep/out.txt\n65534 nobody data/deep/x.txt\nnobody\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n');
  });

  it("reports the program's usage from wait4: CPU user and system time, peak RSS", async () => {
    const r = await execute(svc(), { language: 'python', code: 'a = bytearray(40 << 20)\nx = sum(range(5_000_000))\nprint("done")' });
    expect(r).toMatchObject({ status: 'ok', stdout: 'done\n' });
    expect(r.usage!.cpuUserMs).toBeGreaterThan(20);
    expect(r.usage!.cpuSysMs).toBeGreaterThanOrEqual(0);
    // 40 MiB touched (bytearray zero-fills it), plus python itself.
    expect(r.usage!.maxRssKb).toBeGreaterThan(40 * 1024);
    expect(r.usage!.maxRssKb).toBeLessThan(256 * 1024);
    const t = await execute(svc(), { language: 'bash', code: 'sleep 30', timeoutMs: 1000 });
    expect(t).toMatchObject({ status: 'timeout', usage: null });
  });

  // runc refuses dev (test/hostile/requests.test.ts).
  it.each(profilesOf(runtime).filter((p) => p === 'dev'))('gives the %s profile a writable root that does not outlive the execution', async (profile) => {
    const first = await execute(svc(), { language: 'bash', code: 'echo hi > /marker && cat /marker', profile });
    expect(first).toMatchObject({ status: 'ok', stdout: 'hi\n' });
    expect(first.limitsEnforced.readOnlyRootfs).toBe(false);
    const second = await execute(svc(), { language: 'bash', code: 'test -e /marker && echo leaked || echo clean', profile });
    expect(second.stdout).toBe('clean\n');
  });

  it('runs several executions at once, each in its own sandbox', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => execute(svc(), { language: 'python', code: `import socket\nprint(${i}, socket.gethostname())` })),
    );
    results.forEach((r, i) => expect(r.stdout).toBe(`${i} sandbox\n`));
    expect(new Set(results.map((r) => r.id)).size).toBe(4);
  });

  it('refuses an unknown language with the known ones', async () => {
    const r = await post(svc(), { language: 'cobol', code: 'x' });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('UNKNOWN_LANGUAGE');
    expect(r.json.known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });
});

describe('a service whose image is missing', () => {
  it('answers 503 IMAGE_NOT_FOUND naming the command to run, and readyz says why', async () => {
    const svc = await startRealService(testRuntimes()[0]!, { KATA_EXEC_IMAGE: 'not-built-here:latest' });
    try {
      const r = await post(svc, { language: 'python', code: 'print(1)' });
      expect(r.status).toBe(503);
      expect(r.json.code).toBe('IMAGE_NOT_FOUND');
      expect(r.json.detail).toContain('npm run setup');
      const ready = await request(`${svc.url}/readyz`);
      expect(ready.statusCode).toBe(503);
      const body = (await ready.body.json()) as { checks: { name: string; ok: boolean }[] };
      expect(body.checks.find((c) => c.name === 'image')?.ok).toBe(false);
    } finally {
      await svc.close();
    }
  });
});

describe('a service whose image has no launcher', () => {
  const c = testContainerd();
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', c.address, '-n', c.namespace, ...args], { encoding: 'utf8' });
  const image = 'kx-test-no-launcher:latest';
  let dir = '';

  beforeAll(() => {
    // An image built by hand: a root with a shell's directories, and no /usr/local/lib/kata-exec.
    dir = mkdtempSync(path.join(tmpdir(), 'kx-no-launcher-'));
    const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
    sh('umoci', 'init', '--layout', 'oci');
    sh('umoci', 'new', '--image', 'oci:latest');
    sh('umoci', 'unpack', '--image', 'oci:latest', 'bundle');
    mkdirSync(path.join(dir, 'bundle/rootfs/code'), { recursive: true });
    mkdirSync(path.join(dir, 'bundle/rootfs/tmp'), { recursive: true });
    sh('umoci', 'repack', '--image', 'oci:latest', 'bundle');
    sh('tar', '-C', 'oci', '-cf', 'image.tar', '.');
    ctr('images', 'import', '--base-name', image.split(':')[0]!, path.join(dir, 'image.tar'));
  });

  afterAll(() => {
    ctr('images', 'remove', image);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 IMAGE_INCOMPATIBLE naming the command to run, and readyz says why', async () => {
    const svc = await startRealService(testRuntimes()[0]!, { KATA_EXEC_IMAGE: image, KATA_EXEC_POOL_SIZE: '0' });
    try {
      const ready = await request(`${svc.url}/readyz`);
      expect(ready.statusCode).toBe(503);
      const body = (await ready.body.json()) as { checks: { name: string; ok: boolean; detail: string }[] };
      expect(body.checks.find((x) => x.name === 'image')).toMatchObject({ ok: false, detail: expect.stringContaining('has no kata-exec launcher at /usr/local/lib/kata-exec/kx-launch') });
      const r = await post(svc, { language: 'python', code: 'print(1)' });
      expect(r.status).toBe(503);
      expect(r.json.code).toBe('IMAGE_INCOMPATIBLE');
      expect(r.json.detail).toContain('npm run setup');
      expect(r.headers['retry-after']).toBeDefined();
    } finally {
      await svc.close();
    }
  });
});
