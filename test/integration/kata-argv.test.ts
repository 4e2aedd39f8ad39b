/**
 * The Kata code path's argv contract, checked against the real containerd WITHOUT Kata:
 * Kata cannot be installed on these machines. global-setup puts a stand-in on
 * containerd's PATH, a link named containerd-shim-kata-qemu-v2 to the runc shim. So this
 * proves that containerd accepts our runtime name, our spec and its Kata annotations, and
 * that a missing shim becomes KATA_NOT_AVAILABLE. It proves nothing about the VM: on a
 * Kata host, TEST_RUNTIMES=kata runs the whole integration suite in real VMs instead.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KataNotAvailableError } from '../../src/errors.js';
import { NO_LEAKS, containerIds, execute, post, settledLeaks, startRealService, testContainerd, testRuntimes } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';

const standIn = !testRuntimes().includes('kata');

function ctrInfo(id: string): { Runtime: { Name: string }; Labels: Record<string, string>; Spec: { annotations?: Record<string, string> } } {
  const c = testContainerd();
  return JSON.parse(execFileSync('ctr', ['--address', c.address, '-n', c.namespace, 'containers', 'info', id], { encoding: 'utf8' }));
}

describe.runIf(standIn)('kata argv contract (stand-in shim: runc runs the container, no VM)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    expect(await settledLeaks()).toEqual(NO_LEAKS);
  });

  it('creates the container with the per-hypervisor runtime name and the Kata annotations', async () => {
    const svc = await startRealService('kata', {
      KATA_EXEC_HYPERVISOR: 'qemu',
      KATA_EXEC_KERNEL_PATH: '/opt/kata/share/kata-containers/vmlinux.container',
      KATA_EXEC_IMAGE_PATH: '/opt/kata/share/kata-containers/kata-containers.img',
    });
    cleanups.push(() => svc.close());
    const pending = execute(svc, { language: 'python', code: 'import time\ntime.sleep(2)\nprint("in the sandbox")', limits: { memoryMb: 300, cpus: 1.5 } });

    const id = await waitFor('the sandbox container', () => containerIds().find((c) => /^kx-[0-9a-f]{20}$/.test(c)), 5000);
    const info = ctrInfo(id);
    expect(info.Runtime.Name).toBe('io.containerd.kata-qemu.v2');
    expect(info.Labels['org.kata-exec.managed']).toBe('true');
    expect(info.Spec.annotations).toMatchObject({
      'io.katacontainers.config.hypervisor.kernel': '/opt/kata/share/kata-containers/vmlinux.container',
      'io.katacontainers.config.hypervisor.image': '/opt/kata/share/kata-containers/kata-containers.img',
      'io.katacontainers.config.hypervisor.default_memory': String(300 + 128),
      'io.katacontainers.config.hypervisor.default_vcpus': '2',
    });

    const r = await pending;
    expect(r).toMatchObject({ status: 'ok', stdout: 'in the sandbox\n' });
    expect(r.backend).toEqual({ kind: 'kata', ociRuntime: 'io.containerd.kata-qemu.v2', hypervisor: 'qemu', isolation: 'vm', profile: 'standard' });
  });

  it('refuses to start when the Kata shim is not installed at all', async () => {
    await expect(startRealService('kata', { KATA_EXEC_HYPERVISOR: 'firecracker' })).rejects.toBeInstanceOf(KataNotAvailableError);
  });

  it('answers 503 KATA_NOT_AVAILABLE when containerd cannot find the shim the service saw', async () => {
    // The service's PATH has a cloud-hypervisor shim; containerd's does not.
    const dir = mkdtempSync(path.join(testContainerd().root, 'svc-path-'));
    symlinkSync(execFileSync('sh', ['-c', 'command -v containerd-shim-runc-v2'], { encoding: 'utf8' }).trim(), path.join(dir, 'containerd-shim-kata-clh-v2'));
    const svc = await startRealService('kata', { KATA_EXEC_HYPERVISOR: 'cloud-hypervisor' }, [dir]);
    cleanups.push(() => svc.close());
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = await post(svc, { language: 'python', code: 'print(1)' });
    expect(r.status).toBe(503);
    expect(r.json.code).toBe('KATA_NOT_AVAILABLE');
    expect(JSON.stringify(r.json)).not.toContain(dir);
  });
});
