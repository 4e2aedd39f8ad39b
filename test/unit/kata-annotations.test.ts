/**
 * Kata configuration safety: the annotations a sandbox carries are only those the operator
 * configured (the VM's size from the limits; kernel and image paths only when set in the
 * service's configuration). No request field can reach one, whatever it holds
 * (GHSA-rr59-xxvx-96qr: an annotation that reaches kernel_params or virtio_fs_extra_args
 * runs code on the host).
 */
import { describe, expect, it } from 'vitest';
import type { RuntimeTarget } from '../../src/ctr/argv.js';
import { loadConfig } from '../../src/config.js';
import { Executor } from '../../src/execution/executor.js';
import { imageRunOptions, launcherInit, ociSpecInput } from '../../src/sandbox/ctr-spec.js';
import type { ExecuteRequest } from '../../src/schemas/execute.js';

const KATA: RuntimeTarget = {
  kind: 'kata',
  ociRuntime: 'io.containerd.kata.v2',
  runcBinary: null,
  runtimeConfigPath: null,
  snapshotter: null,
  hypervisor: 'qemu',
  launch: 'config',
};
const K = 'io.katacontainers.config.hypervisor.';
const EVIL = `x\n${K}kernel_params=init=/bin/sh ${K}virtio_fs_extra_args=["--x"] io.katacontainers.config.agent.kernel_modules=evil`;

/** A request with every field the API takes, each holding annotation-like text. */
const hostile: ExecuteRequest = {
  language: 'python',
  code: `print(${JSON.stringify(EVIL)})`,
  files: [{ path: 'io.katacontainers.config.hypervisor.kernel_params', content: EVIL }],
  stdin: EVIL,
  args: [EVIL, `--annotation=${K}kernel_params=x`],
  env: { [`${K.replaceAll('.', '_')}kernel_params`]: EVIL, ANNOTATION: `${K}kernel_params=x` },
  timeoutMs: 5000,
  limits: { memoryMb: 300, cpus: 1.5, pids: 32, diskMb: 8, outputBytes: 4096, openFiles: 64 },
  profile: 'standard',
  metadata: { [`${K}kernel_params`.slice(0, 63)]: EVIL.slice(0, 256), annotations: EVIL.slice(0, 256) },
};

function annotationsOf(env: Record<string, string>, req: ExecuteRequest, target: RuntimeTarget = KATA) {
  const ex = new Executor({ config: loadConfig(env), runtime: target, runner: null, instanceId: 'inst-1' });
  const { spec } = ex.prepare(req);
  const dirs = { rootfs: '/r', namespace: 'ns', init: launcherInit(spec), seccomp: null };
  const config = ociSpecInput(spec, target, dirs).annotations;
  const image = imageRunOptions(spec, { command: spec.command, seccomp: false, detach: false }).annotations;
  expect(image).toEqual(config);
  return config;
}

describe('Kata annotations', () => {
  it('a request sizes the VM and reaches nothing else, whatever its fields hold', () => {
    expect(annotationsOf({}, hostile)).toEqual({ [`${K}default_memory`]: String(300 + 128), [`${K}default_vcpus`]: '2' });
  });

  it('kernel and image paths come only from the service configuration', () => {
    const env = { KATA_EXEC_KERNEL_PATH: '/opt/kata/vmlinux', KATA_EXEC_IMAGE_PATH: '/opt/kata/kata.img' };
    expect(annotationsOf(env, hostile)).toEqual({
      [`${K}default_memory`]: '428',
      [`${K}default_vcpus`]: '2',
      [`${K}kernel`]: '/opt/kata/vmlinux',
      [`${K}image`]: '/opt/kata/kata.img',
    });
  });

  it('every annotation key is one the README tells operators to allow, every value a number or a configured path', () => {
    for (const memoryMb of [16, 256, 2048]) {
      for (const cpus of [0.01, 1, 2]) {
        const a = annotationsOf({}, { ...hostile, limits: { memoryMb, cpus } });
        expect(Object.keys(a).sort()).toEqual([`${K}default_memory`, `${K}default_vcpus`]);
        for (const v of Object.values(a)) expect(v).toMatch(/^\d+$/);
      }
    }
  });

  it('other runtimes carry none', () => {
    expect(annotationsOf({}, hostile, { ...KATA, kind: 'gvisor', ociRuntime: 'io.containerd.runc.v2', hypervisor: null })).toEqual({});
  });
});
