/** The few host commands beside ctr: mount and umount, as argv arrays. */
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

export async function mountOverlay(lower: string, upper: string, work: string, target: string): Promise<void> {
  const r = await runCommand('mount', overlayMountArgv(lower, upper, work, target), { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new Error(`mount overlay failed: ${r.stderr.trim() || r.spawnError}`);
}

/** A tmpfs of a fixed size: what a writable root may write goes there, not to the host disk. */
export async function mountTmpfs(target: string, sizeBytes: number): Promise<void> {
  const r = await runCommand('mount', tmpfsMountArgv(target, sizeBytes), { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new Error(`mount tmpfs failed: ${r.stderr.trim() || r.spawnError}`);
}

export async function umount(target: string): Promise<void> {
  const r = await runCommand('umount', umountArgv(target), { timeoutMs: 10_000 });
  if (r.exitCode !== 0 && !/not mounted|no mount point/i.test(r.stderr)) throw new Error(`umount failed: ${r.stderr.trim() || r.spawnError}`);
}
