/**
 * Crash safety: at start, whatever an earlier process of this service left behind in our
 * namespace (containers and tasks with our label, work directories) is killed and removed.
 * The service owns its containerd namespace: one service per namespace.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { LABEL_MANAGED } from './executor.js';
import type { Logger } from './types.js';

export interface ReconcileReport {
  containers: number;
  workDirs: number;
}

export async function reconcile(ctr: CtrClient, workDir: string, logger: Logger): Promise<ReconcileReport> {
  const ids = await ctr.listContainers({ key: LABEL_MANAGED, value: 'true' });
  for (const id of ids) {
    await ctr.killTask(id).catch(() => undefined);
    await ctr.removeContainer(id).catch((err: unknown) => logger.warn({ err, id }, 'could not remove a leftover container'));
  }
  let dirs: string[] = [];
  try {
    dirs = await readdir(workDir);
  } catch {
    dirs = [];
  }
  for (const d of dirs) await rm(path.join(workDir, d), { recursive: true, force: true });
  if (ids.length || dirs.length) logger.warn({ containers: ids.length, workDirs: dirs.length }, 'removed leftovers of an earlier process');
  return { containers: ids.length, workDirs: dirs.length };
}
