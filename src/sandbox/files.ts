/**
 * The per-execution directory on the host: RUN_DIR/work/<id>/ holds spec.json and, for a
 * writable root, the overlay's upper, work and merged directories. The program's files
 * never pass through here: the launcher writes them inside the sandbox. The host only
 * writes here and removes it: it never reads back or follows a path that the sandbox
 * could have written.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

export interface ExecutionDir {
  root: string;
  specPath: string;
  /** A writable root: upper and work live on a tmpfs of the disk limit's size (`scratch`). */
  overlay: { scratch: string; upper: string; work: string; merged: string };
}

export function executionDir(workDir: string, id: string): ExecutionDir {
  const root = path.join(workDir, id);
  return {
    root,
    specPath: path.join(root, 'spec.json'),
    overlay: {
      scratch: path.join(root, 'scratch'),
      upper: path.join(root, 'scratch', 'upper'),
      work: path.join(root, 'scratch', 'work'),
      merged: path.join(root, 'rootfs'),
    },
  };
}

export async function makeExecutionDir(dir: ExecutionDir): Promise<void> {
  await mkdir(dir.root, { recursive: true, mode: 0o711 });
  await chmod(dir.root, 0o711);
}

export async function removeExecutionDir(dir: ExecutionDir): Promise<void> {
  // rm does not follow symbolic links: a link made by the sandbox is removed, not its target.
  await rm(dir.root, { recursive: true, force: true, maxRetries: 3 });
}
