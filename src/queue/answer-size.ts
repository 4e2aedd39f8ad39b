/**
 * The size of an answer, bounded whatever bytes a program writes. The runner keeps at most
 * limits.outputBytes of each stream, but JSON can make those bytes much larger: a 0x01
 * becomes the 6-byte escape \u0001, an invalid byte the 3-byte U+FFFD. So each stream's
 * text is cut (from the middle, as the runner cuts) until its JSON encoding is at most
 * ENCODED_FACTOR x outputBytes. Ordinary text, newlines and quotes included, never reaches
 * that; control bytes and invalid UTF-8 past it are dropped and counted in droppedBytes.
 */
import type { ExecuteResult } from '../schemas/execute.js';

/** Each stream's JSON text is at most this many times limits.outputBytes (plus the marker). */
export const ENCODED_FACTOR = 2;

/** Bytes of one UTF-16 code unit in UTF-8 JSON, given its neighbours (pairs are 4 bytes). */
function unitCost(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0x20) return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const n = s.charCodeAt(i + 1);
    return n >= 0xdc00 && n <= 0xdfff ? 2 : 6;
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const p = s.charCodeAt(i - 1);
    return p >= 0xd800 && p <= 0xdbff ? 2 : 6;
  }
  return 3;
}

/** UTF-8 bytes of JSON.stringify(s), without its two quotes. */
export function jsonEncodedBytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) n += unitCost(s, i);
  return n;
}

/** The longest prefix of s whose JSON encoding fits in `budget` bytes, never halving a pair. */
function prefixWithin(s: string, budget: number): number {
  let used = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = unitCost(s, i);
    if (used + c > budget) break;
    used += c;
  }
  const last = s.charCodeAt(i - 1);
  if (i > 0 && i < s.length && last >= 0xd800 && last <= 0xdbff) i--;
  return i;
}

/** The start of the longest suffix of s whose JSON encoding fits in `budget` bytes. */
function suffixWithin(s: string, budget: number): number {
  let used = 0;
  let j = s.length;
  for (; j > 0; j--) {
    const c = unitCost(s, j - 1);
    if (used + c > budget) break;
    used += c;
  }
  const first = s.charCodeAt(j);
  if (j > 0 && j < s.length && first >= 0xdc00 && first <= 0xdfff) j++;
  return j;
}

export function droppedMarker(droppedBytes: number): string {
  return `\n…[${droppedBytes} bytes dropped]…\n`;
}

/**
 * One stream's text cut to `budget` JSON bytes, head and tail kept around one marker.
 * `droppedBytes` is what the runner already left out (its marker is in `text`); the bytes
 * cut here are added, counted as UTF-8 of the text that was cut.
 */
export function boundStreamText(text: string, droppedBytes: number, budget: number): { text: string; droppedBytes: number } {
  if (jsonEncodedBytes(text) <= budget) return { text, droppedBytes };
  let head = text;
  let tail = '';
  if (droppedBytes > 0) {
    const marker = droppedMarker(droppedBytes);
    const at = text.indexOf(marker);
    if (at >= 0) {
      head = text.slice(0, at);
      tail = text.slice(at + marker.length);
    }
  }
  const sameText = tail === '';
  if (sameText) tail = head;
  const h = prefixWithin(head, Math.floor(budget / 2));
  const keptHead = head.slice(0, h);
  let t = suffixWithin(tail, budget - jsonEncodedBytes(keptHead));
  // Cutting one text: the tail starts after the head.
  if (sameText) t = Math.max(t, h);
  const cut = sameText
    ? Buffer.byteLength(head.slice(h, t), 'utf8')
    : Buffer.byteLength(head.slice(h), 'utf8') + Buffer.byteLength(tail.slice(0, t), 'utf8');
  const total = droppedBytes + cut;
  return { text: `${keptHead}${droppedMarker(total)}${tail.slice(t)}`, droppedBytes: total };
}

/**
 * Bounds a result's stdout and stderr as JSON (see above), and drops a `value` whose JSON is
 * larger than that bound or cannot be written (too deep): stdout still has its line.
 */
export function boundAnswer(result: ExecuteResult, outputBytes: number): ExecuteResult {
  const budget = ENCODED_FACTOR * outputBytes;
  for (const stream of ['stdout', 'stderr'] as const) {
    const b = boundStreamText(result[stream], result.droppedBytes[stream], budget);
    if (b.droppedBytes !== result.droppedBytes[stream]) {
      result[stream] = b.text;
      result.droppedBytes[stream] = b.droppedBytes;
      result.truncated = true;
    }
  }
  if (result.value !== undefined) {
    let size = Infinity;
    try {
      size = Buffer.byteLength(JSON.stringify(result.value) ?? '', 'utf8');
    } catch {
      // Too deep to write: dropped below, like a value that does not parse.
    }
    if (size > budget) delete result.value;
  }
  return result;
}
