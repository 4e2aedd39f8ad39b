/**
 * Which sandbox runtime to use and how containerd reaches it. `resolveRuntime` is pure:
 * it takes what the host has (HostRuntimes, found by detect.ts) and the settings.
 */
import { KataExecError, ErrorCode, KataNotAvailableError } from '../errors.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import type { Hypervisor, Isolation, RuntimeKind } from '../schemas/common.js';

export interface HostRuntimes {
  /** containerd shim binaries found on PATH, e.g. containerd-shim-kata-v2. */
  shims: string[];
  runscPath: string | null;
  runcPath: string | null;
}

export interface RuntimeSettings {
  runtime: 'auto' | RuntimeKind;
  hypervisor: Hypervisor;
  kataShim: 'per-hypervisor' | 'generic';
  kataConfigPath: string;
  /** Path of the runsc wrapper the runner writes (runsc --network=none "$@"). */
  runscWrapperPath: string;
}

const HYPERVISOR_SHIM: Record<Hypervisor, string> = {
  qemu: 'kata-qemu',
  'cloud-hypervisor': 'kata-clh',
  firecracker: 'kata-fc',
};

export function shimBinary(runtimeName: string): string {
  // io.containerd.kata-qemu.v2 -> containerd-shim-kata-qemu-v2
  const m = /^io\.containerd\.([a-z0-9-]+)\.(v\d+)$/.exec(runtimeName);
  if (!m) throw new Error(`not a containerd runtime name: ${runtimeName}`);
  return `containerd-shim-${m[1]}-${m[2]}`;
}

export function kataRuntimeName(h: Hypervisor, shim: RuntimeSettings['kataShim']): string {
  return shim === 'generic' ? 'io.containerd.kata.v2' : `io.containerd.${HYPERVISOR_SHIM[h]}.v2`;
}

export function isolationOf(kind: RuntimeKind): Isolation {
  return kind === 'kata' ? 'vm' : kind === 'gvisor' ? 'gvisor' : 'container';
}

export class RuntimeUnavailableError extends KataExecError {
  constructor(message: string) {
    super(ErrorCode.RuntimeNotInstalled, message);
  }
}

function kataTarget(s: RuntimeSettings): RuntimeTarget {
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
}

/**
 * Picks the runtime. `auto`: kata when its shim is installed, else gvisor when runsc is;
 * runc only when named. Throws with what to install when nothing fits.
 */
export function resolveRuntime(s: RuntimeSettings, host: HostRuntimes): RuntimeTarget {
  const kata = kataTarget(s);
  const kataInstalled = host.shims.includes(shimBinary(kata.ociRuntime));
  const gvisor: RuntimeTarget = {
    kind: 'gvisor',
    ociRuntime: 'io.containerd.runc.v2',
    runcBinary: s.runscWrapperPath,
    runtimeConfigPath: null,
    snapshotter: null,
    hypervisor: null,
    launch: 'config',
  };
  const runc: RuntimeTarget = { ...gvisor, kind: 'runc', runcBinary: null };
  const runcShim = host.shims.includes('containerd-shim-runc-v2');

  switch (s.runtime) {
    case 'kata':
      if (!kataInstalled) {
        throw new KataNotAvailableError(
          `Kata Containers is not available: ${shimBinary(kata.ociRuntime)} is not on PATH. Install Kata (kata-deploy or the release tarball), or set KATA_EXEC_RUNTIME=gvisor`,
        );
      }
      return kata;
    case 'gvisor':
      if (!host.runscPath || !runcShim) {
        throw new RuntimeUnavailableError('gVisor is not available: install runsc and containerd-shim-runc-v2 (apt-get install runsc containerd)');
      }
      return gvisor;
    case 'runc':
      if (!host.runcPath || !runcShim) throw new RuntimeUnavailableError('runc is not available: apt-get install runc containerd');
      return runc;
    case 'auto':
      if (kataInstalled) return kata;
      if (host.runscPath && runcShim) return gvisor;
      throw new RuntimeUnavailableError(
        `no sandbox runtime found: install Kata Containers (${shimBinary(kata.ociRuntime)}) or gVisor (apt-get install runsc containerd); plain runc is used only with KATA_EXEC_RUNTIME=runc`,
      );
  }
}
