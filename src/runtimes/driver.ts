/**
 * The contract every sandbox runtime implements. A driver is data plus a few pure
 * functions: the shims it needs, how containerd reaches it, what it changes in a sandbox's
 * spec, which limits it can promise, its catalog row and its health. A new runtime is one
 * file that exports a driver and one line in registry.ts.
 */
import type { RuntimeTarget } from '../ctr/argv.js';
import type { OciSeccomp } from '../ctr/oci-spec.js';
import type { KataExecError } from '../errors.js';
import type { Hypervisor, Isolation, RuntimeKind } from '../schemas/common.js';
import type { LimitsEnforced } from '../schemas/execute.js';
import type { RuntimesInfo } from '../schemas/runtimes.js';

/** containerd's runc shim: gVisor (through --runc-binary) and plain runc both use it. */
export const RUNC_SHIM_RUNTIME = 'io.containerd.runc.v2';

/** What a host has, as host/detect.ts finds it. */
export interface HostRuntimes {
  /** containerd shim binaries found on PATH, e.g. containerd-shim-kata-v2. */
  shims: string[];
  runscPath: string | null;
  runcPath: string | null;
  /** /dev/kvm with VMX/SVM; without it a VM runtime emulates (QEMU TCG). Unknown: absent. */
  hardwareVirtualization?: boolean;
}

export interface RuntimeSettings {
  runtime: 'auto' | RuntimeKind;
  hypervisor: Hypervisor;
  /** `auto` is resolved against the host by host/runtime-settings.ts before any driver reads it. */
  kataShim: 'auto' | 'per-hypervisor' | 'generic';
  kataConfigPath: string;
  /** Kata: the guest applies seccomp, as read from the configuration the shim uses (host/kata-config.ts). */
  kataGuestSeccomp?: boolean;
  /** The runsc binary (KATA_EXEC_RUNSC_PATH). */
  runscPath: string;
  /** Path of the runsc wrapper the service writes (runsc --network=none "$@"). */
  runscWrapperPath: string;
}

/** The parts of a sandbox spec a driver adjusts: kept structural so drivers need no sandbox import. */
export interface SpecView {
  kernelPath: string;
  imagePath: string;
  resources: { memoryBytes: number; cpuMillis: number; pids: number };
}

/**
 * The limits a runtime enforces by itself (network and read-only root come from the profile;
 * a CPU-time limit from the launcher, the same on every runtime).
 */
export type RuntimeLimits = Omit<LimitsEnforced, 'network' | 'readOnlyRootfs' | 'cpuTime'>;

export interface SandboxLeftovers {
  /** Whether a process (by its argv) belongs to the sandbox. */
  isProcess(argv: readonly string[]): boolean;
  /** Directories (with whatever is mounted under them), as containerd's mount namespace sees them. */
  dirs: string[];
}

export type CatalogRow = RuntimesInfo['runtimes'][number];

export interface RuntimeDriver {
  readonly kind: RuntimeKind;
  readonly isolation: Isolation;
  /** Chosen by KATA_EXEC_RUNTIME=auto when installed; the order of the registry decides. */
  readonly auto: boolean;
  /**
   * How long a shim of a deleted container may take to exit by itself before it is killed.
   * A Kata shim stops its VM and removes its mounts on the way out: killed early, it leaves
   * the VM running (seconds under TCG emulation). A runc shim needs a moment.
   */
  readonly shimExitGraceMs: number;
  /**
   * What a sandbox of this runtime leaves on the host when its shim died before cleaning up:
   * its processes (a VM's hypervisor, which outlives the shim) and its directories, which
   * live in containerd's mount namespace. Absent: nothing outlives the shim.
   */
  leftovers?(id: string): SandboxLeftovers;
  /** Every shim binary this driver can use; host/detect.ts looks for these on PATH. */
  readonly shims: readonly string[];
  /** How containerd reaches this runtime under these settings. */
  target(s: RuntimeSettings): RuntimeTarget;
  /** Null when the host can run it; else what is missing and what to install. */
  missing(s: RuntimeSettings, host: HostRuntimes): string | null;
  /** The error that says it is not installed (Kata has its own code). */
  unavailable(message: string): KataExecError;
  /** Host preparation before the first sandbox (gVisor writes its runsc wrapper). */
  prepareHost?(s: RuntimeSettings, host: HostRuntimes): Promise<void>;
  /** The pids cgroup limit and RLIMIT_NPROC for a user pids limit (0: none). */
  pidLimits(pids: number): { pids: number; nproc: number };
  /**
   * The pids cgroup is only a host backstop above the program's own limit (enforced inside
   * the sandbox), and the runtime dies whole when it reaches it (gVisor's Sentry). A sandbox
   * that ends so is answered as the program's pids limit (sandbox/pids-limit.ts). False
   * where the cgroup is the limit itself and refuses the program's fork (runc), or is not
   * the program's (Kata: the guest's).
   */
  readonly pidsBackstop: boolean;
  /** The seccomp profile as this runtime's enforcer needs it (Kata 1.x's agent knows no errnoRet; gVisor's Sentry, clone3). */
  seccomp?(profile: OciSeccomp): OciSeccomp;
  /** OCI annotations of a sandbox (Kata sizes its VM from them). */
  annotations(spec: SpecView): Record<string, string>;
  /** What this runtime can promise to enforce, under this target. */
  limitsEnforced(target: RuntimeTarget): RuntimeLimits;
  /** Its row of GET /v1/runtimes. */
  catalogRow(s: RuntimeSettings, host: HostRuntimes, active: RuntimeTarget): CatalogRow;
  /** The readiness check of the active runtime. */
  health(target: RuntimeTarget, host: HostRuntimes): { ok: boolean; detail: string };
}

export function shimBinary(runtimeName: string): string {
  // io.containerd.kata-qemu.v2 -> containerd-shim-kata-qemu-v2
  const m = /^io\.containerd\.([a-z0-9-]+)\.(v\d+)$/.exec(runtimeName);
  if (!m) throw new Error(`not a containerd runtime name: ${runtimeName}`);
  return `containerd-shim-${m[1]}-${m[2]}`;
}

/**
 * `config` launch (a full OCI spec) carries every limit; `image` launch (ctr's flags, for
 * Firecracker) cannot set a pids limit, rlimits or a sized tmpfs.
 */
export function limitsOfLaunch(target: RuntimeTarget): RuntimeLimits {
  const config = target.launch === 'config';
  return { timeout: true, memory: true, cpu: true, pids: config, disk: config, output: true, openFiles: config, seccomp: true };
}
