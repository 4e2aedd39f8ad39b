/** The per-key concurrency quota: executions one key may have queued or running. */
import { QuotaExceededError } from '../errors.js';

/** Counts executions in flight per key and refuses one more past the quota. */
export class KeyQuota {
  private readonly inFlight = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Takes a place for `key`; returns its release. 0 means no quota. */
  acquire(key: string): () => void {
    if (this.limit <= 0) return () => undefined;
    const n = this.inFlight.get(key) ?? 0;
    if (n >= this.limit) throw new QuotaExceededError(this.limit);
    this.inFlight.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const m = (this.inFlight.get(key) ?? 1) - 1;
      if (m <= 0) this.inFlight.delete(key);
      else this.inFlight.set(key, m);
    };
  }
}
