/**
 * Starts the containerd that the integration and hostile tiers run against: a private
 * one in a temporary directory (scripts/lib/private-containerd.ts), with the full sandbox
 * image (every language: scripts/build-image.sh full) imported. It never skips: when anything is missing it throws, and the run fails with
 * what to do.
 *
 * TEST_RUNTIMES (default runc,gvisor) picks the runtimes. With kata among them and the Kata
 * kit installed (KATA_EXEC_KATA_KIT, default /opt/kata-kit), containerd is started the way
 * the kit needs; on a Kata host without the kit, Kata's shim is found on PATH.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { findKataKit, PrivateContainerd } from '../../scripts/lib/private-containerd.js';

export interface TestContainerd {
  address: string;
  namespace: string;
  root: string;
  image: string;
  /** The image's OCI archive, for a test that imports it into a containerd of its own. */
  archive: string;
  /** The default image's archive (python, javascript, bash only), for the tests of a language it lacks. */
  defaultArchive: string;
  runtimes: string[];
  /** The Kata kit's prefix when containerd runs in its mode (its own mount namespace). */
  kataKit: string | null;
  /** containerd's pid file: its mount namespace is where the sandboxes' mounts live. */
  pidFile: string;
  kataLog: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    containerd: TestContainerd;
  }
}

function which(bin: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export function startTestContainerd(project: TestProject, runtimes: string[]) {
  if (process.getuid?.() !== 0) throw new Error('the integration tests need root (containerd, mounts): run them as root');
  for (const bin of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (!which(bin)) throw new Error(`${bin} is missing: run scripts/setup.sh deps (apt-get install containerd runc runsc)`);
  }
  const stateDir = process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec';
  const archive = path.join(stateDir, 'images', 'sandbox-full.oci.tar');
  if (!existsSync(archive)) throw new Error(`${archive} is missing: run scripts/setup.sh test (it builds the full sandbox image)`);

  const kataKit = runtimes.includes('kata') ? findKataKit() : null;
  if (kataKit) process.env.PATH = `${path.join(kataKit, 'bin')}:${process.env.PATH}`;
  if (runtimes.includes('kata') && !which('containerd-shim-kata-v2') && !which('containerd-shim-kata-qemu-v2')) {
    throw new Error('TEST_RUNTIMES has kata but no Kata shim is on PATH: install Kata, or the kit (bash ../shared/kata/install.sh /opt/kata-kit)');
  }
  const root = mkdtempSync('/tmp/kx-test-');
  const ctd = new PrivateContainerd({ root, kataKit });
  ctd.start();
  const namespace = 'kata-exec-test';
  const image = 'toolruntime-sandbox-full:latest';
  execFileSync('ctr', ['--address', ctd.address, '-n', namespace, 'images', 'import', '--base-name', image.split(':')[0]!, archive], { stdio: 'ignore' });

  const defaultArchive = path.join(stateDir, 'images', 'sandbox.oci.tar');
  project.provide('containerd', { address: ctd.address, namespace, root, image, archive, defaultArchive, runtimes, kataKit, pidFile: ctd.pidFile, kataLog: ctd.kataLog });

  return () => {
    // Unmount whatever a test left mounted under our directory, then stop containerd.
    ctd.unmountAll(root);
    ctd.stop();
    ctd.unmountAll(root);
    rmSync(root, { recursive: true, force: true });
  };
}

export default function setup(project: TestProject) {
  const runtimes = (process.env.TEST_RUNTIMES ?? 'runc,gvisor').split(',').map((s) => s.trim()).filter(Boolean);
  return startTestContainerd(project, runtimes);
}
