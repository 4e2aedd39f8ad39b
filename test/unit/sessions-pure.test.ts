/** The pure parts of sessions: labels and expiry, the session launcher's protocol, outputFiles' globs. */
import { describe, expect, it } from 'vitest';
import { expiredBecause, expiresAt, sessionFromLabels, sessionLabels, type SessionState } from '../../src/sessions/labels.js';
import { CAN_RUN_STEPS, encodeOp, launcherCan, parseListing, parseOpEnd, parseProcesses } from '../../src/sandbox/session-protocol.js';
import { globProblem, matchGlobs } from '../../src/sandbox/glob.js';

const state: SessionState = {
  id: 'kx-s-1',
  owner: 'alice',
  profile: 'standard',
  limits: { memoryMb: 256, cpus: 0.5, pids: 64, diskMb: 32, openFiles: 128 },
  createdAt: 1_000_000,
  maxExpiresAt: 4_600_000,
  idleTimeoutMs: 60_000,
  lastUsedAt: 1_500_000,
};

describe('session labels', () => {
  it('round-trip what a restarted service needs', () => {
    expect(sessionFromLabels('kx-s-1', { ...sessionLabels(state), 'org.kata-exec.managed': 'true' })).toEqual(state);
  });
  it('refuse what is not a whole session', () => {
    const l = sessionLabels(state);
    expect(sessionFromLabels('x', { ...l, 'org.kata-exec.session': 'false' })).toBeNull();
    expect(sessionFromLabels('x', { ...l, 'org.kata-exec.session.expires': 'soon' })).toBeNull();
    expect(sessionFromLabels('x', { ...l, 'org.kata-exec.session.limits': '1:2' })).toBeNull();
    expect(sessionFromLabels('x', { ...l, 'org.kata-exec.profile': 'root' })).toBeNull();
  });
  it('expire at the sooner of idle and lifetime', () => {
    expect(expiresAt(state)).toBe(1_560_000);
    expect(expiredBecause(state, 1_559_999)).toBeNull();
    expect(expiredBecause(state, 1_560_000)).toBe('idle');
    expect(expiredBecause({ ...state, lastUsedAt: 4_590_000 }, 4_600_000)).toBe('lifetime');
  });
});

describe('session protocol', () => {
  it('encodes an op as frames: N, Q, its frames, G; data in 64 KiB chunks', () => {
    const b = encodeOp('n1', 'put', { path: 'a/b', data: Buffer.alloc(70_000) });
    const types: string[] = [];
    for (let off = 0; off < b.length; ) {
      types.push(String.fromCharCode(b[off]!));
      off += 5 + b.readUInt32BE(off + 1);
    }
    expect(types).toEqual(['N', 'Q', 'P', 'D', 'D', 'G']);
  });
  it('believes only the answer with this request nonce', () => {
    expect(parseOpEnd('Y', Buffer.from('n1 ok 1 42'), 'n1')).toEqual({ ok: true, info: '1 42', body: Buffer.alloc(0) });
    expect(parseOpEnd('Z', Buffer.from('n1 ELOOP walking: Too many levels'), 'n1')).toEqual({ ok: false, errno: 'ELOOP', message: 'walking: Too many levels' });
    expect(parseOpEnd('Y', Buffer.from('n2 ok'), 'n1')).toBeNull();
  });
  it("reads what a launcher can do from its ping's answer: an older one says a bare ok", () => {
    expect(launcherCan(parseOpEnd('Y', Buffer.from('n1 ok steps'), 'n1')!)).toEqual([CAN_RUN_STEPS]);
    expect(launcherCan(parseOpEnd('Y', Buffer.from('n1 ok'), 'n1')!)).toEqual([]);
    expect(launcherCan(parseOpEnd('Z', Buffer.from('n1 EINVAL unknown op ping'), 'n1')!)).toEqual([]);
  });
  it('parses listings and processes', () => {
    expect(parseListing(Buffer.from('file\t3\t10\ta b\0symlink\t11\t10\tpw\0bogus\t1\t1\tx\0'))).toEqual([
      { type: 'file', size: 3, mtimeMs: 10_000, path: 'a b' },
      { type: 'symlink', size: 11, mtimeMs: 10_000, path: 'pw' },
    ]);
    expect(parseProcesses(Buffer.from('1\t44\trunning\t-1\x002\t50\texited\t137\x00'))).toEqual([
      { id: 1, pid: 44, running: true, exitCode: null },
      { id: 2, pid: 50, running: false, exitCode: 137 },
    ]);
  });
});

describe('outputFiles globs', () => {
  const paths = ['a.png', 'out/b.png', 'out/deep/c.png', 'out/d.csv', 'e.csv'];
  it('* and ? stay in a name, ** crosses directories', () => {
    expect(matchGlobs(paths, ['*.png'])).toEqual(['a.png']);
    expect(matchGlobs(paths, ['out/*.png'])).toEqual(['out/b.png']);
    expect(matchGlobs(paths, ['**/*.png'])).toEqual(['a.png', 'out/b.png', 'out/deep/c.png']);
    expect(matchGlobs(paths, ['out/**'])).toEqual(['out/b.png', 'out/d.csv', 'out/deep/c.png']);
    expect(matchGlobs(paths, ['?.csv'])).toEqual(['e.csv']);
  });
  it('refuses patterns out of /code', () => {
    expect(globProblem('../x')).not.toBeNull();
    expect(globProblem('/etc/*')).not.toBeNull();
    expect(globProblem('a/[b]')).not.toBeNull();
    expect(globProblem('out/**/*.png')).toBeNull();
  });
});
