import { describe, expect, it } from 'vitest';
import { CappedCapture, decodeCapture } from '../../src/sandbox/capture.js';

/** What a capture of `cap` must keep of `all`: everything, or the head and tail halves. */
function reference(all: Buffer, cap: number): { data: Buffer; droppedBytes: number } {
  if (all.length <= cap) return { data: all, droppedBytes: 0 };
  const head = Math.ceil(cap / 2);
  const tail = cap - head;
  return { data: Buffer.concat([all.subarray(0, head), all.subarray(all.length - tail)]), droppedBytes: all.length - cap };
}

/** Deterministic pseudo-random bytes. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

function bytes(n: number, offset = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i + offset) % 251;
  return b;
}

function capture(cap: number, chunks: Buffer[]) {
  const c = new CappedCapture(cap);
  for (const ch of chunks) c.write(ch);
  return c;
}

describe('CappedCapture', () => {
  it('under the cap keeps everything exactly', () => {
    const c = capture(100, [Buffer.from('hello '), Buffer.from('world')]);
    const r = c.result();
    expect(r.data.toString()).toBe('hello world');
    expect(r.totalBytes).toBe(11);
    expect(r.droppedBytes).toBe(0);
  });

  it('exactly the cap keeps everything', () => {
    const all = bytes(64);
    const r = capture(64, [all]).result();
    expect(r.data.equals(all)).toBe(true);
    expect(r.droppedBytes).toBe(0);
  });

  it('nothing written: empty', () => {
    expect(capture(16, []).result()).toEqual({ data: Buffer.alloc(0), totalBytes: 0, droppedBytes: 0 });
  });

  it('over the cap keeps head and tail; droppedBytes = total - cap', () => {
    const r = capture(10, [Buffer.from('abcdefghijklmnopqrstuvwxyz')]).result();
    expect(r.data.toString()).toBe('abcdevwxyz');
    expect(r.totalBytes).toBe(26);
    expect(r.droppedBytes).toBe(16);
  });

  it('odd cap: the head gets the extra byte', () => {
    const r = capture(5, [Buffer.from('0123456789')]).result();
    expect(r.data.toString()).toBe('01289');
    expect(r.droppedBytes).toBe(5);
  });

  it('many one-byte writes give the same result as one big write', () => {
    const all = bytes(1000, 7);
    const one = capture(37, [all]).result();
    const many = capture(
      37,
      [...all].map((b) => Buffer.from([b])),
    ).result();
    expect(many).toEqual(one);
    expect(one).toEqual({ ...reference(all, 37), totalBytes: 1000 });
  });

  it('cap of 1 keeps the first byte only', () => {
    const r = capture(1, [Buffer.from('ab'), Buffer.from('cd')]).result();
    expect(r.data.toString()).toBe('a');
    expect(r.droppedBytes).toBe(3);
    expect(r.totalBytes).toBe(4);
  });

  it('cap of 2 keeps the first and the last byte', () => {
    const r = capture(2, [Buffer.from('ab'), Buffer.from('c'), Buffer.from('d')]).result();
    expect(r.data.toString()).toBe('ad');
  });

  it('tail wrap-around: chunks smaller than the tail after it is full', () => {
    // cap 8: head 4, tail 4. Writes of 3 bytes make the ring wrap at every offset.
    const chunks = Array.from({ length: 12 }, (_, i) => bytes(3, i * 3));
    const all = Buffer.concat(chunks);
    const r = capture(8, chunks).result();
    expect(r.data).toEqual(reference(all, 8).data);
  });

  it('a chunk bigger than the tail replaces it entirely', () => {
    const chunks = [bytes(3), bytes(5, 50), bytes(100, 100), bytes(2, 200)];
    const all = Buffer.concat(chunks);
    expect(capture(10, chunks).result().data).toEqual(reference(all, 10).data);
  });

  it('matches the reference for random chunkings and caps', () => {
    const next = rng(42);
    for (let t = 0; t < 2000; t++) {
      const cap = 1 + (next() % 24);
      const chunks: Buffer[] = [];
      const n = next() % 12;
      for (let i = 0; i < n; i++) {
        const len = next() % 20;
        const b = Buffer.alloc(len);
        for (let j = 0; j < len; j++) b[j] = next() & 0xff;
        chunks.push(b);
      }
      const all = Buffer.concat(chunks);
      const r = capture(cap, chunks).result();
      const want = reference(all, cap);
      expect(r.data).toEqual(want.data);
      expect(r.droppedBytes).toBe(want.droppedBytes);
      expect(r.totalBytes).toBe(all.length);
    }
  });

  it('memory stays O(cap): totalBytes counts what is not kept', () => {
    const c = new CappedCapture(4);
    for (let i = 0; i < 1000; i++) c.write(bytes(1000, i));
    expect(c.totalBytes).toBe(1_000_000);
    expect(c.result().data.length).toBe(4);
  });

  it('result() can be called twice and is stable', () => {
    const c = capture(6, [bytes(20)]);
    expect(c.result()).toEqual(c.result());
  });
});

describe('decodeCapture', () => {
  it('nothing dropped: the whole text', () => {
    expect(decodeCapture({ data: Buffer.from('héllo'), totalBytes: 6, droppedBytes: 0 }, 6)).toBe('héllo');
  });

  it('dropped: the head (half the cap, as CappedCapture keeps it), marker with the count, tail', () => {
    const r = capture(10, [Buffer.from('abcdefghijklmnopqrstuvwxyz')]).result();
    expect(decodeCapture(r, 10)).toBe('abcde\n…[16 bytes dropped]…\nvwxyz');
  });

  it('invalid UTF-8 becomes U+FFFD, never throws', () => {
    expect(decodeCapture({ data: Buffer.from([0xf0, 0x28, 0x8c, 0x28]), totalBytes: 4, droppedBytes: 0 }, 4)).toBe('\uFFFD(\uFFFD(');
  });

  it('a multi-byte character cut at the head/tail boundary does not corrupt its neighbours', () => {
    // "€" is e2 82 ac; the cut leaves e2 82 in the head and nothing of it in the tail.
    const data = Buffer.concat([Buffer.from('ab'), Buffer.from([0xe2, 0x82]), Buffer.from('yz')]);
    const s = decodeCapture({ data, totalBytes: 100, droppedBytes: 94 }, 8);
    expect(s.startsWith('ab\uFFFD')).toBe(true);
    expect(s.endsWith('\nyz')).toBe(true);
  });
});
