/**
 * A long-lived `ctr events` subscription: how the service learns that containerd saw a
 * sandbox run out of memory (/tasks/oom, published by the runc shim from the cgroup and by
 * the Kata shim from its guest agent). It restarts by itself when containerd restarts.
 */
import { createInterface } from 'node:readline';
import { globalArgs, type CtrTarget } from './argv.js';
import { spawnStreaming, type SpawnedProcess } from './exec.js';
import { parseEventLine } from './parse.js';

export function eventsArgv(t: CtrTarget): string[] {
  // `ctr events` subscribes to every namespace; lines are filtered by ours.
  return [...globalArgs(t), 'events'];
}

const KEEP_MS = 60_000;

export class ContainerdEvents {
  private proc: SpawnedProcess | null = null;
  private stopped = false;
  private readonly oom = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctrPath: string,
    private readonly target: CtrTarget,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.stopped || this.proc) return;
    const proc = spawnStreaming(this.ctrPath, eventsArgv(this.target));
    this.proc = proc;
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => this.onLine(line));
    proc.stderr.resume();
    void proc.done.then((exit) => {
      this.proc = null;
      if (this.stopped) return;
      this.onError(new Error(`ctr events ended (${exit.spawnError ?? `exit ${exit.exitCode}`}); restarting`));
      this.restartTimer = setTimeout(() => this.start(), 1000);
      this.restartTimer.unref();
    });
  }

  private onLine(line: string): void {
    const ev = parseEventLine(line);
    if (!ev || ev.namespace !== this.target.namespace || ev.topic !== '/tasks/oom' || !ev.containerId) return;
    const now = Date.now();
    this.oom.set(ev.containerId, now);
    for (const [id, at] of this.oom) if (now - at > KEEP_MS) this.oom.delete(id);
    for (const w of this.waiters.get(ev.containerId) ?? []) w();
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

  forget(id: string): void {
    this.oom.delete(id);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.proc?.kill('SIGTERM');
    this.proc = null;
  }
}
