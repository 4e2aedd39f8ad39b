/**
 * The last step of deleting sandboxes whose client is gone (after a crash of the service, or
 * once containerd is back): their shims get their grace to exit by themselves, the ones that
 * do not are killed, and what a killed shim leaves (a Kata VM's QEMU, its shared mounts and
 * state) is removed. Used at start and stop (host/reconcile.ts) and by the orphan sweep.
 */
import { rm } from 'node:fs/promises';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { mountPointsUnder, readMountinfo } from '../ctr/mounts.js';
import { endOrphanShims, killMatching } from '../ctr/processes.js';
import type { RuntimeDriver } from '../runtimes/driver.js';
import type { Logger } from './types.js';

export interface ContainerdNamespaceView {
  /** containerd's pid when its mount namespace is not ours, else null. */
  pid(): Promise<number | null>;
  /** containerd's mountinfo (ours when shared). */
  mountinfo(): Promise<string>;
  /** A path as containerd sees it, reachable from here (/proc/PID/root/... when not ours). */
  view(p: string): Promise<string>;
}

export interface EndedShims {
  /** Shims that did not exit by themselves within the driver's grace. */
  shims: number;
  /** Processes of those sandboxes that outlived their shim (a VM's hypervisor). */
  vmProcesses: number;
}

/**
 * `deleted`: the sandboxes whose containers were just deleted. Only they, and the sandboxes
 * of the shims of our namespace that had to be killed, are looked for: never another
 * service's VM.
 */
export async function endDeletedSandboxes(
  ctr: CtrClient,
  driver: RuntimeDriver,
  deleted: readonly string[],
  mountNs: ContainerdNamespaceView | null,
  logger: Logger,
): Promise<EndedShims> {
  const liveIds = async () => new Set(await ctr.listContainers());
  const killed = await endOrphanShims(ctr.target.address, ctr.target.namespace, liveIds, driver.shimExitGraceMs);
  const live = await liveIds();
  if (killed.length > 0) logger.warn({ ids: killed }, 'killed shims that did not exit after their container was deleted');
  let vmProcesses = 0;
  if (!driver.leftovers) return { shims: killed.length, vmProcesses };
  const nsPid = mountNs ? await mountNs.pid() : null;
  // Read once: each sandbox's mounts are under directories of its own.
  const mountinfo = await (mountNs ? mountNs.mountinfo() : readMountinfo()).catch(() => '');
  for (const id of new Set([...deleted, ...killed])) {
    if (live.has(id)) continue;
    const left = driver.leftovers(id);
    const n = await killMatching(left.isProcess);
    vmProcesses += n;
    for (const dir of left.dirs) {
      for (const m of mountPointsUnder(mountinfo, dir)) await umount(m, nsPid).catch((err: unknown) => logger.warn({ err, m }, 'could not unmount what a VM left'));
      await rm(mountNs ? await mountNs.view(dir) : dir, { recursive: true, force: true }).catch((err: unknown) =>
        logger.warn({ err, dir }, 'could not remove what a VM left'),
      );
    }
    if (n > 0) logger.warn({ executionId: id, processes: n }, "killed a sandbox's VM that outlived its shim");
  }
  return { shims: killed.length, vmProcesses };
}
