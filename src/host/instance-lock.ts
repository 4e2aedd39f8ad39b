/**
 * One service per containerd namespace, and one per run directory. Two instances on one
 * namespace would reconcile away each other's sandboxes; two on one run directory would
 * delete each other's work directories and unmount each other's image root. So at start
 * an instance takes two exclusive locks, held as long as it lives, and a second instance
 * refuses to start, saying which process holds them.
 *
 * The locks are flock(2) locks, held by a `flock` process (util-linux) that the kernel
 * kills when the service dies however it dies (tiedToParent): a lock never outlives its
 * owner, and there is no stale lock file to clean up by hand.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { spawnStreaming, type SpawnedProcess } from '../ctr/exec.js';

/** Where the per-namespace locks live: on the host, beside other services' locks. */
export const NAMESPACE_LOCK_DIR = '/run/lock/kata-exec';
/** How long to wait for a lock a dying instance still holds (kill -9 then restart). */
const WAIT_SECONDS = 5;
const NAMESPACE_BUSY = 75;
const RUN_DIR_BUSY = 76;

export class InstanceLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceLockedError';
  }
}

export function namespaceLockPath(address: string, namespace: string, dir = NAMESPACE_LOCK_DIR): string {
  const key = createHash('sha256').update(`${address}\0${namespace}`).digest('hex').slice(0, 24);
  return path.join(dir, `${key}.lock`);
}

export function runDirLockPath(runDir: string): string {
  return path.join(runDir, 'instance.lock');
}

/** The flock argv: the namespace lock, then inside it the run-directory lock, then wait for stdin's end. */
export function lockArgv(namespaceLock: string, runDirLock: string): string[] {
  const flock = (file: string, busy: number) => ['--exclusive', '--close', '--wait', String(WAIT_SECONDS), '--conflict-exit-code', String(busy), file];
  return [...flock(namespaceLock, NAMESPACE_BUSY), 'flock', ...flock(runDirLock, RUN_DIR_BUSY), 'sh', '-c', 'echo locked; exec cat >/dev/null'];
}

export interface InstanceLock {
  release(): Promise<void>;
}

async function owner(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim() ? ` (${text.trim()})` : '';
}

/**
 * Takes both locks or throws InstanceLockedError with what holds them and what to set.
 * Writes `pid <n>` into each lock file once held, for the next one's message.
 */
export async function acquireInstanceLock(o: { address: string; namespace: string; runDir: string; lockDir?: string }): Promise<InstanceLock> {
  const nsLock = namespaceLockPath(o.address, o.namespace, o.lockDir);
  const rdLock = runDirLockPath(o.runDir);
  await mkdir(path.dirname(nsLock), { recursive: true, mode: 0o755 });
  await mkdir(o.runDir, { recursive: true, mode: 0o711 });
  const proc: SpawnedProcess = spawnStreaming('flock', lockArgv(nsLock, rdLock), { stdin: 'pipe', tiedToParent: true });
  proc.stderr.resume();
  const held = await new Promise<boolean>((resolve) => {
    createInterface({ input: proc.stdout }).once('line', (l) => resolve(l === 'locked'));
    void proc.done.then(() => resolve(false));
  });
  if (!held) {
    const exit = await proc.done;
    if (exit.exitCode === NAMESPACE_BUSY) {
      throw new InstanceLockedError(
        `another kata-exec instance${await owner(nsLock)} already serves containerd namespace "${o.namespace}" at ${o.address}: stop it, or give this one its own KATA_EXEC_NAMESPACE (lock ${nsLock})`,
      );
    }
    if (exit.exitCode === RUN_DIR_BUSY) {
      throw new InstanceLockedError(
        `another kata-exec instance${await owner(rdLock)} already uses the run directory ${o.runDir}: stop it, or give this one its own KATA_EXEC_RUN_DIR`,
      );
    }
    throw new InstanceLockedError(`could not take the instance lock ${nsLock} (${exit.spawnError ?? `flock exited ${exit.exitCode}`}): is util-linux installed?`);
  }
  const me = `pid ${process.pid}`;
  await Promise.all([writeFile(nsLock, `${me}\n`), writeFile(rdLock, `${me}\n`)]).catch(() => undefined);
  return {
    release: async () => {
      proc.stdin?.end();
      await proc.done;
    },
  };
}
