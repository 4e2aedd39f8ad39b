import { describe, expect, it } from 'vitest';
import { FakeHealthChecker } from '../fakes/fake-health.js';
import { useTestApps } from '../helpers/test-apps.js';

const setup = useTestApps();

describe('GET /healthz', () => {
  it('200 {status: ok} without probing the runtime, even when it is not ready', async () => {
    const t = await setup({ health: new FakeHealthChecker().failing({ containerd: 'containerd does not answer on its socket' }) });
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(t.health.calls).toBe(0);
  });
});

describe('GET /readyz', () => {
  it('200 ready with the checks when the runtime is healthy', async () => {
    const t = await setup();
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ status: string; checks: { name: string; ok: boolean; detail: string }[] }>();
    expect(body.status).toBe('ready');
    expect(body.checks.map((c) => c.name)).toEqual(['containerd', 'runtime', 'image']);
    expect(body.checks.every((c) => c.ok)).toBe(true);
    expect(t.health.calls).toBe(1);
  });

  it('503 not_ready with the failing checks and their details', async () => {
    const t = await setup({
      health: new FakeHealthChecker().failing({
        runtime: 'containerd-shim-kata-qemu-v2 is not installed',
        image: 'image toolruntime-sandbox:latest not found: run scripts/build-image.sh',
      }),
    });
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const body = res.json<{ status: string; checks: { name: string; ok: boolean; detail: string }[] }>();
    expect(body.status).toBe('not_ready');
    expect(body.checks.filter((c) => !c.ok)).toEqual([
      { name: 'runtime', ok: false, detail: 'containerd-shim-kata-qemu-v2 is not installed' },
      { name: 'image', ok: false, detail: 'image toolruntime-sandbox:latest not found: run scripts/build-image.sh' },
    ]);
    expect(body.checks.find((c) => c.name === 'containerd')).toMatchObject({ ok: true });
  });

  it('follows the runtime: not ready, then ready again once it recovers', async () => {
    const t = await setup();
    t.health.failing({ containerd: 'containerd does not answer on its socket' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    t.health.healthy();
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('503 draining with Retry-After once shutdown began, without probing the runtime', async () => {
    let draining = false;
    const t = await setup({ isDraining: () => draining });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    draining = true;
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    const body = res.json<{ status: string; checks: { name: string; ok: boolean }[] }>();
    expect(body.status).toBe('draining');
    expect(body.checks).toEqual([expect.objectContaining({ name: 'shutdown', ok: false })]);
    expect(t.health.calls).toBe(1);
  });
});
