/**
 * The warm pool: sandboxes created and started ahead of time, their launcher waiting for
 * a request, untouched by user code, kept per class (runtime, image, profile and the
 * limits fixed at creation: a pooled profile at its default limits, or at a compiled
 * language's default limits, whose sandbox has the compile's memory). An execution whose
 * spec matches a class takes one, its request goes to that launcher, and the sandbox is
 * destroyed afterwards: never used twice, so isolation is exactly that of a fresh
 * sandbox. A request of no class (other limits) runs cold and is counted
 * (`kata_exec_pool_unmatched_total`); so does one whose class is empty. A pooled sandbox
 * that died (its VM or container gone, its launcher ended) is dropped before it is handed
 * out; one that dies between hand-out and its program's start has run nothing, and the
 * request runs cold.
 *
 * Refill runs in the background, only while the service has an idle slot (under sustained
 * load the pool steps aside instead of competing with the executions for the CPU), and
 * never past the pool's size counting the creations in flight. Up to MAX_PARALLEL_CREATES
 * at once: one at a time could not keep a gVisor pool of 2 full at 1 request/s, where a
 * creation takes 1-1.8 s on a loaded 2-core host (docs/performance.md).
 */
import { performance } from 'node:perf_hooks';
import type { PoolClass } from '../config.js';
import type { Metrics } from '../metrics.js';
import { WarmSandboxLostError } from '../errors.js';
import type { Logger, RunOptions, SandboxResult, SandboxSpec, WarmSandbox, WarmSandboxRunner } from './types.js';

export interface PoolSettings {
  /** Sandboxes kept ready per class. */
  size: number;
  classes: PoolClass[];
  maxAgeMs: number;
}

export interface PoolDeps {
  runner: Pick<WarmSandboxRunner, 'run' | 'createWarm' | 'runWarm' | 'destroyWarm'>;
  /** A spec of the class, no code yet: what a pooled sandbox is made from. */
  template: (c: PoolClass) => SandboxSpec;
  /**
   * Whether a class is kept now (a compiled one: once the image is known to hold a compiled
   * language); absent: every class. A class not wanted is not refilled, its sandboxes go.
   */
  wanted?: (c: PoolClass) => boolean;
  /** True when a slot is idle: refilling then costs the executions nothing. */
  canRefill: () => boolean;
  metrics: Metrics;
  logger: Logger;
}

/** What must be equal for a request to use a pooled sandbox: all that is fixed at creation. */
export function poolKey(spec: SandboxSpec): string {
  const { outputBytes: _perExecution, ...fixed } = spec.resources;
  return JSON.stringify([spec.image, spec.runtime, spec.hypervisor, spec.kernelPath, spec.imagePath, spec.workingDir, spec.env, spec.security, fixed]);
}

/** A class's labels on the pool's metrics. */
function labelsOf(c: PoolClass): { profile: string; class: string } {
  return { profile: c.profile, class: c.kind };
}

const TICK_MS = 200;
/** Pooled sandboxes created at once, at most. */
export const MAX_PARALLEL_CREATES = 2;
/** Used sandboxes still being deleted past which refill waits (their teardown takes CPU too). */
const MAX_PENDING_DESTROYS = 2;

export class WarmPool {
  private readonly ready = new Map<string, WarmSandbox[]>();
  private readonly classOfKey = new Map<string, PoolClass>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Creations in flight (and in their back-off after a failure), per class. */
  private readonly creatingFor = new Map<string, number>();
  private creating = 0;
  private destroying = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly s: PoolSettings,
    private readonly d: PoolDeps,
  ) {
    // A compiled class whose sandbox is the same as its profile's default one is that class.
    for (const c of s.classes) {
      const key = poolKey(d.template(c));
      if (!this.classOfKey.has(key)) this.classOfKey.set(key, c);
    }
  }

  /** The classes kept, after merging those whose sandboxes are the same. */
  get classes(): PoolClass[] {
    return [...this.classOfKey.values()];
  }

  private wanted(c: PoolClass): boolean {
    return this.d.wanted?.(c) ?? true;
  }

  start(): void {
    if (this.s.size <= 0 || this.timer) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.tick();
  }

  get readyCount(): number {
    let n = 0;
    for (const l of this.ready.values()) n += l.length;
    return n;
  }

  /**
   * Runs the spec in a pooled sandbox when one of its key is ready; null means "take the
   * cold path". The sandbox is destroyed afterwards, in the background.
   */
  tryRun(spec: SandboxSpec, opts: RunOptions): Promise<SandboxResult> | null {
    if (this.closed || this.s.size <= 0) return null;
    const key = poolKey(spec);
    const cls = this.classOfKey.get(key);
    if (!cls) {
      const asked = spec.labels['org.kata-exec.profile'] ?? 'unknown';
      this.d.metrics.poolUnmatched.inc({ profile: asked });
      return null;
    }
    const labels = labelsOf(cls);
    const warm = this.takeAlive(key, cls);
    if (!warm) {
      this.d.metrics.poolMisses.inc(labels);
      return null;
    }
    this.d.metrics.poolHits.inc(labels);
    this.d.metrics.poolAge.observe((Date.now() - warm.createdAt) / 1000);
    this.updateGauge();
    return this.d.runner.runWarm(warm, spec, opts).then(
      ({ result, destroyed }) => {
        this.track(destroyed);
        return result;
      },
      (err: unknown) => {
        if (!(err instanceof WarmSandboxLostError)) throw err;
        // It died before the program started: nothing ran, so the request runs cold.
        this.d.metrics.poolLost.inc(labels);
        this.d.logger.warn({ err, sandbox: warm.id }, 'a pooled sandbox was gone at hand-out; running cold');
        return this.d.runner.run(spec, opts);
      },
    );
  }

  /** The oldest live sandbox of the class; the dead ones met on the way are destroyed. */
  private takeAlive(key: string, cls: PoolClass): WarmSandbox | undefined {
    const list = this.ready.get(key);
    while (list && list.length > 0) {
      const w = list.shift()!;
      if (w.alive()) return w;
      this.dropDead(w, cls);
    }
    return undefined;
  }

  private dropDead(w: WarmSandbox, cls: PoolClass): void {
    this.d.metrics.poolLost.inc(labelsOf(cls));
    this.d.logger.warn({ sandbox: w.id }, 'a pooled sandbox died while idle; destroying it');
    this.track(this.d.runner.destroyWarm(w));
  }

  private track(p: Promise<unknown>): void {
    this.destroying++;
    const t = p.catch((err: unknown) => this.d.logger.warn({ err }, 'destroying a pooled sandbox failed'));
    this.pending.add(t);
    void t.finally(() => {
      this.destroying--;
      this.pending.delete(t);
    });
  }

  private tick(): void {
    if (this.closed) return;
    this.expire();
    // One creation at a time, while a slot is idle, with a back-off after failures.
    if (this.creating >= MAX_PARALLEL_CREATES || !this.d.canRefill() || this.destroying > MAX_PENDING_DESTROYS) return;
    // After a failed creation, one at a time: its back-off holds the only place.
    if (this.failures > 0 && this.creating > 0) return;
    for (const [key, cls] of this.classOfKey) {
      if (!this.wanted(cls)) continue;
      const have = (this.ready.get(key)?.length ?? 0) + (this.creatingFor.get(key) ?? 0);
      if (have >= this.s.size) continue;
      this.create(key, cls);
      return;
    }
  }

  private create(key: string, cls: PoolClass): void {
    this.creating++;
    this.creatingFor.set(key, (this.creatingFor.get(key) ?? 0) + 1);
    const t0 = performance.now();
    const created = this.d.runner
      .createWarm(this.d.template(cls))
      .then((warm) => {
        this.failures = 0;
        this.d.metrics.poolCreate.observe((performance.now() - t0) / 1000);
        if (this.closed) {
          this.track(this.d.runner.destroyWarm(warm));
          return;
        }
        const list = this.ready.get(key) ?? [];
        list.push(warm);
        this.ready.set(key, list);
        this.updateGauge();
      })
      .catch((err: unknown) => {
        this.failures++;
        this.d.logger.warn({ err, profile: cls.profile, class: cls.kind }, 'creating a pooled sandbox failed');
      })
      .finally(() => {
        // After failures, wait before the next try (up to 10 s) instead of spinning.
        const backoff = Math.min(10_000, this.failures * 1000);
        // The class's count drops now (its sandbox is in `ready`, or is not coming); the
        // total waits out the back-off after failures.
        this.creatingFor.set(key, (this.creatingFor.get(key) ?? 1) - 1);
        setTimeout(() => {
          this.creating--;
        }, backoff).unref();
      });
    this.pending.add(created);
    void created.finally(() => this.pending.delete(created));
  }

  private expire(): void {
    const now = Date.now();
    for (const [key, list] of this.ready) {
      const cls = this.classOfKey.get(key)!;
      const wanted = this.wanted(cls);
      for (let i = list.length - 1; i >= 0; i--) {
        if (!list[i]!.alive()) {
          const [dead] = list.splice(i, 1);
          this.dropDead(dead!, cls);
        } else if (!wanted || now - list[i]!.createdAt > this.s.maxAgeMs) {
          const [old] = list.splice(i, 1);
          this.track(this.d.runner.destroyWarm(old!));
        }
      }
    }
    this.updateGauge();
  }

  private updateGauge(): void {
    this.d.metrics.poolReady.set(this.readyCount);
  }

  /** Stops refilling, destroys every pooled sandbox and waits for pending work. */
  async drain(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const list of this.ready.values()) for (const w of list.splice(0)) this.track(this.d.runner.destroyWarm(w));
    this.updateGauge();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
