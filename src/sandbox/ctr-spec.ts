/**
 * A sandbox spec mapped onto what ctr takes: the OCI spec input (config launch) or the
 * `ctr run IMAGE` options (image launch, Firecracker), with the runtime driver's own
 * adjustments (gVisor's pids rule, Kata's annotations). Pure; the benchmark's raw
 * baseline uses it too, so that both run the very same spec.
 */
import type { ImageRunOptions, RuntimeTarget } from '../ctr/argv.js';
import { CODE_DIR_IN_SANDBOX, type OciSeccomp, type OciSpecInput } from '../ctr/oci-spec.js';
import { driverFor } from '../runtimes/registry.js';
import type { SandboxSpec } from './types.js';

export const CPU_PERIOD_US = 100_000;

/** The kernel refuses a CFS quota below 1 ms; 0 would mean no limit at all. */
export const MIN_CPU_QUOTA_US = 1000;

export function cpuQuotaOf(spec: SandboxSpec): number {
  if (spec.resources.cpuMillis <= 0) return 0;
  return Math.max(MIN_CPU_QUOTA_US, Math.round((spec.resources.cpuMillis * CPU_PERIOD_US) / 1000));
}

/** The annotations of the spec's runtime (Kata sizes its VM from them; the others have none). */
export function sandboxAnnotations(spec: SandboxSpec): Record<string, string> {
  return driverFor(spec.runtime).annotations(spec);
}

/**
 * The pids limit with the launcher counted: it is the sandbox's init, one process the
 * program's limit must not pay for.
 */
export function withLauncher(pids: number): number {
  return pids > 0 ? pids + 1 : 0;
}

/** The OCI spec input of a sandbox in config mode: its spec and its rootfs. */
export function ociSpecInput(
  spec: SandboxSpec,
  rt: RuntimeTarget,
  o: { rootfs: string; namespace: string; command: string[]; seccomp: OciSeccomp | null },
): OciSpecInput {
  const [uid, gid] = spec.security.user.split(':').map(Number) as [number, number];
  const driver = driverFor(rt.kind);
  const { pids, nproc } = driver.pidLimits(withLauncher(spec.resources.pids));
  return {
    rootfsPath: o.rootfs,
    readOnlyRootfs: spec.security.readOnlyRootfs,
    args: o.command,
    env: spec.env,
    cwd: spec.workingDir,
    uid,
    gid,
    hostname: 'sandbox',
    cgroupsPath: `/${o.namespace}/${spec.id}`,
    memoryBytes: spec.resources.memoryBytes,
    cpuQuota: cpuQuotaOf(spec),
    cpuPeriod: CPU_PERIOD_US,
    pids,
    nproc,
    tmpfsBytes: spec.resources.tmpfsBytes,
    openFiles: spec.resources.openFiles,
    network: spec.security.networkMode,
    seccomp: o.seccomp && driver.seccomp ? driver.seccomp(o.seccomp) : o.seccomp,
    annotations: sandboxAnnotations(spec),
  };
}

/** The `ctr run IMAGE` options of a sandbox in image mode: what of the spec ctr's flags can carry. */
export function imageRunOptions(
  spec: SandboxSpec,
  o: { command: string[]; seccomp: boolean; detach: boolean },
): ImageRunOptions {
  return {
    detach: o.detach,
    id: spec.id,
    image: spec.image,
    labels: spec.labels,
    annotations: sandboxAnnotations(spec),
    command: o.command,
    env: spec.env,
    cwd: spec.workingDir,
    readOnly: spec.security.readOnlyRootfs,
    memoryBytes: spec.resources.memoryBytes,
    cpuQuota: cpuQuotaOf(spec),
    cpuPeriod: CPU_PERIOD_US,
    mounts: [
      { type: 'tmpfs', src: 'tmpfs', dst: CODE_DIR_IN_SANDBOX, options: ['nosuid', 'nodev', 'mode=1777', `size=${spec.resources.tmpfsBytes}`] },
      { type: 'tmpfs', src: 'tmpfs', dst: '/tmp', options: ['nosuid', 'nodev', 'mode=1777', `size=${spec.resources.tmpfsBytes}`] },
    ],
    seccomp: o.seccomp,
  };
}
