/**
 * The session launcher's protocol (launcher/kx-session.c): pure. A session sandbox's init
 * serves many requests on a socket, reached through an attach process (session-runner.ts).
 * A run is the one-shot request (launch-protocol.ts's encodeRequest, steps included) and
 * answers the same frames; every other op starts with `Q op` and answers D* (bytes) then one
 * Y (ok) or Z (refused, with an errno name), each repeating the request's nonce. `ping`
 * answers what the launcher can do beyond protocol 1 (launcherCan).
 */

/** What the session launcher's ready frame says. */
export const SESSION_HELLO = 'kx-session 1';
/** The frame types a session launcher sends (B and D of steps; D also an op's bytes). */
export const SESSION_FRAME_TYPES = 'RSOEBXYZD';
/** What a launcher that runs steps (a compile, tests) says in its ping answer. */
export const CAN_RUN_STEPS = 'steps';

/** The capabilities in a ping's answer ("ok steps"); none from a launcher older than them. */
export function launcherCan(answer: OpAnswer): string[] {
  return answer.ok ? answer.info.split(' ').filter(Boolean) : [];
}
/** The largest frame taken from it (a listing of 4096 entries fits). */
export const SESSION_MAX_FRAME = 4 << 20;

export type SessionOp = 'put' | 'get' | 'tar' | 'list' | 'delete' | 'bg' | 'bglist' | 'bgstop' | 'deadline' | 'ping';

function frame(type: string, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(p.length, 1);
  return Buffer.concat([h, p]);
}

const CHUNK = 64 * 1024;

/** An op request: N nonce, Q op, its frames, G. `data` (put) goes in chunks after the path. */
export function encodeOp(
  nonce: string,
  op: SessionOp,
  o: { path?: string; max?: number; recursive?: boolean; data?: Buffer; args?: string[]; env?: string[]; logFile?: string } = {},
): Buffer {
  const parts = [frame('N', nonce), frame('Q', op)];
  if (op === 'bg') {
    for (const a of o.args ?? []) parts.push(frame('A', a));
    for (const e of o.env ?? []) parts.push(frame('E', e));
    if (o.logFile) parts.push(frame('P', o.logFile));
  } else {
    if (o.path !== undefined) parts.push(frame('P', o.path));
    if (op === 'put' && o.data) for (let i = 0; i < o.data.length; i += CHUNK) parts.push(frame('D', o.data.subarray(i, i + CHUNK)));
    if (o.max !== undefined) parts.push(frame('M', String(o.max)));
    if (o.recursive) parts.push(frame('R', ''));
  }
  parts.push(frame('G', ''));
  return Buffer.concat(parts);
}

/**
 * The kill frame: ends the running call's processes (the deadline, the output cap, the
 * caller gone). Between calls (a K that crossed its call's end frame) the launcher takes it
 * as a kill for nothing, and keeps the connection.
 */
export const KILL_FRAME = frame('K', '');

export type OpAnswer = { ok: true; info: string; body: Buffer } | { ok: false; errno: string; message: string };

/** Y "<nonce> ok <info>[\n<body>]" or Z "<nonce> <ERRNO> <message>"; null when not this request's. */
export function parseOpEnd(type: string, payload: Buffer, nonce: string): OpAnswer | null {
  const nl = payload.indexOf(0x0a);
  const head = (nl >= 0 ? payload.subarray(0, nl) : payload).toString('utf8');
  const [n, word, ...rest] = head.split(' ');
  if (n !== nonce) return null;
  if (type === 'Y' && word === 'ok') return { ok: true, info: rest.join(' '), body: nl >= 0 ? payload.subarray(nl + 1) : Buffer.alloc(0) };
  if (type === 'Z' && word) return { ok: false, errno: word, message: rest.join(' ') };
  return null;
}

export interface LauncherEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mtimeMs: number;
  path: string;
}

/** A listing's body: "type\tsize\tmtime\tpath\0" per entry. */
export function parseListing(body: Buffer): LauncherEntry[] {
  const out: LauncherEntry[] = [];
  for (const rec of body.toString('utf8').split('\0')) {
    if (!rec) continue;
    const [type, size, mtime, ...p] = rec.split('\t');
    if (!type || !['file', 'dir', 'symlink', 'other'].includes(type)) continue;
    out.push({ type: type as LauncherEntry['type'], size: Number(size), mtimeMs: Number(mtime) * 1000, path: p.join('\t') });
  }
  return out;
}

export interface LauncherProcess {
  id: number;
  pid: number;
  running: boolean;
  exitCode: number | null;
}

/** bglist's body: "id\tpid\tstate\tcode\0" per process. */
export function parseProcesses(body: Buffer): LauncherProcess[] {
  const out: LauncherProcess[] = [];
  for (const rec of body.toString('utf8').split('\0')) {
    const [id, pid, state, code] = rec.split('\t');
    if (!id || !pid || !state) continue;
    out.push({ id: Number(id), pid: Number(pid), running: state === 'running', exitCode: state === 'running' ? null : Number(code) });
  }
  return out;
}
