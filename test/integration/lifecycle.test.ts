/**
 * Crash safety against the real containerd: graceful SIGTERM under load, reconciliation
 * after a kill -9, and a containerd restart in the middle of an execution.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { NO_LEAKS, containerIds, settledLeaks, startRealService, testContainerd, testRuntimes } from '../helpers/real-service.js';
import { spawnService, type ServiceProcess } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';
import { PrivateContainerd } from '../../scripts/lib/private-containerd.js';

const runtime = testRuntimes()[0]!;

async function postJson(url: string, body: unknown) {
  const res = await request(`${url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as any };
}

function serviceEnv(runDir: string, extra: Record<string, string> = {}): Record<string, string> {
  const c = testContainerd();
  return {
    KATA_EXEC_CONTAINERD_ADDRESS: c.address,
    KATA_EXEC_NAMESPACE: c.namespace,
    KATA_EXEC_RUNTIME: runtime,
    KATA_EXEC_RUN_DIR: runDir,
    KATA_EXEC_STATE_DIR: path.join(c.root, 'state'),
    KATA_EXEC_POOL_SIZE: '0',
    PATH: c.kataKit ? `${c.kataKit}/bin:${process.env.PATH}` : (process.env.PATH ?? ''),
    ...extra,
  };
}

const sandboxes = () => containerIds().filter((id) => /^kx-[0-9a-f]{20}$/.test(id));

describe(`lifecycle on ${runtime}`, () => {
  const procs: ServiceProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('drains on SIGTERM: readiness 503, new work 503 + Retry-After, in-flight work finishes, exit 0, nothing left', async () => {
    const runDir = path.join(testContainerd().root, 'svc-sigterm');
    const svc = await spawnService(serviceEnv(runDir, { KATA_EXEC_CONCURRENCY: '4', KATA_EXEC_SHUTDOWN_GRACE_MS: '30000' }));
    procs.push(svc);
    expect((await request(`${svc.url}/readyz`)).statusCode).toBe(200);

    const inflight = [0, 1, 2].map((i) => postJson(svc.url, { language: 'bash', code: `sleep 3; echo done-${i}`, timeoutMs: 20000 }));
    await waitFor('three sandboxes', () => sandboxes().length >= 3 || undefined);
    svc.child.kill('SIGTERM');

    await waitFor('readiness to turn 503', async () => ((await request(`${svc.url}/readyz`)).statusCode === 503 ? true : undefined));
    const refused = await postJson(svc.url, { language: 'python', code: 'print(1)' });
    expect(refused.status).toBe(503);
    expect(refused.json.code).toBe('SHUTTING_DOWN');
    expect(refused.headers['retry-after']).toBeDefined();

    const results = await Promise.all(inflight);
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ status: 'ok', stdout: `done-${i}\n` });
    });
    expect(await svc.exited).toEqual({ code: 0, signal: null });
    expect(await settledLeaks(runDir)).toEqual(NO_LEAKS);
  });

  it('after a kill -9, the next start kills and deletes what the dead process left, and counts it', async () => {
    const runDir = path.join(testContainerd().root, 'svc-kill9');
    const first = await spawnService(serviceEnv(runDir));
    procs.push(first);
    const orphaned = postJson(first.url, { language: 'bash', code: 'sleep 300', timeoutMs: 60000 }).catch((err: unknown) => err);
    const [id] = await waitFor('the sandbox', () => (sandboxes().length ? sandboxes() : undefined));
    first.child.kill('SIGKILL');
    await first.exited;
    await orphaned;
    // The dead process's sandbox is still there: containerd's shim owns it.
    expect(sandboxes()).toContain(id);

    const second = await spawnService(serviceEnv(runDir));
    procs.push(second);
    expect(sandboxes()).not.toContain(id);
    const metrics = await (await request(`${second.url}/metrics`)).body.text();
    expect(metrics).toMatch(/kata_exec_reconciled_total\{kind="container"\} 1/);
    const ok = await postJson(second.url, { language: 'python', code: 'print(6*7)' });
    expect(ok.json.stdout).toBe('42\n');
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(await settledLeaks(runDir)).toEqual(NO_LEAKS);
  });
});

describe(`a containerd restart mid-run on ${runtime}`, () => {
  const c = testContainerd();
  const root = path.join(c.root, 'ctd2');
  const ctd = new PrivateContainerd({ root, kataKit: c.kataKit });
  const address = ctd.address;
  const containerd = (cmd: 'start' | 'stop') => (cmd === 'start' ? ctd.start() : ctd.stop());
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', address, '-n', c.namespace, ...args], { encoding: 'utf8' });

  afterAll(() => {
    try {
      containerd('stop');
    } catch {
      // already stopped
    }
  });

  it('answers 503 DAEMON_UNAVAILABLE at once, readyz reports it, and service resumes by itself', async () => {
    containerd('start');
    ctr('images', 'import', '--base-name', 'toolruntime-sandbox', path.join(process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec', 'images', 'sandbox.oci.tar'));
    const svc = await startRealService(runtime, { KATA_EXEC_CONTAINERD_ADDRESS: address });
    try {
      const running = postJson(svc.url, { language: 'bash', code: 'sleep 120', timeoutMs: 60000 });
      await waitFor('the sandbox', () => (/^kx-[0-9a-f]{20}$/m.test(ctr('containers', 'list', '-q')) ? true : undefined));
      process.kill(ctd.pid(), 'SIGKILL');

      const started = Date.now();
      const r = await running;
      expect(Date.now() - started).toBeLessThan(15_000);
      expect([502, 503]).toContain(r.status);
      expect(['DAEMON_UNAVAILABLE', 'VM_EXECUTION_FAILED']).toContain(r.json.code);

      const down = await request(`${svc.url}/readyz`);
      expect(down.statusCode).toBe(503);
      const body = (await down.body.json()) as { checks: { name: string; ok: boolean }[] };
      expect(body.checks.find((x) => x.name === 'containerd')?.ok).toBe(false);
      const refused = await postJson(svc.url, { language: 'python', code: 'print(1)' });
      expect(refused.status).toBe(503);
      expect(refused.json.code).toBe('DAEMON_UNAVAILABLE');

      containerd('start');
      await waitFor('readiness', async () => ((await request(`${svc.url}/readyz`)).statusCode === 200 ? true : undefined), 30_000);
      const ok = await postJson(svc.url, { language: 'python', code: 'print(6*7)' });
      expect(ok.json.stdout).toBe('42\n');
      // The sandbox that containerd lost track of is swept once it is back.
      await waitFor('the orphan to be deleted', () => (ctr('containers', 'list', '-q').includes('kx-') ? undefined : true), 30_000);
      expect(ctr('tasks', 'list', '-q').trim()).toBe('');
      // ...and so is its shim, which outlived containerd.
      const shims = () => execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('containerd-shim') && l.includes(`-address ${address}`));
      await waitFor('the orphan\'s shim to exit', () => (shims().length === 0 ? true : undefined), 10_000).catch(() => {
        throw new Error(`shims left: ${shims().join('\n')}`);
      });
    } finally {
      await svc.close();
    }
  });
});
