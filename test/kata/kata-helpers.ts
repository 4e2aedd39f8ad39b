/**
 * Shared pieces of the Kata tier: the real service on the Kata runtime (the kit's or the
 * host's), the host-side proof that a program ran in a VM, and what one sandbox may leave
 * on the host (its qemu, its shim, its container, task and mounts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { expect } from 'vitest';
import { testContainerd, useService, vmProcesses, type RealService } from '../helpers/real-service.js';

/** One real service on Kata for the enclosing describe (useService: closing must leave nothing, and closes once). */
export function useKataService(env: Record<string, string> = {}): () => RealService {
  return useService('kata', { KATA_EXEC_CONCURRENCY: '2', ...env });
}

/** The host's kernel release and CPU model: a VM's guest reports others. */
export const HOST = {
  kernel: os.release(),
  cpuModel: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '',
};

/** A bash program that prints the guest's kernel release and CPU model, one per line. */
export const GUEST_IDENTITY = 'uname -r; sed -n "s/^model name[[:space:]]*: //p" /proc/cpuinfo | head -n1';

/** Asserts from the host that these two lines (GUEST_IDENTITY's output) are not the host's. */
export function expectGuestIsVm(stdout: string): void {
  const [kernel, cpu] = stdout.split('\n');
  expect(kernel, 'the guest kernel').toBeTruthy();
  expect(kernel, 'the guest runs its own kernel').not.toBe(HOST.kernel);
  expect(cpu, 'the guest CPU model').toBeTruthy();
  expect(cpu, 'the guest sees a virtual CPU').not.toBe(HOST.cpuModel);
}

function ctr(args: string[]): string {
  const c = testContainerd();
  return execFileSync('ctr', ['--address', c.address, '-n', c.namespace, ...args], { encoding: 'utf8' });
}

function containerdMountinfo(): string {
  const c = testContainerd();
  const pid = readFileSync(c.pidFile, 'utf8').trim();
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8') + readFileSync('/proc/self/mountinfo', 'utf8');
}

/** What sandbox `id` left on the host: its VM, shim, container, task and mounts. */
export function leftoversOf(id: string): string[] {
  const left: string[] = [];
  if (ctr(['containers', 'list', '-q']).split('\n').includes(id)) left.push(`container ${id}`);
  if (ctr(['tasks', 'list', '-q']).split('\n').includes(id)) left.push(`task ${id}`);
  for (const l of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    if (l.includes(id) && /containerd-shim|qemu/.test(l)) left.push(`process ${l.trim().slice(0, 160)}`);
  }
  for (const l of containerdMountinfo().split('\n')) {
    const m = l.split(' ')[4] ?? '';
    if (m.includes(id)) left.push(`mount ${m}`);
  }
  return left;
}

/** Waits (a VM takes a moment to go) until sandbox `id` left nothing, then says what is left. */
export async function settledLeftoversOf(id: string, ms = 30_000): Promise<string[]> {
  const until = Date.now() + ms;
  let left = leftoversOf(id);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    left = leftoversOf(id);
  }
  return left;
}

export { vmProcesses };

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 120_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The containers info of a sandbox: its runtime and the annotations containerd holds. */
export function containerInfo(id: string): { Runtime: { Name: string }; Spec: { annotations?: Record<string, string>; process?: { rlimits?: { type: string; hard: number }[] } } } {
  return JSON.parse(ctr(['containers', 'info', id]));
}

export function sandboxIds(): string[] {
  return ctr(['containers', 'list', '-q']).split('\n').filter((id) => /^kx-[0-9a-f]{20}$/.test(id));
}
