/**
 * Crash safety: at start, whatever an earlier process of this service left behind in our
 * namespace (containers and tasks with our label, work directories) is killed and removed.
 * The service owns its containerd namespace: one service per namespace.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { LABEL_MANAGED } from '../execution/executor.js';
import type { Logger } from '../sandbox/types.js';

export interface ReconcileReport {
  containers: number;
  workDirs: number;
  clients: number;
}

/**
 * `ctr` clients of a dead process (its `ctr events` subscription, a `ctr run` waiting on
 * a task) outlive it: Linux does not end children with their parent. Any ctr client of
 * our socket and namespace that is not our own child is such a leftover.
 */
export async function killStrayClients(address: string, namespace: string): Promise<number> {
  const strays = (await listProcesses()).filter((p) => {
    if (!p.argv[0]?.endsWith('ctr') || p.ppid === process.pid) return false;
    const at = (flag: string) => p.argv[p.argv.indexOf(flag) + 1];
    return at('--address') === address && at('--namespace') === namespace;
  });
  return killAll(strays);
}

/**
 * A runc shim that containerd reloaded after a restart may stay behind once its task and
 * container are deleted (seen with containerd 1.6 here): a shim of our namespace whose
 * container no longer exists is ended.
 */
export async function killOrphanShims(address: string, namespace: string, liveIds: ReadonlySet<string>): Promise<number> {
  const shims = (await listProcesses()).filter((p) => {
    if (!p.argv[0]?.includes('containerd-shim')) return false;
    const at = (flag: string) => p.argv[p.argv.indexOf(flag) + 1];
    const id = at('-id');
    return at('-address') === address && at('-namespace') === namespace && id !== undefined && !liveIds.has(id);
  });
  return killAll(shims);
}

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

async function listProcesses(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const [cmdline, stat] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
    ]);
    if (!cmdline) continue;
    out.push({ pid: Number(pid), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), argv: cmdline.split('\0') });
  }
  return out;
}

function killAll(procs: Proc[]): number {
  let killed = 0;
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

export async function reconcile(ctr: CtrClient, workDir: string, logger: Logger): Promise<ReconcileReport> {
  const clients = await killStrayClients(ctr.target.address, ctr.target.namespace);
  const ids = await ctr.listContainers({ key: LABEL_MANAGED, value: 'true' });
  for (const id of ids) {
    await ctr.killTask(id).catch(() => undefined);
    await ctr.removeContainer(id).catch((err: unknown) => logger.warn({ err, id }, 'could not remove a leftover container'));
  }
  // A dev-profile overlay of a dead process is still mounted: unmount before removing.
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const stale = mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(workDir + path.sep))
    .sort((a, b) => b.length - a.length);
  for (const m of stale) await umount(m).catch((err: unknown) => logger.warn({ err, m }, 'could not unmount a leftover overlay'));
  let dirs: string[] = [];
  try {
    dirs = await readdir(workDir);
  } catch {
    dirs = [];
  }
  for (const d of dirs) await rm(path.join(workDir, d), { recursive: true, force: true });
  const shims = await killOrphanShims(ctr.target.address, ctr.target.namespace, new Set(await ctr.listContainers()));
  if (ids.length || dirs.length || clients || shims) {
    logger.warn({ containers: ids.length, workDirs: dirs.length, clients, shims }, 'removed leftovers of an earlier process');
  }
  return { containers: ids.length, workDirs: dirs.length, clients: clients + shims };
}
