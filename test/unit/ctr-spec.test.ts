// The annotations a sandbox spec carries: Kata's (its VM sized after the limits), none for the others.
import { describe, expect, it } from 'vitest';
import { cpuQuotaOf, MIN_CPU_QUOTA_US, sandboxAnnotations as kataAnnotations } from '../../src/sandbox/ctr-spec.js';
import type { SandboxSpec } from '../../src/sandbox/types.js';

const MiB = 1024 * 1024;
const K = 'io.katacontainers.config.hypervisor.';

function spec(over: Partial<SandboxSpec> = {}, res: Partial<SandboxSpec['resources']> = {}): SandboxSpec {
  return {
    id: 'kx-0123456789',
    image: 'toolruntime-sandbox:latest',
    runtime: 'kata',
    hypervisor: 'qemu',
    kernelPath: '',
    imagePath: '',
    command: ['true'],
    workingDir: '/code',
    env: [],
    programEnv: [],
    files: [],
    stdin: null,
    resources: { memoryBytes: 256 * MiB, cpuMillis: 1000, pids: 128, tmpfsBytes: 64 * MiB, openFiles: 256, outputBytes: 1024, ...res },
    security: { user: '65534:65534', readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'default', privileged: false },
    timeoutMs: 1000,
    labels: {},
    ...over,
  };
}

describe('kataAnnotations', () => {
  it('is empty for gvisor and runc, whatever is set', () => {
    for (const runtime of ['gvisor', 'runc'] as const) {
      expect(kataAnnotations(spec({ runtime, hypervisor: null, kernelPath: '/k', imagePath: '/i' }))).toEqual({});
    }
  });

  it('kernel and image only when their paths are set', () => {
    const none = kataAnnotations(spec());
    expect(none).not.toHaveProperty(`${K}kernel`);
    expect(none).not.toHaveProperty(`${K}image`);
    const both = kataAnnotations(spec({ kernelPath: '/opt/kata/vmlinux', imagePath: '/opt/kata/img' }));
    expect(both[`${K}kernel`]).toBe('/opt/kata/vmlinux');
    expect(both[`${K}image`]).toBe('/opt/kata/img');
    const kernelOnly = kataAnnotations(spec({ kernelPath: '/k' }));
    expect(kernelOnly[`${K}kernel`]).toBe('/k');
    expect(kernelOnly).not.toHaveProperty(`${K}image`);
  });

  it.each([
    [256 * MiB, '384'],
    [256 * MiB + 1, '385'],
    [1, '129'],
    [4 * MiB, '132'],
  ])('default_memory for %d bytes is ceil(MiB)+128 = %s', (memoryBytes, want) => {
    expect(kataAnnotations(spec({}, { memoryBytes }))[`${K}default_memory`]).toBe(want);
  });

  it.each([
    [1, '1'],
    [500, '1'],
    [1000, '1'],
    [1001, '2'],
    [2500, '3'],
    [4000, '4'],
  ])('default_vcpus for %d millicores = %s', (cpuMillis, want) => {
    expect(kataAnnotations(spec({}, { cpuMillis }))[`${K}default_vcpus`]).toBe(want);
  });

  it('no sizing annotations when memory or cpu is not set', () => {
    const a = kataAnnotations(spec({}, { memoryBytes: 0, cpuMillis: 0 }));
    expect(a).toEqual({});
  });
});

describe('cpuQuotaOf', () => {
  const withCpu = (cpuMillis: number) => ({ resources: { cpuMillis } }) as SandboxSpec;
  it('no limit only when none was asked; never a quota below the kernel minimum', () => {
    expect(cpuQuotaOf(withCpu(0))).toBe(0);
    expect(cpuQuotaOf(withCpu(1))).toBe(MIN_CPU_QUOTA_US);
    expect(cpuQuotaOf(withCpu(10))).toBe(1000);
    expect(cpuQuotaOf(withCpu(500))).toBe(50_000);
  });
});
