/**
 * Bounded capture of one output stream: the first half of the cap as the head, the last
 * half as a ring-buffered tail, and a count of everything. Memory stays O(cap) whatever
 * the program writes.
 */
import type { CapturedStream } from './types.js';

/** The head a capped stream keeps: the first half of its cap (the tail has the rest). */
export function headBytesOf(cap: number): number {
  return Math.ceil(cap / 2);
}

export class CappedCapture {
  private readonly headCap: number;
  private readonly tailCap: number;
  private readonly head: Buffer;
  private headLen = 0;
  private readonly tail: Buffer;
  private tailStart = 0;
  private tailLen = 0;
  private total = 0;

  constructor(readonly cap: number) {
    this.headCap = headBytesOf(cap);
    this.tailCap = cap - this.headCap;
    this.head = Buffer.alloc(this.headCap);
    this.tail = Buffer.alloc(this.tailCap);
  }

  get totalBytes(): number {
    return this.total;
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headLen < this.headCap) {
      const n = Math.min(this.headCap - this.headLen, rest.length);
      rest.copy(this.head, this.headLen, 0, n);
      this.headLen += n;
      rest = rest.subarray(n);
    }
    if (rest.length === 0 || this.tailCap === 0) return;
    if (rest.length >= this.tailCap) {
      rest.copy(this.tail, 0, rest.length - this.tailCap);
      this.tailStart = 0;
      this.tailLen = this.tailCap;
      return;
    }
    for (let i = 0; i < rest.length; ) {
      const writeAt = (this.tailStart + this.tailLen) % this.tailCap;
      if (this.tailLen < this.tailCap) {
        const n = Math.min(rest.length - i, this.tailCap - writeAt, this.tailCap - this.tailLen);
        rest.copy(this.tail, writeAt, i, i + n);
        this.tailLen += n;
        i += n;
      } else {
        const n = Math.min(rest.length - i, this.tailCap - this.tailStart);
        rest.copy(this.tail, this.tailStart, i, i + n);
        this.tailStart = (this.tailStart + n) % this.tailCap;
        i += n;
      }
    }
  }

  result(): CapturedStream {
    const tail = Buffer.concat([
      this.tail.subarray(this.tailStart, Math.min(this.tailCap, this.tailStart + this.tailLen)),
      this.tail.subarray(0, Math.max(0, this.tailStart + this.tailLen - this.tailCap)),
    ]);
    const kept = this.headLen + tail.length;
    return {
      data: Buffer.concat([this.head.subarray(0, this.headLen), tail]),
      totalBytes: this.total,
      droppedBytes: this.total - kept,
    };
  }
}

/** Text for the API: invalid UTF-8 becomes U+FFFD; a dropped middle is marked where it was. */
export function decodeCapture(c: CapturedStream, cap: number): string {
  const headBytes = headBytesOf(cap);
  const dec = (b: Buffer) => new TextDecoder('utf-8', { fatal: false }).decode(b);
  if (c.droppedBytes === 0) return dec(c.data);
  const head = c.data.subarray(0, headBytes);
  const tail = c.data.subarray(headBytes);
  return `${dec(head)}\n…[${c.droppedBytes} bytes dropped]…\n${dec(tail)}`;
}
