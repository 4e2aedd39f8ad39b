/**
 * Bytes on the host's disk in some directories, for the hostile tests that prove a
 * program's writes never reach it (test/hostile/files.test.ts). Unit-tested in
 * test/unit/disk-usage.test.ts with a directory deleted while du walks it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `du -sxc` over `dirs`: -x, not into mounts (a shared read-only rootfs, a tmpfs); a
 * writable layer that reached the host disk would be a plain directory, and would count.
 * A directory may be deleted while du walks it (a sandbox's teardown): du then says so,
 * exits 1 and still prints the total of what it saw, which is the answer. No total at
 * all is an error.
 */
export async function diskBytes(dirs: readonly string[]): Promise<number> {
  if (dirs.length === 0) return 0;
  const { stdout, stderr } = await run('du', ['-sxc', '--block-size=1', ...dirs]).then(
    (r) => r,
    (err: { stdout?: string; stderr?: string; message: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? err.message }),
  );
  const total = stdout.split('\n').find((l) => /\ttotal$/.test(l));
  if (!total) throw new Error(`du printed no total: ${stderr.trim()}`);
  return Number(total.split('\t')[0]);
}
