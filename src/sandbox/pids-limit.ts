/**
 * A sandbox that its pids cgroup ended. Under gVisor the program's pids limit is
 * RLIMIT_NPROC in the Sentry, and the pids cgroup is only a host backstop far above it
 * (runtimes/gvisor.ts): the Sentry's own threads count there, and when it cannot make one
 * it dies, and the whole sandbox with it, with no end frame from the launcher. A C fork
 * bomb gets there under the ptrace platform (each dying process's host threads linger).
 * That end is the program's doing: it is answered as its pids limit (`killed`, `killedBy:
 * pids_limit`), never as the sandbox failing (`sandbox_error`).
 *
 * Told from the host only, never from anything the sandbox says: the cgroup's own count of
 * refused forks (`pids.events`), read while the program runs, since the cgroup is deleted
 * with the sandbox before the service learns that the sandbox ended; and the kernel's log
 * line at the first fork a cgroup refused (ctr/events.ts), which outlives the cgroup.
 */
import { parsePidsEvents } from '../ctr/parse.js';

/** How often a running sandbox's pids.events is read. */
export const PIDS_SAMPLE_MS = 50;
/** How long an unexplained end waits for the kernel's report when the samples saw no refusal. */
export const PIDS_REPORT_WAIT_MS = 1000;
/** How long a kernel report is kept for a watch that has not asked yet. */
const KEEP_MS = 60_000;

/** What the host counted of one sandbox's pids cgroup since its watch began. */
export interface PidsEvidence {
  /** Forks the cgroup refused (pids.events' `max`) at the last read that found it; 0 when none did. */
  refusedForks: number;
  /** The kernel reported a fork the cgroup refused. */
  kernelReport: boolean;
}

export interface PidsWatch {
  /** Stops sampling and says what the host counted, waiting up to `ms` for the kernel's report when nothing was seen. */
  finish(ms: number): Promise<PidsEvidence>;
  /** Stops sampling. */
  stop(): void;
}

/** What the runner needs of the pids reports (PidsCgroupWatcher; fakes in the unit tests). */
export interface PidsReports {
  /**
   * Watches a started sandbox. `baseline`: the forks its cgroup had refused before (0 for a
   * sandbox that ran nothing before, cold or warm; a session's, read by `refusedSoFar`
   * before its call): only refusals past it count.
   */
  watch(sandboxId: string, baseline?: number): PidsWatch;
  /** The forks the sandbox's cgroup refused so far (0 when it cannot be read). */
  refusedSoFar(sandboxId: string): Promise<number>;
  /** The sandbox is gone: its reports are dropped and its watch, if any, stops. */
  forget(sandboxId: string): void;
}

/**
 * Whether a sandbox ended at its pids cgroup: the program had started, the sandbox ended
 * without the launcher's end frame, nothing of ours stopped it (a deadline, an abort, the
 * output cap, a launcher stream that broke), and the host counted a fork its cgroup refused.
 * A refusal in a sandbox that ended otherwise (a bomb held at the limit until its deadline,
 * as on runc) is the program's ordinary EAGAIN and changes nothing.
 */
export function endedAtPidsLimit(o: { started: boolean; endSeen: boolean; stoppedByUs: boolean; evidence: PidsEvidence | null }): boolean {
  if (!o.started || o.endSeen || o.stoppedByUs || o.evidence === null) return false;
  return o.evidence.refusedForks > 0 || o.evidence.kernelReport;
}

/**
 * The real reports: each watched sandbox's pids.events, read every PIDS_SAMPLE_MS while it
 * runs and once more at its end, and the kernel's reports as ctr/events.ts hands them over.
 */
export class PidsCgroupWatcher implements PidsReports {
  /** When the kernel reported each sandbox's first refused fork (Date.now()). */
  private readonly kernel = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** The watches sampling now, by sandbox: a sandbox's teardown (forget) stops its watch whatever happened. */
  private readonly active = new Map<string, () => void>();

  constructor(
    /** A sandbox's pids.events; null when it cannot be read (no such cgroup, or already gone). */
    private readonly read: (sandboxId: string) => Promise<string | null>,
    private readonly sampleMs = PIDS_SAMPLE_MS,
  ) {}

  /** The kernel refused a fork in this sandbox's pids cgroup (ctr/events.ts KernelLogWatch). */
  noteKernelReport(id: string): void {
    const now = Date.now();
    this.kernel.set(id, now);
    for (const [k, at] of this.kernel) if (now - at > KEEP_MS) this.kernel.delete(k);
    for (const w of this.waiters.get(id) ?? []) w();
  }

  forget(id: string): void {
    this.kernel.delete(id);
    this.active.get(id)?.();
  }

  async refusedSoFar(id: string): Promise<number> {
    const text = await this.read(id).catch(() => null);
    return (text === null ? null : parsePidsEvents(text)) ?? 0;
  }

  watch(id: string, baseline = 0): PidsWatch {
    const since = Date.now();
    let refused = 0;
    let reading: Promise<void> | null = null;
    let stopped = false;
    const sample = (): Promise<void> =>
      (reading ??= this.read(id)
        .then((text) => {
          const n = text === null ? null : parsePidsEvents(text);
          if (n !== null) refused = Math.max(refused, n - baseline);
        })
        .catch(() => undefined)
        .finally(() => (reading = null)));
    const timer = setInterval(() => void sample(), this.sampleMs);
    timer.unref();
    void sample();
    const stop = () => {
      stopped = true;
      clearInterval(timer);
      if (this.active.get(id) === stop) this.active.delete(id);
    };
    this.active.get(id)?.();
    this.active.set(id, stop);
    const kernelReport = () => (this.kernel.get(id) ?? -1) >= since;
    return {
      stop,
      finish: async (ms) => {
        const last = !stopped;
        stop();
        // One read more: the cgroup may still be there (the runtime deletes it with the task).
        if (last) {
          await reading;
          await sample();
        }
        if (refused === 0 && !kernelReport() && ms > 0) await this.kernelReportWithin(id, ms);
        return { refusedForks: refused, kernelReport: kernelReport() };
      },
    };
  }

  private kernelReportWithin(id: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      this.waiters.set(id, set);
    });
  }
}
