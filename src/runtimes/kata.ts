/**
 * Kata Containers: each sandbox is a VM (QEMU, Cloud Hypervisor or Firecracker) behind
 * Kata's containerd shim. Its spec rule: annotations that name the guest kernel and image
 * and size the VM after the sandbox's limits.
 */
import { KataNotAvailableError } from '../errors.js';
import type { Hypervisor } from '../schemas/common.js';
import type { OciSeccomp } from '../ctr/oci-spec.js';
import { bytesToMib } from '../units.js';
import { limitsOfLaunch, shimBinary, type HostRuntimes, type RuntimeDriver, type RuntimeSettings, type SandboxLeftovers, type SpecView } from './driver.js';

const HYPERVISOR_SHIM: Record<Hypervisor, string> = {
  qemu: 'kata-qemu',
  'cloud-hypervisor': 'kata-clh',
  firecracker: 'kata-fc',
};
const HYPERVISORS = Object.keys(HYPERVISOR_SHIM) as Hypervisor[];

export function kataRuntimeName(h: Hypervisor, shim: RuntimeSettings['kataShim']): string {
  return shim === 'generic' ? 'io.containerd.kata.v2' : `io.containerd.${HYPERVISOR_SHIM[h]}.v2`;
}

/**
 * KATA_EXEC_KATA_SHIM=auto: kata-deploy's per-hypervisor shim (Kata 3.x) when installed,
 * else the generic containerd-shim-kata-v2 (Kata 1.x has only that one; the kit installs it).
 */
export function kataShimFor(setting: RuntimeSettings['kataShim'], h: Hypervisor, host: HostRuntimes): 'per-hypervisor' | 'generic' {
  if (setting !== 'auto') return setting;
  if (host.shims.includes(shimBinary(kataRuntimeName(h, 'per-hypervisor')))) return 'per-hypervisor';
  return host.shims.includes(shimBinary(kataRuntimeName(h, 'generic'))) ? 'generic' : 'per-hypervisor';
}

/**
 * Kata 1.x's agent knows no `errnoRet` (its libcontainer predates it). containerd's default
 * profile has one such rule, clone3 -> ENOSYS, so that glibc falls back to clone, whose
 * flags seccomp can filter. In the kit's guest that rule made every program exit 2 before
 * its first byte, and without it clone3 gets EPERM and no thread can start. ENOSYS without
 * errnoRet: SCMP_ACT_TRACE, which with no tracer attached fails the call with ENOSYS
 * (seccomp(2)). A tracer could let the call through instead: hardened denies ptrace, so
 * there none can; under the default profile a program may ptrace its own child, inside
 * its VM. Any other errnoRet rule keeps its denial, with the profile's default errno.
 */
export function forKata1Agent(p: OciSeccomp): OciSeccomp {
  const syscalls = (p.syscalls ?? []).map((r) => {
    if (r.errnoRet === undefined) return r;
    const { errnoRet, ...rest } = r;
    return errnoRet === 38 ? { ...rest, action: 'SCMP_ACT_TRACE' } : rest;
  });
  return { ...p, syscalls };
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

/**
 * What a Kata 1.x/2.x sandbox whose shim died leaves: the hypervisor (QEMU is daemonized,
 * so it outlives its shim; it is named sandbox-<id> and its sockets are under
 * /run/vc/vm/<id>), the 9p/virtio-fs shared directory with the rootfs mounted under it,
 * and the runtime's state.
 */
export function kataLeftovers(id: string): SandboxLeftovers {
  const vmDir = `/run/vc/vm/${id}/`;
  return {
    isProcess: (argv) => argv.some((a, i) => (a === '-name' && argv[i + 1] === `sandbox-${id}`) || a.includes(vmDir)),
    dirs: [`/run/kata-containers/shared/sandboxes/${id}`, `/run/vc/sbs/${id}`, `/run/vc/vm/${id}`],
  };
}

export const kataDriver: RuntimeDriver = {
  kind: 'kata',
  isolation: 'vm',
  auto: true,
  // Stopping an emulated VM takes seconds, more on a loaded host.
  shimExitGraceMs: 30_000,
  leftovers: kataLeftovers,
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
      guestSeccomp: s.kataGuestSeccomp === true,
    };
  },
  missing: (s, host) => {
    const shim = shimBinary(kataRuntimeName(s.hypervisor, s.kataShim));
    return host.shims.includes(shim)
      ? null
      : `Kata Containers is not available: ${shim} is not on PATH. Install Kata (kata-deploy or the release tarball), or set KATA_EXEC_RUNTIME=gvisor`;
  },
  unavailable: (message) => new KataNotAvailableError(message),
  // Kata 1.x drops the pids cgroup in the guest (kata_agent.go constraintGRPCSpec): the limit
  // is RLIMIT_NPROC, per uid in the guest kernel, and one VM holds one sandbox.
  pidLimits: (pids) => ({ pids, nproc: pids }),
  pidsBackstop: false,
  seccomp: forKata1Agent,
  annotations: kataAnnotations,
  // The guest applies the filter only when its configuration sets disable_guest_seccomp = false
  // (Kata's default is true): claimed only when the service read that in the file the shim uses.
  limitsEnforced: (target) => ({ ...limitsOfLaunch(target), seccomp: target.guestSeccomp === true }),
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
    if (!host.shims.includes(shim)) return { ok: false, detail: `${shim} is not installed` };
    // Emulated VMs work, slowly: that is said, never made a failure (nor is `kata-runtime
    // check`, which fails on such a host, consulted for readiness).
    const emulated =
      host.hardwareVirtualization === false
        ? '; VMs are emulated on this host (no /dev/kvm with VMX/SVM: QEMU TCG), each boots in seconds, not tenths'
        : '';
    return { ok: true, detail: `kata (${target.ociRuntime}) is installed${emulated}` };
  },
};
