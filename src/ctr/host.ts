/**
 * The few host commands beside ctr: mount and umount, as argv arrays. Each may run in
 * containerd's mount namespace (nsPid: containerd's pid, see host/containerd-ns.ts) through
 * nsenter, where a Kata 1.x shim must find them; null runs them in ours.
 */
import { runCommand } from './exec.js';

export function overlayMountArgv(lower: string, upper: string, work: string, target: string): string[] {
  return ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target];
}

export function tmpfsMountArgv(target: string, sizeBytes: number): string[] {
  return ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700,nosuid,nodev`, 'tmpfs', target];
}

export function umountArgv(target: string): string[] {
  return ['--lazy', target];
}

/** argv that runs `argv` in the mount namespace of `nsPid`, or `argv` itself when null. */
export function inMountNamespaceArgv(nsPid: number | null, argv: readonly string[]): string[] {
  return nsPid === null ? [...argv] : ['nsenter', '-t', String(nsPid), '-m', '--', ...argv];
}

function run(nsPid: number | null, argv: string[]) {
  const [file, ...args] = inMountNamespaceArgv(nsPid, argv);
  return runCommand(file!, args, { timeoutMs: 10_000 });
}

export async function mountOverlay(lower: string, upper: string, work: string, target: string, nsPid: number | null = null): Promise<void> {
  const r = await run(nsPid, ['mount', ...overlayMountArgv(lower, upper, work, target)]);
  if (r.exitCode !== 0) throw new Error(`mount overlay failed: ${r.stderr.trim() || r.spawnError}`);
}

/** A tmpfs of a fixed size: what a writable root may write goes there, not to the host disk. */
export async function mountTmpfs(target: string, sizeBytes: number, nsPid: number | null = null): Promise<void> {
  const r = await run(nsPid, ['mount', ...tmpfsMountArgv(target, sizeBytes)]);
  if (r.exitCode !== 0) throw new Error(`mount tmpfs failed: ${r.stderr.trim() || r.spawnError}`);
}

export async function umount(target: string, nsPid: number | null = null): Promise<void> {
  const r = await run(nsPid, ['umount', ...umountArgv(target)]);
  if (r.exitCode !== 0 && !/not mounted|no mount point/i.test(r.stderr)) throw new Error(`umount failed: ${r.stderr.trim() || r.spawnError}`);
}

/** Runs a short command (mkdir...) in the mount namespace of `nsPid` (ours when null). */
export async function runInMountNamespace(nsPid: number | null, argv: string[]): Promise<void> {
  const r = await run(nsPid, argv);
  if (r.exitCode !== 0) throw new Error(`${argv[0]} failed: ${r.stderr.trim() || r.spawnError}`);
}
