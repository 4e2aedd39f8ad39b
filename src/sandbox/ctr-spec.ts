/**
 * A sandbox spec mapped onto what ctr takes: the OCI spec input (config launch) or the
 * `ctr run IMAGE` options (image launch, Firecracker), with the runtime driver's own
 * adjustments (gVisor's pids rule, Kata's annotations). Pure; the benchmark's raw
 * baseline uses it too, so that both run the very same spec.
 */
import type { ImageRunOptions, RuntimeTarget } from '../ctr/argv.js';
import { CODE_DIR_IN_SANDBOX, type OciSeccomp, type OciSpecInput } from '../ctr/oci-spec.js';
import { driverFor } from '../runtimes/registry.js';
import { LAUNCHER_PATH } from './launch-protocol.js';
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

/**
 * What the launcher may do beyond an unprivileged user: become the program's user, and end
 * the program's processes (another uid's) when it is done.
 */
export const LAUNCHER_CAPABILITIES = ['CAP_SETUID', 'CAP_SETGID', 'CAP_KILL'];

/** A sandbox's init process: its argv, its user and its capabilities. */
export interface SandboxInit {
  command: string[];
  uid: number;
  gid: number;
  capabilities: string[];
}

function userOf(spec: SandboxSpec): [number, number] {
  return spec.security.user.split(':').map(Number) as [number, number];
}

/**
 * The launcher as init. Where the program runs as an unprivileged user (standard,
 * hardened), the launcher runs as root with LAUNCHER_CAPABILITIES only, and starts the
 * program as that user (`--user`), which drops them all: the program can then neither
 * signal, ptrace nor open the /proc files of the launcher, on any runtime (gVisor's procfs
 * checks only the uid). Where the program is root (dev), both are root without capabilities.
 */
export function launcherInit(spec: SandboxSpec): SandboxInit {
  const [uid, gid] = userOf(spec);
  if (uid === 0) return { command: [LAUNCHER_PATH], uid, gid, capabilities: [] };
  return { command: [LAUNCHER_PATH, '--user', `${uid}:${gid}`], uid: 0, gid: 0, capabilities: LAUNCHER_CAPABILITIES };
}

/** The program itself as init, as the spec's user (the benchmark's raw baseline). */
export function programInit(spec: SandboxSpec, command: string[]): SandboxInit {
  const [uid, gid] = userOf(spec);
  return { command, uid, gid, capabilities: [] };
}

/**
 * A sandbox's cgroup, relative to each hierarchy's root: the runtime (runc, runsc) creates it
 * and deletes it with the task. host/cgroups.ts reads its pids.events from there.
 */
export function sandboxCgroupsPath(namespace: string, id: string): string {
  return `/${namespace}/${id}`;
}

/** The OCI spec input of a sandbox in config mode: its spec, its init and its rootfs. */
export function ociSpecInput(
  spec: SandboxSpec,
  rt: RuntimeTarget,
  o: { rootfs: string; namespace: string; init: SandboxInit; seccomp: OciSeccomp | null },
): OciSpecInput {
  const [uid] = userOf(spec);
  const driver = driverFor(rt.kind);
  const { pids } = driver.pidLimits(withLauncher(spec.resources.pids));
  // RLIMIT_NPROC counts the processes of one uid: the launcher's own only when the program shares it.
  const { nproc } = driver.pidLimits(o.init.uid === uid ? withLauncher(spec.resources.pids) : spec.resources.pids);
  return {
    rootfsPath: o.rootfs,
    readOnlyRootfs: spec.security.readOnlyRootfs,
    args: o.init.command,
    env: spec.env,
    cwd: spec.workingDir,
    uid: o.init.uid,
    gid: o.init.gid,
    capabilities: o.init.capabilities,
    hostname: 'sandbox',
    cgroupsPath: sandboxCgroupsPath(o.namespace, spec.id),
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
