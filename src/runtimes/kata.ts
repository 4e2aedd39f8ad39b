/**
 * Kata Containers: each sandbox is a VM (QEMU, Cloud Hypervisor or Firecracker) behind
 * Kata's containerd shim. Its spec rule: annotations that name the guest kernel and image
 * and size the VM after the sandbox's limits.
 */
import { KataNotAvailableError } from '../errors.js';
import type { Hypervisor } from '../schemas/common.js';
import { bytesToMib } from '../units.js';
import { limitsOfLaunch, shimBinary, type RuntimeDriver, type RuntimeSettings, type SpecView } from './driver.js';

const HYPERVISOR_SHIM: Record<Hypervisor, string> = {
  qemu: 'kata-qemu',
  'cloud-hypervisor': 'kata-clh',
  firecracker: 'kata-fc',
};
const HYPERVISORS = Object.keys(HYPERVISOR_SHIM) as Hypervisor[];

export function kataRuntimeName(h: Hypervisor, shim: RuntimeSettings['kataShim']): string {
  return shim === 'generic' ? 'io.containerd.kata.v2' : `io.containerd.${HYPERVISOR_SHIM[h]}.v2`;
}

const K = 'io.katacontainers.config.hypervisor.';

export function kataAnnotations(spec: SpecView): Record<string, string> {
  const a: Record<string, string> = {};
  if (spec.kernelPath) a[`${K}kernel`] = spec.kernelPath;
  if (spec.imagePath) a[`${K}image`] = spec.imagePath;
  // Size the VM itself after the limits: memory (MiB, with room for the guest kernel and
  // agent) and vCPUs. Needs default_memory and default_vcpus in enable_annotations.
  if (spec.resources.memoryBytes > 0) a[`${K}default_memory`] = String(bytesToMib(spec.resources.memoryBytes) + 128);
  if (spec.resources.cpuMillis > 0) a[`${K}default_vcpus`] = String(Math.max(1, Math.ceil(spec.resources.cpuMillis / 1000)));
  return a;
}

export const kataDriver: RuntimeDriver = {
  kind: 'kata',
  isolation: 'vm',
  auto: true,
  shims: [kataRuntimeName('qemu', 'generic'), ...HYPERVISORS.map((h) => kataRuntimeName(h, 'per-hypervisor'))].map(shimBinary),
  target: (s) => {
    const fc = s.hypervisor === 'firecracker';
    return {
      kind: 'kata',
      ociRuntime: kataRuntimeName(s.hypervisor, s.kataShim),
      runcBinary: null,
      runtimeConfigPath: s.kataConfigPath || null,
      // Firecracker has no virtio-fs: its rootfs must be a block device.
      snapshotter: fc ? 'devmapper' : null,
      hypervisor: s.hypervisor,
      launch: fc ? 'image' : 'config',
    };
  },
  missing: (s, host) => {
    const shim = shimBinary(kataRuntimeName(s.hypervisor, s.kataShim));
    return host.shims.includes(shim)
      ? null
      : `Kata Containers is not available: ${shim} is not on PATH. Install Kata (kata-deploy or the release tarball), or set KATA_EXEC_RUNTIME=gvisor`;
  },
  unavailable: (message) => new KataNotAvailableError(message),
  pidLimits: (pids) => ({ pids, nproc: 0 }),
  annotations: kataAnnotations,
  limitsEnforced: limitsOfLaunch,
  catalogRow: (s, host, active) => {
    const hypervisors = HYPERVISORS.filter((h) =>
      [kataRuntimeName(h, 'per-hypervisor'), kataRuntimeName(h, 'generic')].some((n) => host.shims.includes(shimBinary(n))),
    );
    return {
      kind: 'kata',
      isolation: 'vm',
      installed: hypervisors.length > 0,
      active: active.kind === 'kata',
      ociRuntime: active.kind === 'kata' ? active.ociRuntime : kataRuntimeName(s.hypervisor, s.kataShim),
      hypervisors,
    };
  },
  health: (target, host) => {
    const shim = shimBinary(target.ociRuntime);
    return host.shims.includes(shim) ? { ok: true, detail: `kata (${target.ociRuntime}) is installed` } : { ok: false, detail: `${shim} is not installed` };
  },
};
