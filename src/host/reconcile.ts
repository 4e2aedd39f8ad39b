/**
 * Crash safety: at start, whatever an earlier process of this service left behind in our
 * namespace (containers and tasks with our label, work directories) is killed and removed.
 * The service owns its containerd namespace: one service per namespace.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { mountPointsUnder, readMountinfo } from '../ctr/mounts.js';
import { killStrayClients } from '../ctr/processes.js';
import type { ContainerdMountNamespace } from './containerd-ns.js';
import { LABEL_MANAGED } from '../execution/executor.js';
import { endDeletedSandboxes } from '../sandbox/leftovers.js';
import type { Logger } from '../sandbox/types.js';
import type { RuntimeDriver } from '../runtimes/driver.js';

export interface ReconcileReport {
  containers: number;
  workDirs: number;
  clients: number;
}

export async function reconcile(
  ctr: CtrClient,
  workDir: string,
  logger: Logger,
  driver: RuntimeDriver,
  mountNs: ContainerdMountNamespace | null = null,
): Promise<ReconcileReport> {
  const clients = await killStrayClients(ctr.target.address, ctr.target.namespace);
  const ids = await ctr.listContainers({ key: LABEL_MANAGED, value: 'true' });
  for (const id of ids) {
    await ctr.killTask(id).catch(() => undefined);
    await ctr.removeContainer(id).catch((err: unknown) => logger.warn({ err, id }, 'could not remove a leftover container'));
  }
  // A dev-profile overlay of a dead process is still mounted: unmount before removing.
  // In containerd's mount namespace when it has its own (the Kata kit's): they were made there.
  const nsPid = mountNs ? await mountNs.pid() : null;
  const stale = mountPointsUnder(await (mountNs ? mountNs.mountinfo() : readMountinfo()).catch(() => ''), workDir);
  for (const m of stale) await umount(m, nsPid).catch((err: unknown) => logger.warn({ err, m }, 'could not unmount a leftover overlay'));
  let dirs: string[] = [];
  try {
    dirs = await readdir(workDir);
  } catch {
    dirs = [];
  }
  for (const d of dirs) await rm(path.join(workDir, d), { recursive: true, force: true });
  // Their shims (and, on Kata, their VMs) go last: a Kata shim stops its VM on the way out.
  const { shims, vmProcesses } = await endDeletedSandboxes(ctr, driver, ids, mountNs, logger);
  if (ids.length || dirs.length || clients || shims || vmProcesses) {
    logger.warn({ containers: ids.length, workDirs: dirs.length, clients, shims, vmProcesses }, 'removed leftovers of an earlier process');
  }
  return { containers: ids.length, workDirs: dirs.length, clients: clients + shims + vmProcesses };
}
