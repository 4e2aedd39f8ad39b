/**
 * Recovery on real Kata VMs: after a kill -9 of the service mid-run, the next start
 * reconciles the VM it left (qemu, shim, container, mounts); a containerd restart mid-run
 * gives the documented answer (503 DAEMON_UNAVAILABLE or 502 VM_EXECUTION_FAILED) and the
 * service resumes by itself.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateContainerd } from '../../scripts/lib/private-containerd.js';
import { NO_LEAKS, settledLeaks, startRealService, testContainerd } from '../helpers/real-service.js';
import { spawnService, type ServiceProcess } from '../helpers/service-process.js';
import { sandboxIds, settledLeftoversOf, waitFor } from './kata-helpers.js';

const T = '120000';

async function postJson(url: string, body: unknown) {
  const res = await request(`${url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

function serviceEnv(runDir: string): Record<string, string> {
  const c = testContainerd();
  return {
    KATA_EXEC_CONTAINERD_ADDRESS: c.address,
    KATA_EXEC_NAMESPACE: c.namespace,
    KATA_EXEC_RUNTIME: 'kata',
    KATA_EXEC_RUN_DIR: runDir,
    KATA_EXEC_STATE_DIR: path.join(c.root, 'state'),
    KATA_EXEC_POOL_SIZE: '0',
    KATA_EXEC_TIMEOUT_MS_DEFAULT: T,
    KATA_EXEC_TIMEOUT_MS_MAX: T,
    PATH: `${c.kataKit ? `${c.kataKit}/bin:` : ''}${process.env.PATH}`,
  };
}

describe('Kata: recovery', () => {
  const procs: ServiceProcess[] = [];
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('after a kill -9 mid-run, the next start reconciles the VM left behind', async () => {
    const runDir = path.join(testContainerd().root, 'svc-kata-kill9');
    const first = await spawnService(serviceEnv(runDir));
    procs.push(first);
    // dev: a writable root, so an overlay is mounted in containerd's namespace too.
    const orphaned = postJson(first.url, { language: 'bash', code: 'echo up; sleep 600', profile: 'dev' }).catch((err: unknown) => err);
    const id = await waitFor('the sandbox', () => sandboxIds()[0]);
    // Its VM is up (the program's output is the proof of that): then kill the service.
    await waitFor('the VM to run', () => execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).includes(`sandbox-${id}`) || undefined);
    first.child.kill('SIGKILL');
    await first.exited;
    await orphaned;
    expect(sandboxIds()).toContain(id);

    const second = await spawnService(serviceEnv(runDir));
    procs.push(second);
    expect(await settledLeftoversOf(id)).toEqual([]);
    const metrics = await (await request(`${second.url}/metrics`)).body.text();
    expect(metrics).toMatch(/kata_exec_reconciled_total\{kind="container"\} 1/);
    const ok = await postJson(second.url, { language: 'python', code: 'print(6*7)' });
    expect(ok.json.stdout).toBe('42\n');
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(await settledLeaks(runDir)).toEqual(NO_LEAKS);
  });

  it('a containerd restart mid-run: 503 DAEMON_UNAVAILABLE (or 502), readyz says so, then it resumes', async () => {
    const c = testContainerd();
    const ctd = new PrivateContainerd({ root: path.join(c.root, 'ctd2'), kataKit: c.kataKit });
    const ctr = (...args: string[]) => execFileSync('ctr', ['--address', ctd.address, '-n', c.namespace, ...args], { encoding: 'utf8' });
    ctd.start();
    try {
      ctr('images', 'import', '--base-name', c.image.split(':')[0]!, c.archive);
      const svc = await startRealService('kata', { KATA_EXEC_CONTAINERD_ADDRESS: ctd.address, KATA_EXEC_TIMEOUT_MS_DEFAULT: T, KATA_EXEC_TIMEOUT_MS_MAX: T });
      try {
        const running = postJson(svc.url, { language: 'bash', code: 'sleep 600' });
        const id = await waitFor('the sandbox', () => (/^kx-[0-9a-f]{20}$/m.exec(ctr('containers', 'list', '-q'))?.[0]));
        await waitFor('the VM to run', () => execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).includes(`sandbox-${id}`) || undefined);
        process.kill(ctd.pid(), 'SIGKILL');

        const r = await running;
        expect([502, 503]).toContain(r.status);
        expect(['DAEMON_UNAVAILABLE', 'VM_EXECUTION_FAILED']).toContain(r.json.code);
        const down = await request(`${svc.url}/readyz`);
        expect(down.statusCode).toBe(503);

        ctd.start();
        await waitFor('readiness', async () => ((await request(`${svc.url}/readyz`)).statusCode === 200 ? true : undefined), 60_000);
        // The VM that containerd lost track of is swept once it is back: its qemu and shim too.
        await waitFor('the orphan to be deleted', () => (ctr('containers', 'list', '-q').includes(id) ? undefined : true), 60_000);
        await waitFor('its VM to end', () => (execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).includes(id) ? undefined : true), 60_000);
        // Then a new VM answers (one VM at a time: two emulated boots at once miss the agent's window).
        const ok = await postJson(svc.url, { language: 'python', code: 'print(6*7)' });
        expect(ok.json.stdout, JSON.stringify(ok.json)).toBe('42\n');
      } finally {
        await svc.close();
      }
    } finally {
      ctd.unmountAll(path.join(c.root, 'ctd2'));
      ctd.stop();
    }
  });
});
