/**
 * Issue 10, item 14: a running execution answers 503 at once when containerd goes away,
 * not when its program ends. The signal is containerd's event stream breaking; the
 * execution's ctr client is then ended if containerd does not answer.
 *
 * On runc and gVisor here, the real ctr client notices a lost containerd by itself ("ctr:
 * rpc error: code = Unavailable desc = transport is closing"), so the integration test
 * (lifecycle.test.ts) cannot tell whether the service relies on that. Here the ctr client
 * is a python script that speaks the launcher's frames (ready, start with the request's
 * nonce, output) and runs on, as a client that did not notice would: only the service's
 * own reaction to the broken stream can end it in time.
 */
import { performance } from 'node:perf_hooks';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CtrClient } from '../../src/ctr/client.js';
import { DaemonUnavailableError } from '../../src/errors.js';
import type { OomEvents } from '../../src/sandbox/oom.js';
import type { Logger, SandboxSpec } from '../../src/sandbox/types.js';
import { LauncherSession } from '../../src/sandbox/session.js';
import { watchSandbox } from '../../src/sandbox/watch.js';
import { waitFor } from '../helpers/wait.js';

const nonce = 'kx-start-0123456789abcdef';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };

/** The event stream, broken on demand. */
function brokenStream(): OomEvents & { breakStream(): void; listeners(): number } {
  const listeners = new Set<() => void>();
  return {
    sawOom: async () => false,
    forget() {},
    onStreamLost(l: () => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    breakStream: () => [...listeners].forEach((l) => l()),
    listeners: () => listeners.size,
  };
}

/** containerd as ctr sees it: answering or not; counts the version checks. */
function ctrClient(up: boolean) {
  const calls = { version: 0, killTask: 0 };
  const client = {
    version: () => {
      calls.version++;
      return up ? Promise.resolve('1.6') : Promise.reject(new Error('connection refused'));
    },
    killTask: async () => {
      calls.killTask++;
    },
  } as unknown as CtrClient;
  return { client, calls };
}

const spec = (timeoutMs: number) =>
  ({ id: 'kx-00000000000000000000', timeoutMs, resources: { outputBytes: 1 << 20 }, files: [], command: ['true'], programEnv: [], stdin: null }) as unknown as SandboxSpec;

/**
 * A stand-in for `ctr run` whose init is the launcher: it says it is ready, reads the
 * request up to its go frame, starts (the request's nonce), prints "running", then waits
 * while \`wait\` (python, in this same process, so that ending the client ends it) runs, prints "finished" and ends with exit 0.
 */
function fakeLauncher(wait: string): LauncherSession {
  const py = [
    'import os, struct, sys, time',
    'out = sys.stdout.buffer',
    'def send(t, p):',
    '    out.write(t + struct.pack(">I", len(p)) + p); out.flush()',
    'def read(n):',
    '    b = b""',
    '    while len(b) < n:',
    '        c = sys.stdin.buffer.read(n - len(b))',
    '        if not c: sys.exit(0)',
    '        b += c',
    '    return b',
    'send(b"R", b"kx-launch 1")',
    'nonce = b""',
    'while True:',
    '    h = read(5); p = read(struct.unpack(">I", h[1:])[0])',
    '    if h[:1] == b"N": nonce = p',
    '    if h[:1] == b"G": break',
    'send(b"S", nonce)',
    'send(b"O", b"running\\n")',
    wait,
    'send(b"O", b"finished\\n")',
    'send(b"X", nonce + b" exit 0 0 0 0")',
  ].join('\n');
  return new LauncherSession('/usr/bin/python3', ['-c', py]);
}

let dir = '';
afterEach(() => {
  // Its program waits only while the directory exists: a failed case still lets it end.
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('containerd going away while a program runs', () => {
  it('ends the ctr client and answers DAEMON_UNAVAILABLE at once, not when the program (sleep 60) ends', async () => {
    const events = brokenStream();
    const { client, calls } = ctrClient(false);
    let sawRunning = false;
    const t0 = performance.now();
    const watched = watchSandbox(
      { ctr: client, runtime: 'runc', events },
      // Without a reaction to the broken stream only the deadline (10 s, then the kill's
      // grace) would end this client; the program itself would run 60 s.
      fakeLauncher('time.sleep(60)'),
      spec(10_000),
      { nonce, sandboxId: 'kx-00000000000000000000', into: 'cold' },
      { onOutput: (stream, c) => (sawRunning ||= stream === 'stdout' && c.toString().includes('running')) },
      quiet,
      t0,
    ).then(
      (w) => w,
      (err: unknown) => err,
    );
    await waitFor('the program to run', () => sawRunning || undefined);
    events.breakStream();
    const outcome = await watched;
    expect(outcome, `answered ${JSON.stringify(outcome).slice(0, 200)}`).toBeInstanceOf(DaemonUnavailableError);
    expect(calls.version).toBeGreaterThan(0);
    expect(events.listeners(), 'it stops listening once done').toBe(0);
  });

  it('lets the program run on when the stream breaks but containerd still answers', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kx-daemon-lost-'));
    const go = path.join(dir, 'go');
    const events = brokenStream();
    const { client, calls } = ctrClient(true);
    let sawRunning = false;
    const watched = watchSandbox(
      { ctr: client, runtime: 'runc', events },
      fakeLauncher(`while os.path.isdir(${JSON.stringify(dir)}) and not os.path.exists(${JSON.stringify(go)}): time.sleep(0.05)`),
      spec(60_000),
      { nonce, sandboxId: 'kx-00000000000000000000', into: 'cold' },
      { onOutput: (stream, c) => (sawRunning ||= stream === 'stdout' && c.toString().includes('running')) },
      quiet,
      performance.now(),
    );
    await waitFor('the program to run', () => sawRunning || undefined);
    events.breakStream();
    await waitFor('the version check', () => calls.version > 0 || undefined, 10_000);
    expect(existsSync(go)).toBe(false);
    writeFileSync(go, '');
    const w = await watched;
    expect(w.result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(w.result.stdout.data.toString()).toBe('running\nfinished\n');
    expect(calls.killTask).toBe(0);
  });
});
