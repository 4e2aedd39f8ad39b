/**
 * What only a host WITHOUT a working Kata can show: the service refuses to start on Kata
 * when no Kata shim is installed, and answers 503 KATA_NOT_AVAILABLE when containerd cannot
 * find the shim that the service saw. Everything Kata does on a real VM is the Kata tier's
 * (test/kata/), which boots real VMs through the Kata kit.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KataNotAvailableError } from '../../src/errors.js';
import { NO_LEAKS, post, settledLeaks, startRealService, testContainerd } from '../helpers/real-service.js';

const KATA_SHIMS = ['containerd-shim-kata-v2', 'containerd-shim-kata-qemu-v2', 'containerd-shim-kata-clh-v2', 'containerd-shim-kata-fc-v2'];

/** Runs fn with a PATH whose directories hold no Kata shim, plus `extra` first. */
async function withPath<T>(extra: string | null, fn: () => Promise<T>): Promise<T> {
  const old = process.env.PATH ?? '';
  const kept = old.split(':').filter((d) => d && !KATA_SHIMS.some((s) => existsSync(path.join(d, s))));
  process.env.PATH = [...(extra ? [extra] : []), ...kept].join(':');
  try {
    return await fn();
  } finally {
    process.env.PATH = old;
  }
}

describe('kata unavailable', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    expect(await settledLeaks()).toEqual(NO_LEAKS);
  });

  it('refuses to start when no Kata shim is installed', async () => {
    await withPath(null, async () => {
      await expect(startRealService('kata', { KATA_EXEC_HYPERVISOR: 'qemu' })).rejects.toBeInstanceOf(KataNotAvailableError);
    });
  });

  it('answers 503 KATA_NOT_AVAILABLE when containerd cannot find the shim the service saw', async () => {
    // The service's PATH has a cloud-hypervisor shim (a link to runc's, never run); containerd's does not.
    const dir = mkdtempSync(path.join(testContainerd().root, 'svc-path-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    symlinkSync(execFileSync('sh', ['-c', 'command -v containerd-shim-runc-v2'], { encoding: 'utf8' }).trim(), path.join(dir, 'containerd-shim-kata-clh-v2'));
    const svc = await withPath(dir, () => startRealService('kata', { KATA_EXEC_HYPERVISOR: 'cloud-hypervisor', KATA_EXEC_KATA_SHIM: 'per-hypervisor' }));
    cleanups.push(() => svc.close());
    const r = await post(svc, { language: 'python', code: 'print(1)' });
    expect(r.status).toBe(503);
    expect(r.json.code).toBe('KATA_NOT_AVAILABLE');
    expect(JSON.stringify(r.json)).not.toContain(dir);
  });
});
