/**
 * The launcher's protocol (launcher/kx-launch.c, every sandbox's init). Pure: the request
 * the service writes to the sandbox's stdin, and the frames the launcher writes back.
 *
 * A frame, both ways: one type byte, a u32 big-endian length, the payload. Only the
 * launcher writes frames on the sandbox's stdout; the program's output travels inside
 * them (O, E), so nothing the program prints can end its run or fake its status: the
 * end frame (X) comes from the launcher's wait4, and repeats the request's nonce.
 */
import type { SandboxSpec, Usage } from './types.js';

/** Where the image keeps the launcher (scripts/build-image.sh). */
export const LAUNCHER_PATH = '/usr/local/lib/kata-exec/kx-launch';
/** What the launcher's ready frame says: its protocol. */
export const LAUNCHER_HELLO = 'kx-launch 1';

export type FrameType = 'R' | 'S' | 'O' | 'E' | 'X';

export interface Frame {
  type: string;
  payload: Buffer;
}

function frame(type: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

/** The request: nonce, files, program (argv), its own environment, its stdin, then go. */
export function encodeRequest(spec: Pick<SandboxSpec, 'files' | 'command' | 'programEnv' | 'stdin'>, nonce: string): Buffer {
  const parts = [frame('N', Buffer.from(nonce))];
  for (const f of spec.files) {
    const p = Buffer.from(f.path, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    parts.push(frame('F', Buffer.concat([len, p, f.content])));
  }
  for (const a of spec.command) parts.push(frame('A', Buffer.from(a, 'utf8')));
  for (const e of spec.programEnv) parts.push(frame('E', Buffer.from(e, 'utf8')));
  if (spec.stdin && spec.stdin.length > 0) parts.push(frame('I', spec.stdin));
  parts.push(frame('G', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/**
 * The service has the end frame: the launcher may end (it waits for this, or the end of its
 * stdin, so that its last frames are read while it still lives).
 */
export function encodeAck(): Buffer {
  return frame('K', Buffer.alloc(0));
}

/**
 * Splits a byte stream into frames. Anything that is not a frame of the launcher (an
 * unknown type, a length past the cap) makes the stream `broken`: no frame after it is
 * believed.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  broken: string | null = null;

  constructor(
    private readonly onFrame: (f: Frame) => void,
    private readonly maxFrame = 1 << 20,
    /** The frame types the launcher may send: one-shot's, or a session's (session-protocol.ts). */
    private readonly types = 'RSOEX',
  ) {}

  write(chunk: Buffer): void {
    if (this.broken) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 5) {
      const type = String.fromCharCode(this.buf[0]!);
      const len = this.buf.readUInt32BE(1);
      if (!this.types.includes(type) || len > this.maxFrame) {
        this.broken = `not a launcher frame (type ${this.buf[0]}, length ${len})`;
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.buf.length < 5 + len) return;
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      this.onFrame({ type, payload });
    }
  }
}

export interface EndOfRun {
  exitCode: number;
  signal: number | null;
  usage: Usage;
}

/** The end frame: `<nonce> exit|signal <n> <user_us> <sys_us> <maxrss_kb>`; null when it is not ours. */
export function parseEnd(payload: Buffer, nonce: string): EndOfRun | null {
  const m = /^(\S+) (exit|signal) (\d+) (\d+) (\d+) (\d+)$/.exec(payload.toString('latin1'));
  if (!m || m[1] !== nonce) return null;
  const n = Number(m[3]);
  const usage: Usage = {
    cpuUserMs: Math.round(Number(m[4]) / 100) / 10,
    cpuSysMs: Math.round(Number(m[5]) / 100) / 10,
    maxRssKb: Number(m[6]),
  };
  return m[2] === 'signal' ? { exitCode: 128 + n, signal: n, usage } : { exitCode: n, signal: null, usage };
}
