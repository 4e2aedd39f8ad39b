/**
 * Issue 10, item 14: a running execution answers 503 at once when containerd goes away,
 * not when its program ends. The signal is containerd's event stream breaking; the
 * execution's ctr client is then ended if containerd does not answer.
 *
 * On runc and gVisor here, the real ctr client notices a lost containerd by itself ("ctr:
 * rpc error: code = Unavailable desc = transport is closing"), so the integration test
 * (lifecycle.test.ts) cannot tell whether the service relies on that. Here the ctr client
 * is a shell that prints the start marker and runs on, as a client that did not notice
 * would: only the service's own reaction to the broken stream can end it in time.
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

const spec = (timeoutMs: number) => ({ id: 'kx-00000000000000000000', timeoutMs, resources: { outputBytes: 1 << 20 } }) as unknown as SandboxSpec;

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
      { ctr: client, ctrPath: '/bin/sh', runtime: 'runc', events },
      // Without a reaction to the broken stream only the deadline (10 s, then the kill's
      // grace) would end this client; the program itself would run 60 s.
      spec(10_000),
      { argv: ['-c', `printf '%s\\n' ${nonce}; echo running; exec sleep 60`], nonce, sandboxId: 'kx-00000000000000000000', into: 'cold' },
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
      { ctr: client, ctrPath: '/bin/sh', runtime: 'runc', events },
      spec(60_000),
      {
        argv: ['-c', `printf '%s\\n' ${nonce}; echo running; while [ -d ${dir} ] && [ ! -e ${go} ]; do sleep 0.05; done; echo finished`],
        nonce,
        sandboxId: 'kx-00000000000000000000',
        into: 'cold',
      },
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
