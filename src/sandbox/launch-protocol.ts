/**
 * The launcher's protocol (launcher/kx-launch.c, every sandbox's init). Pure: the request
 * the service writes to the sandbox's stdin, and the frames the launcher writes back.
 *
 * A frame, both ways: one type byte, a u32 big-endian length, the payload. Only the
 * launcher writes frames on the sandbox's stdout; the program's output travels inside
 * them (O, E), so nothing the program prints can end its run or fake its status: the
 * end frame (X) comes from the launcher's wait4, and repeats the request's nonce.
 *
 * Steps (spec.steps): after the program's environment, each step is a P frame
 * "<wall_ms> <cpu_ms> <mem_kb> <out_bytes> <required 0|1>" (0: no CPU or memory limit)
 * followed by its own A, E and I frames. The launcher runs them in order, each a fresh
 * process, and frames each one's run: B "<i>" before its output, D "<i> exit|signal <n>
 * <user_us> <sys_us> <maxrss_kb> <wall_us> <limit>" after it (limit: wall, cpu, memory,
 * output, oom, or - when none of the launcher's ended it). X then repeats the last step's
 * status. A request without P frames is answered as it always was. M "<kb>" before the
 * steps: the launcher's memory guard (stepMemoryGuardKb in watch.ts): a step is ended as
 * 'oom' when the sandbox's MemAvailable falls below that.
 */
import type { SandboxSpec, SandboxStep, StepLimit, Usage } from './types.js';

/** Where the image keeps the launcher (scripts/build-image.sh). */
export const LAUNCHER_PATH = '/usr/local/lib/kata-exec/kx-launch';
/** What the launcher's ready frame says: its protocol. */
export const LAUNCHER_HELLO = 'kx-launch 1';

export type FrameType = 'R' | 'S' | 'O' | 'E' | 'B' | 'D' | 'X';
/** The frame types a one-shot launcher sends. */
export const LAUNCH_FRAME_TYPES = 'RSOEBDX';

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

/**
 * The request: nonce, files, program (argv), its own environment, its stdin, then go. With
 * steps: nonce, files, the environment of every step, then each step (P, A, E, I), then go.
 */
export function encodeRequest(spec: Pick<SandboxSpec, 'files' | 'command' | 'programEnv' | 'stdin' | 'steps'>, nonce: string, o: { memoryGuardKb?: number } = {}): Buffer {
  const parts = [frame('N', Buffer.from(nonce))];
  for (const f of spec.files) {
    const p = Buffer.from(f.path, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    parts.push(frame('F', Buffer.concat([len, p, f.content])));
  }
  if (!spec.steps) for (const a of spec.command) parts.push(frame('A', Buffer.from(a, 'utf8')));
  for (const e of spec.programEnv) parts.push(frame('E', Buffer.from(e, 'utf8')));
  if (spec.steps && o.memoryGuardKb) parts.push(frame('M', Buffer.from(String(o.memoryGuardKb))));
  if (spec.steps) for (const s of spec.steps) parts.push(...stepFrames(s));
  else if (spec.stdin && spec.stdin.length > 0) parts.push(frame('I', spec.stdin));
  parts.push(frame('G', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

function stepFrames(s: SandboxStep): Buffer[] {
  const limits = `${s.wallMs} ${s.cpuMs ?? 0} ${s.memoryKb ?? 0} ${s.outputBytes} ${s.required ? 1 : 0}`;
  const parts = [frame('P', Buffer.from(limits))];
  for (const a of s.command) parts.push(frame('A', Buffer.from(a, 'utf8')));
  for (const e of s.env ?? []) parts.push(frame('E', Buffer.from(e, 'utf8')));
  if (s.stdin && s.stdin.length > 0) parts.push(frame('I', s.stdin));
  return parts;
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
    private readonly types = LAUNCH_FRAME_TYPES,
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

/** The step-begin frame: its index; null when it is not a number. */
export function parseStepBegin(payload: Buffer): number | null {
  const t = payload.toString('latin1');
  return /^\d{1,4}$/.test(t) ? Number(t) : null;
}

export interface EndOfStep extends EndOfRun {
  index: number;
  wallMs: number;
  /** The launcher's own limit that ended it ('oom': its memory guard; the OOM killer's kills are the service's to tell). */
  limit: StepLimit | null;
}

const STEP_LIMITS = ['wall', 'cpu', 'memory', 'output', 'oom'] as const;

/** The step-end frame: `<i> exit|signal <n> <user_us> <sys_us> <maxrss_kb> <wall_us> <limit>`; null when malformed. */
export function parseStepEnd(payload: Buffer): EndOfStep | null {
  const m = /^(\d{1,4}) (exit|signal) (\d+) (\d+) (\d+) (\d+) (\d+) (wall|cpu|memory|output|oom|-)$/.exec(payload.toString('latin1'));
  if (!m) return null;
  const n = Number(m[3]);
  const usage: Usage = {
    cpuUserMs: Math.round(Number(m[4]) / 100) / 10,
    cpuSysMs: Math.round(Number(m[5]) / 100) / 10,
    maxRssKb: Number(m[6]),
  };
  const limit = m[8] === '-' ? null : STEP_LIMITS.find((l) => l === m[8])!;
  const base = m[2] === 'signal' ? { exitCode: 128 + n, signal: n } : { exitCode: n, signal: null };
  return { index: Number(m[1]), ...base, usage, wallMs: Math.round(Number(m[7]) / 100) / 10, limit };
}
