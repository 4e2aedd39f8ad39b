/**
 * Crash safety: at start, whatever an earlier process of this service left behind in our
 * namespace (containers and tasks with our label, work directories) is killed and removed.
 * The service owns its containerd namespace: one service per namespace.
 *
 * Sessions are the exception: a session whose sandbox runs and whose labels say it has not
 * expired is kept, with its work directory and mounts, and reported for adoption
 * (sessions/). An expired or dead one is removed like any leftover. At stop, the same rule
 * keeps the live sessions for the next process.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { mountPointsUnder, readMountinfo } from '../ctr/mounts.js';
import { killStrayClients } from '../ctr/processes.js';
import type { ContainerdMountNamespace } from './containerd-ns.js';
import { LABEL_MANAGED } from '../execution/executor.js';
import { expiredBecause, LABEL_SESSION, sessionFromLabels, type SessionState } from '../sessions/labels.js';
import { endDeletedSandboxes } from '../sandbox/leftovers.js';
import type { Logger } from '../sandbox/types.js';
import type { RuntimeDriver } from '../runtimes/driver.js';

export interface ReconcileReport {
  containers: number;
  workDirs: number;
  clients: number;
  /** Live sessions kept for adoption. */
  sessions: SessionState[];
  /** Sessions removed: expired, dead, or with labels that are not a session's. */
  sessionsReaped: number;
}

/** The sessions to keep: running, with whole labels, not expired. */
async function liveSessions(ctr: CtrClient, logger: Logger, now: number): Promise<{ keep: SessionState[]; reaped: number }> {
  const ids = await ctr.listContainers({ key: LABEL_SESSION, value: 'true' });
  if (ids.length === 0) return { keep: [], reaped: 0 };
  const running = new Set((await ctr.listTasks()).filter((t) => t.status === 'RUNNING').map((t) => t.id));
  const keep: SessionState[] = [];
  let reaped = 0;
  for (const id of ids) {
    const state = sessionFromLabels(id, await ctr.containerLabels(id).catch(() => ({})));
    const why = !state ? 'labels' : !running.has(id) ? 'not running' : expiredBecause(state, now);
    if (state && !why) keep.push(state);
    else {
      reaped++;
      logger.info({ audit: { event: 'session.reaped', sessionId: id, key: state?.owner ?? null, reason: why } }, 'session');
    }
  }
  return { keep, reaped };
}

export async function reconcile(
  ctr: CtrClient,
  workDir: string,
  logger: Logger,
  driver: RuntimeDriver,
  mountNs: ContainerdMountNamespace | null = null,
): Promise<ReconcileReport> {
  const clients = await killStrayClients(ctr.target.address, ctr.target.namespace);
  const sessions = await liveSessions(ctr, logger, Date.now());
  const kept = new Set(sessions.keep.map((s) => s.id));
  const ids = (await ctr.listContainers({ key: LABEL_MANAGED, value: 'true' })).filter((id) => !kept.has(id));
  for (const id of ids) {
    await ctr.killTask(id).catch(() => undefined);
    await ctr.removeContainer(id).catch((err: unknown) => logger.warn({ err, id }, 'could not remove a leftover container'));
  }
  // A dev-profile overlay of a dead process is still mounted: unmount before removing.
  // In containerd's mount namespace when it has its own (the Kata kit's): they were made there.
  const nsPid = mountNs ? await mountNs.pid() : null;
  const stale = mountPointsUnder(await (mountNs ? mountNs.mountinfo() : readMountinfo()).catch(() => ''), workDir).filter(
    (m) => !kept.has(path.relative(workDir, m).split(path.sep)[0]!),
  );
  for (const m of stale) await umount(m, nsPid).catch((err: unknown) => logger.warn({ err, m }, 'could not unmount a leftover overlay'));
  let dirs: string[] = [];
  try {
    dirs = (await readdir(workDir)).filter((d) => !kept.has(d));
  } catch {
    dirs = [];
  }
  for (const d of dirs) await rm(path.join(workDir, d), { recursive: true, force: true });
  // Their shims (and, on Kata, their VMs) go last: a Kata shim stops its VM on the way out.
  const { shims, vmProcesses } = await endDeletedSandboxes(ctr, driver, ids, mountNs, logger);
  if (ids.length || dirs.length || clients || shims || vmProcesses) {
    logger.warn({ containers: ids.length, workDirs: dirs.length, clients, shims, vmProcesses }, 'removed leftovers of an earlier process');
  }
  return { containers: ids.length, workDirs: dirs.length, clients: clients + shims + vmProcesses, sessions: sessions.keep, sessionsReaped: sessions.reaped };
}
