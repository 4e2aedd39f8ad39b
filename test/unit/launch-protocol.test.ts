import { describe, expect, it } from 'vitest';
import { encodeAck, encodeRequest, FrameDecoder, parseEnd, parseStepBegin, parseStepEnd, type Frame } from '../../src/sandbox/launch-protocol.js';
import { newNonce } from '../../src/sandbox/marker.js';
import { stepMemoryGuardKb } from '../../src/sandbox/watch.js';

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

describe('encodeRequest with steps', () => {
  it('the environment of every step, then each step: P with its limits, its argv, its env, its stdin; never the command', () => {
    const req = encodeRequest(
      {
        files: [{ path: 'main.c', content: Buffer.from('int main(){}') }],
        command: ['ignored'],
        programEnv: ['A=1'],
        stdin: Buffer.from('ignored too'),
        steps: [
          { command: ['gcc', 'main.c'], env: ['TMPDIR=/tmp'], stdin: null, wallMs: 10_000, cpuMs: null, memoryKb: null, outputBytes: 65536, required: true },
          { command: ['./a.out'], stdin: Buffer.from('1 2\n'), wallMs: 2000, cpuMs: 1000, memoryKb: 262_144, outputBytes: 4096, required: false },
        ],
      },
      NONCE,
    );
    expect(frames(req)).toEqual([
      { type: 'N', payload: NONCE },
      { type: 'F', payload: '\0\0\0\x06main.cint main(){}' },
      { type: 'E', payload: 'A=1' },
      { type: 'P', payload: '10000 0 0 65536 1' },
      { type: 'A', payload: 'gcc' },
      { type: 'A', payload: 'main.c' },
      { type: 'E', payload: 'TMPDIR=/tmp' },
      { type: 'P', payload: '2000 1000 262144 4096 0' },
      { type: 'A', payload: './a.out' },
      { type: 'I', payload: '1 2\n' },
      { type: 'G', payload: '' },
    ]);
  });

  it('the memory guard (M) goes before the steps, and only with steps', () => {
    const steps = [{ command: ['true'], stdin: null, wallMs: 1000, cpuMs: null, memoryKb: null, outputBytes: 10, required: false }];
    expect(frames(encodeRequest({ files: [], command: [], programEnv: [], stdin: null, steps }, NONCE, { memoryGuardKb: 16384 })).map((f) => f.type + f.payload)).toEqual([
      `N${NONCE}`,
      'M16384',
      'P1000 0 0 10 0',
      'Atrue',
      'G',
    ]);
    expect(frames(encodeRequest({ files: [], command: ['true'], programEnv: [], stdin: null }, NONCE, { memoryGuardKb: 16384 })).map((f) => f.type)).toEqual(['N', 'A', 'G']);
  });
});

describe('stepMemoryGuardKb', () => {
  it('gVisor only, an eighth of the sandbox memory within 16 to 64 MiB', () => {
    expect(stepMemoryGuardKb('gvisor', 128 * 1024 * 1024)).toBe(16 * 1024);
    expect(stepMemoryGuardKb('gvisor', 256 * 1024 * 1024)).toBe(32 * 1024);
    expect(stepMemoryGuardKb('gvisor', 4096 * 1024 * 1024)).toBe(64 * 1024);
    expect(stepMemoryGuardKb('gvisor', 0)).toBe(0);
    expect(stepMemoryGuardKb('runc', 128 * 1024 * 1024)).toBe(0);
    expect(stepMemoryGuardKb('kata', 128 * 1024 * 1024)).toBe(0);
  });
});

describe('parseStepBegin / parseStepEnd', () => {
  it('a step begins: its index', () => {
    expect(parseStepBegin(Buffer.from('12'))).toBe(12);
    expect(parseStepBegin(Buffer.from('x'))).toBeNull();
    expect(parseStepBegin(Buffer.from('-1'))).toBeNull();
  });

  it('a step ends: status, rusage, wall time (µs to ms) and the launcher limit that ended it', () => {
    expect(parseStepEnd(Buffer.from('2 exit 0 1500 500 2048 30000 -'))).toEqual({
      index: 2,
      exitCode: 0,
      signal: null,
      usage: { cpuUserMs: 1.5, cpuSysMs: 0.5, maxRssKb: 2048 },
      wallMs: 30,
      limit: null,
    });
    expect(parseStepEnd(Buffer.from('0 signal 9 1000000 0 900 1000000 cpu'))).toMatchObject({ exitCode: 137, signal: 9, limit: 'cpu' });
    for (const l of ['wall', 'memory', 'output', 'oom'] as const) expect(parseStepEnd(Buffer.from(`1 signal 9 0 0 0 0 ${l}`))?.limit).toBe(l);
  });

  it('refuses anything else (a limit the launcher never sends, a missing field)', () => {
    expect(parseStepEnd(Buffer.from('0 signal 9 0 0 0 0 time'))).toBeNull();
    expect(parseStepEnd(Buffer.from('0 exit 0 0 0 0 -'))).toBeNull();
    expect(parseStepEnd(Buffer.from('a exit 0 0 0 0 0 -'))).toBeNull();
  });
});

describe('FrameDecoder: step frames', () => {
  it('takes B and D among the launcher frames', () => {
    const got: string[] = [];
    const d = new FrameDecoder((f) => got.push(f.type));
    const f = (t: string, p: string) => Buffer.concat([Buffer.from([t.charCodeAt(0), 0, 0, 0, p.length]), Buffer.from(p)]);
    d.write(Buffer.concat([f('B', '0'), f('O', 'x'), f('D', '0 exit 0 0 0 0 0 -')]));
    expect(got).toEqual(['B', 'O', 'D']);
    expect(d.broken).toBeNull();
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
