/**
 * A bounded in-process queue: at most `concurrency` jobs run, at most `maxDepth` wait.
 * Past the depth a job is refused at once with QueueFullError (503 + Retry-After), so a
 * burst never piles up unbounded memory or latency. A waiting job whose signal aborts
 * leaves the queue without running.
 */
import { AbortedError, QueueFullError, ShuttingDownError } from '../errors.js';

interface Waiter {
  start: () => void;
  fail: (err: Error) => void;
}

export interface QueueStats {
  running: number;
  waiting: number;
}

export class BoundedQueue {
  private running = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private idleResolvers: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxDepth: number,
    private readonly onChange: (s: QueueStats) => void = () => undefined,
  ) {}

  stats(): QueueStats {
    return { running: this.running, waiting: this.waiters.length };
  }

  /** Runs fn when a slot is free; returns its result. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<{ value: T }> {
    if (this.closed) throw new ShuttingDownError();
    if (signal?.aborted) throw new AbortedError();
    if (this.running >= this.concurrency) {
      if (this.waiters.length >= this.maxDepth) throw new QueueFullError(this.waiters.length, this.retryAfterSeconds());
      await new Promise<void>((resolve, reject) => {
        const w: Waiter = {
          start: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          fail: reject,
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          this.changed();
          reject(new AbortedError());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(w);
        this.changed();
      });
    } else {
      this.running++;
      this.changed();
    }
    try {
      return { value: await fn() };
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) {
      // The slot passes straight to the next waiter: running stays the same.
      next.start();
    } else {
      this.running--;
    }
    this.changed();
    if (this.running === 0 && this.waiters.length === 0) {
      for (const r of this.idleResolvers.splice(0)) r();
    }
  }

  private changed(): void {
    this.onChange(this.stats());
  }

  /** A rough wait: the queue ahead, at a few seconds per round of slots. */
  private retryAfterSeconds(): number {
    return Math.max(1, Math.min(60, Math.ceil((this.waiters.length / this.concurrency) * 2)));
  }

  /** Refuses new jobs; waiting ones fail with ShuttingDownError; running ones go on. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.fail(new ShuttingDownError());
    this.changed();
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleResolvers.push(r));
  }
}
