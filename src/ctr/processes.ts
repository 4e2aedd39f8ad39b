/**
 * The processes of containerd's side that outlive us: stray `ctr` clients of a dead service
 * process and runc shims that containerd reloaded. Read from /proc (pure parsers first),
 * ended with SIGKILL.
 */
import { readdir, readFile } from 'node:fs/promises';

/**
 * `ctr` clients of a dead process (its `ctr events` subscription, a `ctr run` waiting on
 * a task) outlive it: Linux does not end children with their parent. Any ctr client of
 * our socket and namespace that is not our own child is such a leftover.
 */
export function strayClients(procs: readonly Proc[], address: string, namespace: string, selfPid: number): Proc[] {
  return procs.filter(
    (p) =>
      p.argv[0]?.endsWith('ctr') === true &&
      p.ppid !== selfPid &&
      flagValue(p.argv, '--address') === address &&
      flagValue(p.argv, '--namespace') === namespace,
  );
}

export async function killStrayClients(address: string, namespace: string): Promise<number> {
  return killAll(strayClients(await listProcesses(), address, namespace, process.pid));
}

/**
 * A runc shim that containerd reloaded after a restart may stay behind once its task and
 * container are deleted (seen with containerd 1.6 here): a shim of our namespace whose
 * container no longer exists is ended.
 */
export function orphanShims(procs: readonly Proc[], address: string, namespace: string, liveIds: ReadonlySet<string>): Proc[] {
  return procs.filter((p) => {
    if (!p.argv[0]?.includes('containerd-shim')) return false;
    const id = flagValue(p.argv, '-id');
    return flagValue(p.argv, '-address') === address && flagValue(p.argv, '-namespace') === namespace && id !== undefined && !liveIds.has(id);
  });
}

/**
 * Ends the orphan shims of our namespace. Each first gets `graceMs` to exit by itself: a Kata
 * shim stops its VM and removes its mounts on the way out, and one killed early leaves them
 * behind. Returns the container ids of the shims that had to be killed.
 *
 * `liveIds` is asked again at every look, after the processes are listed: a sandbox started
 * meanwhile has its container before its shim, so its shim is never taken for an orphan.
 */
export async function endOrphanShims(
  address: string,
  namespace: string,
  liveIds: () => Promise<ReadonlySet<string>>,
  graceMs: number,
  pollMs = 200,
): Promise<string[]> {
  const until = Date.now() + graceMs;
  const look = async () => {
    const procs = await listProcesses();
    return orphanShims(procs, address, namespace, await liveIds());
  };
  let left = await look();
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, pollMs));
    left = await look();
  }
  killAll(left);
  return left.map((p) => flagValue(p.argv, '-id')!);
}

/** SIGKILLs every process whose argv matches; returns how many it signalled. */
export async function killMatching(matches: (argv: readonly string[]) => boolean): Promise<number> {
  return killAll((await listProcesses()).filter((p) => p.pid !== process.pid && matches(p.argv)));
}

export interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

/** The parent pid in /proc/<pid>/stat: the field after the state, after the last ')' (comm may hold any byte). */
export function parseStatPpid(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** /proc/<pid>/cmdline: NUL-separated arguments. */
export function parseCmdline(cmdline: string): string[] {
  return cmdline.split('\0');
}

/** The value after `flag` in an argv, or undefined. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
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
    out.push({ pid: Number(pid), ppid: parseStatPpid(stat), argv: parseCmdline(cmdline) });
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
