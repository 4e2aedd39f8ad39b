/** The JSON size of an answer's text (src/queue/answer-size.ts), exactly and bounded. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundStreamText, droppedMarker, jsonEncodedBytes } from '../../src/queue/answer-size.js';

const encoded = (s: string) => Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;

describe('jsonEncodedBytes', () => {
  it('is the UTF-8 size of JSON.stringify, escapes and lone surrogates included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) })), (s) => {
        expect(jsonEncodedBytes(s)).toBe(encoded(s));
      }),
      { numRuns: 500 },
    );
  });
});

describe('boundStreamText', () => {
  it('keeps text that fits, as it is', () => {
    expect(boundStreamText('a"b\n', 0, 8)).toEqual({ text: 'a"b\n', droppedBytes: 0 });
  });

  it('fits any text in the budget plus one marker, keeps a head and a tail, and counts what it cut', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 200 }), (s, budget) => {
        const b = boundStreamText(s, 0, budget);
        const marker = droppedMarker(b.droppedBytes);
        const markerBytes = b.droppedBytes > 0 ? jsonEncodedBytes(marker) : 0;
        expect(jsonEncodedBytes(b.text)).toBeLessThanOrEqual(Math.max(budget + markerBytes, jsonEncodedBytes(s) * Number(b.droppedBytes === 0)));
        // Uncut, the text is the same; cut, it is a head of it, the marker, and a tail of it.
        const [head, tail] = (b.droppedBytes > 0 ? b.text.split(marker) : [b.text, '']) as [string, string];
        expect(s.startsWith(head)).toBe(true);
        expect(s.endsWith(tail)).toBe(true);
        expect(Buffer.byteLength(head) + Buffer.byteLength(tail) + b.droppedBytes).toBe(Buffer.byteLength(s));
      }),
      { numRuns: 500 },
    );
  });

  it('cuts 0x01 bytes (6-byte escapes) to the budget and replaces the runner\'s marker with one total', () => {
    const text = `${'\x01'.repeat(1000)}${droppedMarker(5000)}${'\x01'.repeat(1000)}`;
    const b = boundStreamText(text, 5000, 600);
    expect(b.text.match(/bytes dropped/g)).toHaveLength(1);
    expect(jsonEncodedBytes(b.text)).toBeLessThanOrEqual(600 + jsonEncodedBytes(droppedMarker(b.droppedBytes)));
    expect(b.droppedBytes).toBe(5000 + 2000 - 100);
  });
});
