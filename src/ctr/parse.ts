/** Pure parsers of `ctr` output. */

import type { CtrFailure } from '../errors.js';

export type { CtrFailure };

/**
 * Classifies a failed ctr call by its own error line ("ctr: ..."). This reads ctr's
 * messages, which are stable across 1.6 and 1.7; the HTTP layer never sees text.
 */
export function classifyCtrError(stderr: string): CtrFailure {
  const line = lastCtrLine(stderr) ?? stderr;
  // A shim that failed (e.g. a Kata agent that never answered: "failed to create shim
  // task: ... context deadline exceeded") is the sandbox failing, not containerd.
  if (/failed to (create|start) shim|OCI runtime/i.test(line) && !/failed to dial/i.test(line)) {
    if (/binary not installed|failed to resolve runtime path/i.test(line)) return 'runtime_not_installed';
    // Kata: the VM booted but its agent never answered the first check (about 1 start in 6
    // on the emulated test hosts, more under load). The program never ran.
    if (/Failed to check if grpc server is working/i.test(line)) return 'vm_agent_unreachable';
    return 'other';
  }
  // Only ctr's own connection to containerd: a runtime's "connection refused" (runsc's
  // control socket of a stopped sandbox) is not containerd being down.
  if (/failed to dial|transport is closing|error reading from server|code = Unavailable/i.test(line)) {
    return 'daemon_unavailable';
  }
  if (/binary not installed|failed to resolve runtime path|runtime ".*" binary/i.test(line)) return 'runtime_not_installed';
  if (/already exists/i.test(line)) return 'already_exists';
  if (/not found|no such container|does not exist/i.test(line)) return 'not_found';
  return 'other';
}

/** The last line that ctr itself wrote ("ctr: ..."), if any. */
export function lastCtrLine(stderr: string): string | null {
  const lines = stderr.split('\n').filter((l) => l.startsWith('ctr: '));
  return lines.length ? lines[lines.length - 1]! : null;
}

export function parseIdList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

export interface TaskRow {
  id: string;
  pid: number;
  status: string;
}

/** `ctr tasks list`: "TASK PID STATUS" then one row a task. */
export function parseTaskList(stdout: string): TaskRow[] {
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.length >= 3 && cols[0])
    .map(([id, pid, status]) => ({ id: id!, pid: Number(pid), status: status! }));
}

export interface ImageRow {
  ref: string;
  digest: string;
}

/** `ctr images list`: "REF TYPE DIGEST SIZE PLATFORMS LABELS". */
export function parseImageList(stdout: string): ImageRow[] {
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.length >= 3 && cols[2]?.startsWith('sha256:'))
    .map((cols) => ({ ref: cols[0]!, digest: cols[2]! }));
}

/** `ctr snapshots list`: "KEY PARENT KIND"; a view has a parent, a committed layer may not. */
export function parseSnapshotKeys(stdout: string): string[] {
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((k) => k.length > 0);
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  31: 'SIGSYS',
};

/** containerd reports a task ended by signal N as exit status 128+N. */
export function signalFromExitStatus(status: number | null): string | null {
  if (status === null || status <= 128 || status > 128 + 64) return null;
  return SIGNALS[status - 128] ?? `SIG${status - 128}`;
}

export interface ContainerdEvent {
  namespace: string;
  topic: string;
  containerId: string | null;
  exitStatus: number | null;
}

/**
 * One line of `ctr events`: "<date> <time> <zone> <zone-name> <namespace> <topic> <json>",
 * e.g. `2026-11-28 15:34:42.93 +0000 UTC kata-exec /tasks/oom {"container_id":"kx-1"}`.
 */
export function parseEventLine(line: string): ContainerdEvent | null {
  const m = /^\S+ \S+ \S+ \S+ (\S+) (\/\S+) (\{.*\})\s*$/.exec(line);
  if (!m) return null;
  let payload: { container_id?: unknown; id?: unknown; exit_status?: unknown };
  try {
    payload = JSON.parse(m[3]!) as typeof payload;
  } catch {
    return null;
  }
  const id = typeof payload.container_id === 'string' ? payload.container_id : typeof payload.id === 'string' ? payload.id : null;
  return {
    namespace: m[1]!,
    topic: m[2]!,
    containerId: id,
    exitStatus: typeof payload.exit_status === 'number' ? payload.exit_status : null,
  };
}

/**
 * The container id in a kernel OOM report of one of our sandboxes, e.g.
 * `oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/kata-exec/kx-1,task_memcg=/kata-exec/kx-1,...`
 * (the sandbox's cgroup is /<namespace>/<id>). Null for any other line.
 */
export function parseKernelOomLine(line: string, namespace: string): string | null {
  if (!line.includes('oom-kill:')) return null;
  const m = /\boom_memcg=\/([^,\s]+)/.exec(line) ?? /\btask_memcg=\/([^,\s]+)/.exec(line);
  return m ? sandboxOfCgroup(m[1]!, namespace) : null;
}

/**
 * The container id in the kernel's report of a fork that a pids cgroup of one of our
 * sandboxes refused: `cgroup: fork rejected by pids controller in /kata-exec/kx-1`. The
 * kernel writes it once per cgroup, at the first refusal, and it stays in its log after the
 * cgroup is gone (cgroup v1 and v2 alike). Null for any other line.
 */
export function parseKernelPidsLine(line: string, namespace: string): string | null {
  const m = /\bcgroup: fork rejected by pids controller in \/(\S+)\s*$/.exec(line);
  return m ? sandboxOfCgroup(m[1]!, namespace) : null;
}

/** The id of `/<namespace>/<id>[/...]` (a sandbox's cgroup, sandbox/ctr-spec.ts), given without its leading slash. */
function sandboxOfCgroup(cgroup: string, namespace: string): string | null {
  const parts = cgroup.split('/');
  const at = parts.indexOf(namespace);
  return at >= 0 && parts[at + 1] ? parts[at + 1]! : null;
}

/**
 * The `max` counter of a pids cgroup's `pids.events` ("max 3\n"): forks the cgroup refused
 * (cgroup v1, and v2 before Linux 6.13: refused in this cgroup; v2 since: refused because
 * this cgroup's limit was reached, here or below). Null when the text has no such line.
 */
export function parsePidsEvents(text: string): number | null {
  const m = /^max (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}
