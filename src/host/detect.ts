/** Finds the runtimes a host has, by looking on PATH for the binaries their drivers name. */
import { access, constants, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { HostRuntimes } from '../runtimes/driver.js';
import { knownShims } from '../runtimes/registry.js';

export async function which(bin: string, envPath = process.env.PATH ?? ''): Promise<string | null> {
  if (bin.includes('/')) {
    try {
      await access(bin, constants.X_OK);
      return bin;
    } catch {
      return null;
    }
  }
  for (const dir of envPath.split(':').filter(Boolean)) {
    const p = path.join(dir, bin);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** `searchPath`: the directories to look in (':'-separated); the process's PATH by default. */
export async function detectHostRuntimes(opts: { runscPath: string; searchPath?: string }): Promise<HostRuntimes> {
  const searchPath = opts.searchPath ?? process.env.PATH ?? '';
  const found = await Promise.all(knownShims().map(async (s) => ((await which(s, searchPath)) ? s : null)));
  return {
    shims: found.filter((s): s is string => s !== null),
    runscPath: await which(opts.runscPath, searchPath),
    runcPath: await which('runc', searchPath),
    hardwareVirtualization: await hasHardwareVirtualization(),
  };
}

export type HostDetector = () => Promise<HostRuntimes>;

/** KVM can run a stock guest: /dev/kvm, and a CPU with VMX or SVM (a PVM host has neither flag). */
export async function hasHardwareVirtualization(): Promise<boolean> {
  const kvm = await access('/dev/kvm').then(
    () => true,
    () => false,
  );
  if (!kvm) return false;
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}
