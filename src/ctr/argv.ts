/**
 * Pure builders of `ctr` argv arrays. Commands are data: nothing here touches a process,
 * a file or the network, so every shape is unit-tested without containerd.
 * The one place that runs them is exec.ts.
 */
import type { Hypervisor, RuntimeKind } from '../schemas/common.js';

export interface CtrTarget {
  /** containerd's socket. */
  address: string;
  namespace: string;
}

/** How a sandbox runtime is reached through containerd (src/runtimes/ makes it). */
export interface RuntimeTarget {
  kind: RuntimeKind;
  /** containerd runtime name, e.g. io.containerd.runc.v2 or io.containerd.kata-qemu.v2. */
  ociRuntime: string;
  /** --runc-binary: the runsc wrapper for gvisor. */
  runcBinary: string | null;
  /** --runtime-config-path, for Kata. */
  runtimeConfigPath: string | null;
  /** --snapshotter: devmapper for Firecracker. */
  snapshotter: string | null;
  hypervisor: Hypervisor | null;
  /**
   * `config`: ctr run --config with a full OCI spec over the shared read-only rootfs.
   * `image`: ctr run IMAGE with flags, for runtimes that need a block-device snapshot
   * (Firecracker); it cannot set a pids limit, rlimits or a sized tmpfs.
   */
  launch: 'config' | 'image';
  /**
   * Kata: the guest applies the spec's seccomp filter (its configuration sets
   * disable_guest_seccomp = false; host/kata-config.ts). Other runtimes always apply it.
   */
  guestSeccomp?: boolean;
}

const CONNECT_TIMEOUT = '3s';

export function globalArgs(t: CtrTarget): string[] {
  return ['--address', t.address, '--namespace', t.namespace, '--connect-timeout', CONNECT_TIMEOUT];
}

/** Flags that pick the runtime; shared by both launch modes. */
export function runtimeArgs(rt: RuntimeTarget): string[] {
  const a = ['--runtime', rt.ociRuntime];
  if (rt.runcBinary) a.push('--runc-binary', rt.runcBinary);
  if (rt.runtimeConfigPath) a.push('--runtime-config-path', rt.runtimeConfigPath);
  if (rt.snapshotter) a.push('--snapshotter', rt.snapshotter);
  return a;
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/** `ctr run --rm --config SPEC ID`: the whole sandbox is described by the OCI spec file. */
export function runWithConfigArgv(
  t: CtrTarget,
  rt: RuntimeTarget,
  opts: { id: string; specPath: string; labels: Record<string, string>; detach?: boolean; nullIo?: boolean },
): string[] {
  // --rm: ctr deletes the task and the container when the program ends. --detach (the warm
  // pool): ctr returns once the task started; the service deletes it later.
  const mode = opts.detach ? '--detach' : '--rm';
  // --null-io (a session's sandbox): its init speaks on a socket, never on its stdio.
  const io = opts.nullIo ? ['--null-io'] : [];
  return [...globalArgs(t), 'run', mode, ...io, ...runtimeArgs(rt), ...labelArgs(opts.labels), '--config', opts.specPath, opts.id];
}

/** `ctr tasks exec`: one more process in a running sandbox (the warm pool's path). */
export function execInTaskArgv(t: CtrTarget, id: string, o: { execId: string; cwd: string; command: string[] }): string[] {
  return [...globalArgs(t), 'tasks', 'exec', '--exec-id', o.execId, '--cwd', o.cwd, id, ...o.command];
}

export interface ImageRunOptions {
  id: string;
  detach?: boolean;
  image: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  command: string[];
  env: string[];
  cwd: string;
  readOnly: boolean;
  memoryBytes: number;
  cpuQuota: number;
  cpuPeriod: number;
  mounts: { type: string; src: string; dst: string; options: string[] }[];
  seccomp: boolean;
}

/**
 * `ctr run --rm [flags] IMAGE ID CMD...`: the image launch mode (Firecracker).
 * ctr has no flag for a pids limit, rlimits or no-new-privileges off, so those limits are
 * reported as not enforced in this mode. ctr 1.6 has no --user and no --hostname either:
 * the program runs as the image's own user (65534 in the sandbox image), whatever the
 * profile (seen with the Kata kit: ctr refused the --user this mode passed).
 */
export function runWithImageArgv(t: CtrTarget, rt: RuntimeTarget, o: ImageRunOptions): string[] {
  const a = [...globalArgs(t), 'run', o.detach ? '--detach' : '--rm', ...runtimeArgs(rt), ...labelArgs(o.labels)];
  for (const [k, v] of Object.entries(o.annotations).sort(([x], [y]) => x.localeCompare(y))) a.push('--annotation', `${k}=${v}`);
  if (o.readOnly) a.push('--read-only');
  if (o.memoryBytes > 0) a.push('--memory-limit', String(o.memoryBytes));
  if (o.cpuQuota > 0) a.push('--cpu-quota', String(o.cpuQuota), '--cpu-period', String(o.cpuPeriod));
  if (o.seccomp) a.push('--seccomp');
  a.push('--cwd', o.cwd);
  for (const e of o.env) a.push('--env', e);
  for (const m of o.mounts) {
    a.push('--mount', `type=${m.type},src=${m.src},dst=${m.dst},options=${m.options.join(':')}`);
  }
  a.push(o.image, o.id, ...o.command);
  return a;
}

export function killTaskArgv(t: CtrTarget, id: string, signal = 'SIGKILL'): string[] {
  return [...globalArgs(t), 'tasks', 'kill', '--all', '--signal', signal, id];
}

/** Without force the task must have stopped; --force kills it first (runsc fails that on a sandbox already stopped). */
export function deleteTaskArgv(t: CtrTarget, id: string, force = true): string[] {
  return [...globalArgs(t), 'tasks', 'delete', ...(force ? ['--force'] : []), id];
}

export function deleteContainerArgv(t: CtrTarget, id: string): string[] {
  return [...globalArgs(t), 'containers', 'delete', id];
}

/** Container ids carrying a label, e.g. our owner label: how leftovers are found. */
export function listContainersArgv(t: CtrTarget, label?: { key: string; value: string }): string[] {
  const a = [...globalArgs(t), 'containers', 'list', '--quiet'];
  if (label) a.push(`labels."${label.key}"==${label.value}`);
  return a;
}

export function listTasksArgv(t: CtrTarget): string[] {
  return [...globalArgs(t), 'tasks', 'list'];
}

export function listSnapshotsArgv(t: CtrTarget): string[] {
  return [...globalArgs(t), 'snapshots', 'list'];
}

export function versionArgv(t: CtrTarget): string[] {
  return [...globalArgs(t), 'version'];
}

export function listImagesArgv(t: CtrTarget, ref: string): string[] {
  return [...globalArgs(t), 'images', 'list', `name==${ref}`];
}

/** Imports an OCI archive; the layout's ref name `latest` becomes `<baseName>:latest`. */
export function importImageArgv(t: CtrTarget, archive: string, baseName: string): string[] {
  return [...globalArgs(t), 'images', 'import', '--base-name', baseName, archive];
}

/** Mounts the image's rootfs read-only at target (a snapshot view held by a lease named target). */
export function mountImageArgv(t: CtrTarget, ref: string, target: string): string[] {
  return [...globalArgs(t), 'images', 'mount', ref, target];
}

export function unmountImageArgv(t: CtrTarget, target: string): string[] {
  return [...globalArgs(t), 'images', 'unmount', '--rm', target];
}

/**
 * Creates (never starts) a container from the image with ctr's --seccomp, so that its
 * spec holds containerd's own default seccomp profile; read with containerInfoArgv.
 */
export function createSeccompProbeArgv(t: CtrTarget, image: string, id: string, labels: Record<string, string>): string[] {
  return [...globalArgs(t), 'containers', 'create', '--seccomp', ...labelArgs(labels), image, id, '/bin/true'];
}

export function containerInfoArgv(t: CtrTarget, id: string): string[] {
  return [...globalArgs(t), 'containers', 'info', id];
}

/** Sets labels on a container (a session's last use: containerd keeps what a restart reads). */
export function containerLabelArgv(t: CtrTarget, id: string, labels: Record<string, string>): string[] {
  return [...globalArgs(t), 'containers', 'label', id, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
}
