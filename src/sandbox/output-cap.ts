/**
 * Runaway output. Each stream is captured up to its cap (capture.ts keeps the head and the
 * tail); a program that goes on writing far past it is stopped, so that a flood costs the
 * host neither memory nor CPU for long. The result then says `outputLimitHit`.
 */
import { MIB } from '../units.js';
import type { CappedCapture } from './capture.js';

/** Output past this many times the cap (plus 1 MiB) stops the sandbox. */
export const OUTPUT_KILL_FACTOR = 4;
const OUTPUT_KILL_SLACK = MIB;

export function outputKillThreshold(capBytes: number): number {
  return capBytes * OUTPUT_KILL_FACTOR + OUTPUT_KILL_SLACK;
}

export class OutputCapWatch {
  private readonly limit: number;
  hit = false;

  constructor(
    capBytes: number,
    private readonly streams: readonly CappedCapture[],
    private readonly onHit: () => void,
    /** Where it stops, when not at outputKillThreshold(capBytes). */
    limit?: number,
  ) {
    this.limit = limit ?? outputKillThreshold(capBytes);
  }

  /** Called after every chunk. */
  check(): void {
    if (this.hit || !this.streams.some((s) => s.totalBytes > this.limit)) return;
    this.hit = true;
    this.onHit();
  }
}
