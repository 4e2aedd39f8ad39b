/**
 * Starts the containerd that the integration and hostile tiers run against: a private
 * one in a temporary directory, with the sandbox image imported. It never skips: when
 * anything is missing it throws, and the run fails with what to do.
 *
 * A stand-in Kata shim (a link named containerd-shim-kata-qemu-v2 to the runc shim) is on
 * containerd's PATH, so that the Kata argv contract can be checked here. On a real Kata
 * host (TEST_RUNTIMES=kata) the real shim comes first on PATH and the link is not made.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

export interface TestContainerd {
  address: string;
  namespace: string;
  root: string;
  image: string;
  shimDir: string;
  runtimes: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    containerd: TestContainerd;
  }
}

const repo = path.resolve(import.meta.dirname, '../..');

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function which(bin: string): string | null {
  try {
    return sh('sh', ['-c', `command -v ${bin}`]).trim() || null;
  } catch {
    return null;
  }
}

export default function setup(project: TestProject) {
  if (process.getuid?.() !== 0) throw new Error('the integration tests need root (containerd, mounts): run them as root');
  for (const bin of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (!which(bin)) throw new Error(`${bin} is missing: run scripts/setup.sh deps (apt-get install containerd runc runsc)`);
  }
  const stateDir = process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec';
  const archive = path.join(stateDir, 'images', 'sandbox.oci.tar');
  if (!existsSync(archive)) throw new Error(`${archive} is missing: run scripts/setup.sh deps (it builds the sandbox image)`);

  const runtimes = (process.env.TEST_RUNTIMES ?? 'runc,gvisor').split(',').map((s) => s.trim()).filter(Boolean);
  const root = mkdtempSync('/tmp/kx-test-');
  const shimDir = path.join(root, 'shims');
  mkdirSync(shimDir);
  if (!which('containerd-shim-kata-qemu-v2')) {
    symlinkSync(which('containerd-shim-runc-v2')!, path.join(shimDir, 'containerd-shim-kata-qemu-v2'));
  }
  const env = { KATA_EXEC_STATE_DIR: path.join(root, 'state'), KATA_EXEC_RUN_DIR: path.join(root, 'run'), KATA_EXEC_SHIM_PATH: shimDir };
  sh('bash', [path.join(repo, 'scripts/containerd.sh'), 'start'], env);
  const address = path.join(root, 'run', 'containerd', 'containerd.sock');
  const namespace = 'kata-exec-test';
  const image = 'toolruntime-sandbox:latest';
  sh('ctr', ['--address', address, '-n', namespace, 'images', 'import', '--base-name', 'toolruntime-sandbox', archive]);

  project.provide('containerd', { address, namespace, root, image, shimDir, runtimes });

  return () => {
    // Unmount whatever a test left mounted under our directory, then stop containerd.
    const mounts = sh('sh', ['-c', `grep -o ' ${root}[^ ]*' /proc/self/mountinfo || true`])
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        sh('umount', ['--lazy', m]);
      } catch {
        // already gone
      }
    }
    sh('bash', [path.join(repo, 'scripts/containerd.sh'), 'stop'], env);
    rmSync(root, { recursive: true, force: true });
  };
}
