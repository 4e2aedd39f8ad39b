/**
 * The service's memory budget for executions and their answers. Each execution reserves
 * its worst case (worstCaseExecutionBytes) when it leaves the queue (waiting holds nothing)
 * and gives it back when its answer has been written or its client is gone, so whatever clients do (never read,
 * read slowly, ask for the largest output), what the service holds for them stays inside
 * KATA_EXEC_MEMORY_BUDGET_MB. Past it: 503 MEMORY_BUDGET_FULL with Retry-After, at once when
 * the budget is already full on arrival, else when the execution would start.
 */
import { MemoryBudgetFullError } from '../errors.js';

export class MemoryBudget {
  private reserved = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly onChange: (reservedBytes: number) => void = () => undefined,
  ) {}

  get reservedBytes(): number {
    return this.reserved;
  }

  /** Throws MemoryBudgetFullError unless `bytes` fit now (admission: refuse at once, not after queueing). */
  check(bytes: number): void {
    if (this.reserved + bytes > this.budgetBytes) throw new MemoryBudgetFullError(this.budgetBytes);
  }

  /** Reserves `bytes`, or throws MemoryBudgetFullError; returns its release (idempotent). */
  reserve(bytes: number): () => void {
    this.check(bytes);
    this.reserved += bytes;
    this.onChange(this.reserved);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= bytes;
      this.onChange(this.reserved);
    };
  }
}
