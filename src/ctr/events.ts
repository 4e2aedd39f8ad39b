/**
 * A long-lived `ctr events` subscription: how the service learns that containerd saw a
 * sandbox run out of memory (/tasks/oom, published by the runc shim from the cgroup and by
 * the Kata shim from its guest agent). It restarts by itself when containerd restarts.
 */
import { createInterface } from 'node:readline';
import { globalArgs, type CtrTarget } from './argv.js';
import { spawnStreaming, type SpawnedProcess } from './exec.js';
import { parseEventLine, parseKernelOomLine, parseKernelPidsLine } from './parse.js';

export function eventsArgv(t: CtrTarget): string[] {
  // `ctr events` subscribes to every namespace; lines are filtered by ours.
  return [...globalArgs(t), 'events'];
}

const KEEP_MS = 60_000;
const MAX_TIMES = 512;

export class ContainerdEvents {
  private proc: SpawnedProcess | null = null;
  private stopped = false;
  private readonly oom = new Map<string, number>();
  /** When each OOM report of a container came (both sources: one kill may be noted twice). */
  private readonly oomTimes = new Map<string, number[]>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly lostListeners = new Set<() => void>();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctrPath: string,
    private readonly target: CtrTarget,
    private readonly onError: (err: unknown) => void = () => undefined,
    /** How `ctr events` is started: spawnStreaming, or a fake in the unit tests. */
    private readonly spawn: typeof spawnStreaming = spawnStreaming,
  ) {}

  start(): void {
    if (this.stopped || this.proc) return;
    const proc = this.spawn(this.ctrPath, eventsArgv(this.target), { tiedToParent: true });
    this.proc = proc;
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => this.onLine(line));
    proc.stderr.resume();
    void proc.done.then((exit) => {
      this.proc = null;
      if (this.stopped) return;
      // The subscription ends when containerd goes away: the first sign of it, at once.
      for (const l of [...this.lostListeners]) l();
      this.onError(new Error(`ctr events ended (${exit.spawnError ?? `exit ${exit.exitCode}`}); restarting`));
      this.restartTimer = setTimeout(() => this.start(), 1000);
      this.restartTimer.unref();
    });
  }

  private onLine(line: string): void {
    const ev = parseEventLine(line);
    if (!ev || ev.namespace !== this.target.namespace || ev.topic !== '/tasks/oom' || !ev.containerId) return;
    this.noteOom(ev.containerId);
  }

  /** Records an OOM kill in a container, from whichever source saw it. */
  noteOom(id: string): void {
    const now = Date.now();
    this.oom.set(id, now);
    const times = this.oomTimes.get(id) ?? [];
    times.push(now);
    this.oomTimes.set(id, times.slice(-MAX_TIMES));
    for (const [k, at] of this.oom) {
      if (now - at <= KEEP_MS) continue;
      this.oom.delete(k);
      this.oomTimes.delete(k);
    }
    for (const w of this.waiters.get(id) ?? []) w();
  }

  /** True when containerd reported an OOM kill in this container, waiting up to `ms` for it. */
  async sawOom(id: string, ms: number): Promise<boolean> {
    if (this.oom.has(id)) return true;
    if (!this.proc) return false;
    return new Promise<boolean>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      const done = (v: boolean) => {
        clearTimeout(timer);
        set.delete(hit);
        if (set.size === 0) this.waiters.delete(id);
        resolve(v);
      };
      const hit = () => done(true);
      const timer = setTimeout(() => done(this.oom.has(id)), ms);
      set.add(hit);
      this.waiters.set(id, set);
    });
  }

  /**
   * The times (Date.now()) of the container's OOM reports, waiting up to `ms` for one at or
   * after `since` when there is none yet (several steps of one sandbox: which one's kill).
   */
  async oomTimesSince(id: string, since: number, ms: number): Promise<number[]> {
    const now = () => (this.oomTimes.get(id) ?? []).filter((t) => t >= since);
    if (now().length > 0 || !this.proc || ms <= 0) return now();
    return new Promise<number[]>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      const done = () => {
        clearTimeout(timer);
        set.delete(hit);
        if (set.size === 0) this.waiters.delete(id);
        resolve(now());
      };
      const hit = () => {
        if (now().length > 0) done();
      };
      const timer = setTimeout(done, ms);
      set.add(hit);
      this.waiters.set(id, set);
    });
  }

  forget(id: string): void {
    this.oom.delete(id);
    this.oomTimes.delete(id);
  }

  /** Calls `listener` whenever the subscription breaks (containerd may be gone); returns the unsubscribe. */
  onStreamLost(listener: () => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.proc?.kill('SIGTERM');
    this.proc = null;
  }
}

/**
 * The kernel's own reports about our sandboxes' cgroups (`dmesg --follow-new`), for runc and
 * gVisor sandboxes; each names the cgroup, /<namespace>/<id>:
 *   - OOM kills: a second source beside containerd's event, which the runc shim of
 *     containerd 1.6 stops sending on a host where other cgroup hierarchies appeared after
 *     boot (seen here once podman had run);
 *   - the first fork a sandbox's pids cgroup refused: under gVisor that cgroup is only a
 *     backstop above the program's limit, and a sandbox that reaches it dies whole
 *     (sandbox/pids-limit.ts). The report outlives the cgroup, which is gone by the time
 *     the service learns that the sandbox ended.
 * Needs CAP_SYSLOG; when dmesg cannot run, only the other sources remain. Both monitors die
 * with the service, even by kill -9 (spawnStreaming's tiedToParent): none lives on under PID 1.
 * Lines a host process wrote to /dev/kmsg could look alike; no sandbox can write there.
 */
export class KernelLogWatch {
  private proc: SpawnedProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly namespace: string,
    private readonly on: { oom(id: string): void; pidsRefused(id: string): void },
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.stopped || this.proc) return;
    const proc = spawnStreaming('dmesg', ['--follow-new'], { tiedToParent: true });
    this.proc = proc;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const oom = parseKernelOomLine(line, this.namespace);
      if (oom) return this.on.oom(oom);
      const pids = parseKernelPidsLine(line, this.namespace);
      if (pids) this.on.pidsRefused(pids);
    });
    proc.stderr.resume();
    void proc.done.then((exit) => {
      this.proc = null;
      if (this.stopped) return;
      this.onError(new Error(`dmesg --follow-new ended (${exit.spawnError ?? `exit ${exit.exitCode}`})`));
      // Not forever: a host that refuses dmesg refuses it every time.
      if (exit.exitCode !== 0 && exit.exitCode !== null) return;
      this.restartTimer = setTimeout(() => this.start(), 1000);
      this.restartTimer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.proc?.kill('SIGTERM');
    this.proc = null;
  }
}
