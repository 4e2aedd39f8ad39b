/**
 * The per-execution directory on the host: RUN_DIR/work/<id>/ holds code/ (bound
 * read-only at /code), spec.json, and for a writable root the overlay's upper, work and
 * merged directories. The host only writes here and removes it: it never reads back or
 * follows a path that the sandbox could have written.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SandboxFile } from './types.js';

export interface ExecutionDir {
  root: string;
  codeDir: string;
  /** Bound read-only at /kx: holds `stdin`, the program's standard input. */
  ioDir: string;
  specPath: string;
  /** A writable root: upper and work live on a tmpfs of the disk limit's size (`scratch`). */
  overlay: { scratch: string; upper: string; work: string; merged: string };
}

export function executionDir(workDir: string, id: string): ExecutionDir {
  const root = path.join(workDir, id);
  return {
    root,
    codeDir: path.join(root, 'code'),
    ioDir: path.join(root, 'io'),
    specPath: path.join(root, 'spec.json'),
    overlay: {
      scratch: path.join(root, 'scratch'),
      upper: path.join(root, 'scratch', 'upper'),
      work: path.join(root, 'scratch', 'work'),
      merged: path.join(root, 'rootfs'),
    },
  };
}

/** Writes the program's files. Paths were validated (relative, no "..", no empty parts). */
export async function writeCodeFiles(dir: ExecutionDir, files: readonly SandboxFile[]): Promise<void> {
  await mkdir(dir.codeDir, { recursive: true, mode: 0o755 });
  await chmod(dir.root, 0o711);
  for (const f of files) {
    const dest = path.join(dir.codeDir, f.path);
    if (!dest.startsWith(dir.codeDir + path.sep)) throw new Error(`file path escapes the code directory: ${f.path}`);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
    // 'wx': never write through something that already exists.
    await writeFile(dest, f.content, { mode: 0o644, flag: 'wx' });
  }
}

/**
 * The program's standard input, as a file the start wrapper redirects from. (Not ctr's
 * stdin: `ctr run` starts copying it before it can forward the end of file, so a program
 * reading to the end would wait forever.) Written before the program starts; an empty
 * file when the request has none.
 */
export async function writeStdin(dir: ExecutionDir, stdin: Buffer | null): Promise<void> {
  await mkdir(dir.ioDir, { recursive: true, mode: 0o755 });
  await writeFile(path.join(dir.ioDir, 'stdin'), stdin ?? Buffer.alloc(0), { mode: 0o644 });
}

export async function removeExecutionDir(dir: ExecutionDir): Promise<void> {
  // rm does not follow symbolic links: a link made by the sandbox is removed, not its target.
  await rm(dir.root, { recursive: true, force: true, maxRetries: 3 });
}
