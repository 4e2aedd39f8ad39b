/**
 * Where the host keeps its sandboxes' pids cgroups: the hierarchy the pids controller is
 * mounted on (cgroup v1's `pids` mount, or the unified cgroup2 mount), read from
 * /proc/self/mountinfo. A sandbox's cgroup is its OCI spec's cgroupsPath under it
 * (sandbox/ctr-spec.ts); its pids.events tells a sandbox that its pids cgroup ended
 * (sandbox/pids-limit.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sandboxCgroupsPath } from '../sandbox/ctr-spec.js';

export interface PidsHierarchy {
  /** The mount point, e.g. /sys/fs/cgroup/pids (v1) or /sys/fs/cgroup (v2). */
  root: string;
  version: 1 | 2;
}

/** mountinfo escapes a space, a tab, a newline and a backslash in a path as \ooo. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The pids controller's hierarchy in a /proc/PID/mountinfo text: a cgroup v1 mount with the
 * `pids` option (on a hybrid host the controller is there, not in the cgroup2 mount), else a
 * cgroup2 mount. Only mounts of the hierarchy's root: under a cgroup namespace or a bind of a
 * subtree, the sandboxes' cgroups are not where their cgroupsPath says. Null when neither.
 */
export function pidsHierarchyOf(mountinfo: string): PidsHierarchy | null {
  let v2: PidsHierarchy | null = null;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const [fstype, , superOptions] = right.split(' ');
    if (f[3] !== '/' || !f[4]) continue;
    const root = unescapeMountPath(f[4]);
    if (fstype === 'cgroup' && (superOptions ?? '').split(',').includes('pids')) return { root, version: 1 };
    if (fstype === 'cgroup2' && v2 === null) v2 = { root, version: 2 };
  }
  return v2;
}

export async function findPidsHierarchy(): Promise<PidsHierarchy | null> {
  return pidsHierarchyOf(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
}

/** The path of a sandbox's pids.events under a hierarchy. */
export function pidsEventsPath(h: PidsHierarchy, namespace: string, id: string): string {
  return path.join(h.root, sandboxCgroupsPath(namespace, id), 'pids.events');
}

/** A reader of sandboxes' pids.events for sandbox/pids-limit.ts: null when there is none to read. */
export function pidsEventsReader(h: PidsHierarchy | null, namespace: string): (id: string) => Promise<string | null> {
  if (h === null) return () => Promise.resolve(null);
  return (id) => readFile(pidsEventsPath(h, namespace, id), 'utf8').catch(() => null);
}
