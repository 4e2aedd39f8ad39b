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
    // One client (no keys) sends several executions at once here: no per-key quota.
    KATA_EXEC_KEY_CONCURRENCY: '0',
    PATH: c.kataKit ? `${c.kataKit}/bin:${process.env.PATH}` : (process.env.PATH ?? ''),
    ...extra,
  };
}

/** Every process below `pid`, with its command line. */
function descendants(pid: number): { pid: number; args: string }[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [p, pp, ...a] = l.trim().split(/\s+/);
      return { pid: Number(p), ppid: Number(pp), args: a.join(' ') };
    });
  const out: { pid: number; args: string }[] = [];
  const walk = (parent: number) => {
    for (const r of rows.filter((x) => x.ppid === parent)) {
      out.push({ pid: r.pid, args: r.args });
      walk(r.pid);
    }
  };
  walk(pid);
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
    const monitors = await waitFor('the monitors', () => {
      const m = descendants(first.child.pid!).filter((p) => /dmesg --follow-new|ctr .* events$/.test(p.args));
      return m.length >= 2 ? m : undefined;
    });
    first.child.kill('SIGKILL');
    await first.exited;
    await orphaned;
    // Its monitors (dmesg --follow-new, ctr events) die with it, not live on under PID 1.
    await waitFor('the monitors to end', () => (monitors.every((p) => !isAlive(p.pid)) ? true : undefined), 10_000).catch(() => {
      throw new Error(`monitors left: ${JSON.stringify(monitors.filter((p) => isAlive(p.pid)))}`);
    });
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

describe(`two instances on one host (${runtime})`, () => {
  const procs: ServiceProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('a second instance on the same namespace, or the same run directory, refuses to start and touches nothing of the first', async () => {
    const root = testContainerd().root;
    const runDirA = path.join(root, 'svc-two-a');
    const a = await spawnService(serviceEnv(runDirA, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' }));
    procs.push(a);
    const metricsOf = async () => (await request(`${a.url}/metrics`)).body.text();
    await waitFor('the pool to fill', async () => (/^kata_exec_pool_ready 1$/m.test(await metricsOf()) ? true : undefined), 60_000);
    const pooled = sandboxes();
    // Long enough to outlast both refused starts (a reconcile by either would kill it).
    const running = postJson(a.url, { language: 'bash', code: 'sleep 25; echo survived', timeoutMs: 60_000, limits: { memoryMb: 100 } });
    await waitFor('the running sandbox', () => (sandboxes().length > pooled.length ? true : undefined));

    // Same namespace, own run directory: refused, with who holds it and what to set.
    // One that did start is stopped with the others (afterAll), and fails the test.
    const started = (p: ServiceProcess) => {
      procs.push(p);
      return 'started';
    };
    const sameNamespace = await spawnService(serviceEnv(path.join(root, 'svc-two-b'))).then(started, (err: Error) => err.message);
    expect(sameNamespace).toContain(`already serves containerd namespace "${testContainerd().namespace}"`);
    expect(sameNamespace).toContain(`pid ${a.child.pid}`);
    expect(sameNamespace).toContain('KATA_EXEC_NAMESPACE');
    // Same run directory, another namespace: refused too.
    const sameRunDir = await spawnService(serviceEnv(runDirA, { KATA_EXEC_NAMESPACE: 'kata-exec-test-other' })).then(started, (err: Error) => err.message);
    expect(sameRunDir).toContain(`already uses the run directory ${runDirA}`);
    expect(sameRunDir).toContain('KATA_EXEC_RUN_DIR');

    // The first one's sandboxes, its execution and its pool are untouched.
    expect(sandboxes()).toEqual(expect.arrayContaining(pooled));
    const r = await running;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', stdout: 'survived\n' });
    expect(await metricsOf()).toMatch(/^kata_exec_pool_ready 1$/m);
    const next = await postJson(a.url, { language: 'python', code: 'print(6*7)' });
    expect(next.json).toMatchObject({ status: 'ok', stdout: '42\n' });

    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(await settledLeaks(runDirA)).toEqual(NO_LEAKS);
    // Once it is gone, the namespace is free again.
    const c = await spawnService(serviceEnv(path.join(root, 'svc-two-b')));
    procs.push(c);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
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
    ctr('images', 'import', '--base-name', c.image.split(':')[0]!, c.archive);
    const svc = await startRealService(runtime, { KATA_EXEC_CONTAINERD_ADDRESS: address });
    try {
      const running = postJson(svc.url, { language: 'bash', code: 'sleep 120', timeoutMs: 60000 });
      await waitFor('the sandbox', () => (/^kx-[0-9a-f]{20}$/m.test(ctr('containers', 'list', '-q')) ? true : undefined));
      process.kill(ctd.pid(), 'SIGKILL');

      const started = Date.now();
      const r = await running;
      expect(Date.now() - started).toBeLessThan(15_000);
      // At once: not when the program (sleep 120) ends, and as what it is.
      expect(r.status).toBe(503);
      expect(r.json.code).toBe('DAEMON_UNAVAILABLE');
      expect(r.headers['retry-after']).toBeDefined();

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
