import { describe, expect, it } from 'vitest';
import { encodeAck, encodeRequest, FrameDecoder, parseEnd, type Frame } from '../../src/sandbox/launch-protocol.js';
import { newNonce } from '../../src/sandbox/marker.js';

const NONCE = 'kx-start-00ff';

function frames(buf: Buffer): { type: string; payload: string }[] {
  const out: { type: string; payload: string }[] = [];
  for (let i = 0; i < buf.length; ) {
    const len = buf.readUInt32BE(i + 1);
    out.push({ type: String.fromCharCode(buf[i]!), payload: buf.subarray(i + 5, i + 5 + len).toString('latin1') });
    i += 5 + len;
  }
  return out;
}

describe('encodeRequest', () => {
  it('nonce, files (u32 path length, path, content), argv, env, stdin, then go', () => {
    const req = encodeRequest(
      { files: [{ path: 'lib/a.py', content: Buffer.from('x=1\n') }], command: ['python3', '/code/main.py', 'arg 1'], programEnv: ['LD_PRELOAD=/tmp/x.so'], stdin: Buffer.from('in') },
      NONCE,
    );
    expect(frames(req)).toEqual([
      { type: 'N', payload: NONCE },
      { type: 'F', payload: '\0\0\0\x08lib/a.pyx=1\n' },
      { type: 'A', payload: 'python3' },
      { type: 'A', payload: '/code/main.py' },
      { type: 'A', payload: 'arg 1' },
      { type: 'E', payload: 'LD_PRELOAD=/tmp/x.so' },
      { type: 'I', payload: 'in' },
      { type: 'G', payload: '' },
    ]);
  });

  it('sends no stdin frame for an empty stdin', () => {
    const req = encodeRequest({ files: [], command: ['true'], programEnv: [], stdin: null }, NONCE);
    expect(frames(req).map((f) => f.type)).toEqual(['N', 'A', 'G']);
  });
});

describe('encodeAck', () => {
  it('is a K frame with nothing in it: what the launcher waits for after its end frame', () => {
    expect(encodeAck()).toEqual(Buffer.from([0x4b, 0, 0, 0, 0]));
  });
});

describe('FrameDecoder', () => {
  const frame = (t: string, p: string) => {
    const b = Buffer.alloc(5 + Buffer.byteLength(p));
    b.write(t, 0, 'latin1');
    b.writeUInt32BE(Buffer.byteLength(p), 1);
    b.write(p, 5);
    return b;
  };

  it('splits frames across any chunking, byte by byte included', () => {
    const all = Buffer.concat([frame('R', 'kx-launch 1'), frame('S', NONCE), frame('O', 'hello\n'), frame('E', ''), frame('X', `${NONCE} exit 0 1 2 3`)]);
    const got: Frame[] = [];
    const d = new FrameDecoder((f) => got.push(f));
    for (const b of all) d.write(Buffer.from([b]));
    expect(got.map((f) => [f.type, f.payload.toString()])).toEqual([
      ['R', 'kx-launch 1'],
      ['S', NONCE],
      ['O', 'hello\n'],
      ['E', ''],
      ['X', `${NONCE} exit 0 1 2 3`],
    ]);
    expect(d.broken).toBeNull();
  });

  it('believes nothing after bytes that are not a frame (an unknown type, a length past the cap)', () => {
    const got: string[] = [];
    const d = new FrameDecoder((f) => got.push(f.type), 1024);
    d.write(Buffer.concat([frame('O', 'a'), Buffer.from('kx-start-deadbeef\n'), frame('X', `${NONCE} exit 0 0 0 0`)]));
    expect(got).toEqual(['O']);
    expect(d.broken).toMatch(/not a launcher frame/);
    const big = new FrameDecoder((f) => got.push(f.type), 1024);
    const h = Buffer.alloc(5);
    h.write('O');
    h.writeUInt32BE(4096, 1);
    big.write(h);
    expect(big.broken).toMatch(/length 4096/);
  });
});

describe('parseEnd', () => {
  it('an exit: its code and the rusage (microseconds to milliseconds, KiB)', () => {
    expect(parseEnd(Buffer.from(`${NONCE} exit 3 12345 678 20480`), NONCE)).toEqual({ exitCode: 3, signal: null, usage: { cpuUserMs: 12.3, cpuSysMs: 0.7, maxRssKb: 20480 } });
  });

  it('a signal: 128 + N', () => {
    expect(parseEnd(Buffer.from(`${NONCE} signal 9 0 0 100`), NONCE)).toMatchObject({ exitCode: 137, signal: 9 });
  });

  it('refuses another run nonce, or anything else', () => {
    expect(parseEnd(Buffer.from(`kx-start-11 exit 0 0 0 0`), NONCE)).toBeNull();
    expect(parseEnd(Buffer.from(`${NONCE} exit 0 0 0`), NONCE)).toBeNull();
    expect(parseEnd(Buffer.from(`${NONCE} exit -1 0 0 0`), NONCE)).toBeNull();
  });
});

describe('newNonce', () => {
  it('is random and of the start-marker form', () => {
    const a = newNonce();
    expect(a).toMatch(/^kx-start-[0-9a-f]{32}$/);
    expect(newNonce()).not.toBe(a);
  });
});
