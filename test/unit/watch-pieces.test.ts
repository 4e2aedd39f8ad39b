// The named pieces of a sandbox's watch: the deadline, the abort, the output cap, the OOM
// question, the kill loop, and what a failure before the start marker means.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { watchAbort } from '../../src/sandbox/abort.js';
import { CappedCapture } from '../../src/sandbox/capture.js';
import { startDeadline } from '../../src/sandbox/deadline.js';
import { KILL_GRACE_MS, SandboxKiller } from '../../src/sandbox/kill.js';
import { OOM_EVENT_WAIT_MS, oomKilledSteps, wasOomKilled, type OomEvents } from '../../src/sandbox/oom.js';
import { OutputCapWatch, outputKillThreshold } from '../../src/sandbox/output-cap.js';
import type { Logger } from '../../src/sandbox/types.js';
import { startError } from '../../src/sandbox/watch.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };

describe('deadline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires once at timeoutMs and says so', () => {
    const fired = vi.fn();
    const d = startDeadline(1000, fired);
    vi.advanceTimersByTime(999);
    expect([d.expired, fired.mock.calls.length]).toEqual([false, 0]);
    vi.advanceTimersByTime(1);
    expect([d.expired, fired.mock.calls.length]).toEqual([true, 1]);
  });

  it('never fires once cleared', () => {
    const fired = vi.fn();
    const d = startDeadline(1000, fired);
    d.clear();
    vi.advanceTimersByTime(5000);
    expect([d.expired, fired.mock.calls.length]).toEqual([false, 0]);
  });
});

describe('abort', () => {
  it('fires on abort, and at once for a signal already aborted', () => {
    const c = new AbortController();
    const fired = vi.fn();
    const w = watchAbort(c.signal, fired);
    expect(w.aborted).toBe(false);
    c.abort();
    expect([w.aborted, fired.mock.calls.length]).toEqual([true, 1]);
    const late = vi.fn();
    expect(watchAbort(c.signal, late).aborted).toBe(true);
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('does nothing after dispose, or without a signal', () => {
    const c = new AbortController();
    const fired = vi.fn();
    watchAbort(c.signal, fired).dispose();
    c.abort();
    expect(fired).not.toHaveBeenCalled();
    expect(watchAbort(undefined, fired).aborted).toBe(false);
  });
});

describe('output cap', () => {
  it('fires once, when one stream passes 4x the cap plus 1 MiB', () => {
    const cap = 1000;
    const out = new CappedCapture(cap);
    const err = new CappedCapture(cap);
    const hit = vi.fn();
    const w = new OutputCapWatch(cap, [out, err], hit);
    const limit = outputKillThreshold(cap);
    expect(limit).toBe(4 * cap + 1024 * 1024);
    err.write(Buffer.alloc(limit));
    w.check();
    expect([w.hit, hit.mock.calls.length]).toEqual([false, 0]);
    err.write(Buffer.alloc(1));
    w.check();
    w.check();
    expect([w.hit, hit.mock.calls.length]).toEqual([true, 1]);
  });
});

describe('OOM question', () => {
  const events = (answer: boolean): OomEvents & { asked: [string, number][] } => {
    const asked: [string, number][] = [];
    return { asked, sawOom: async (id, ms) => (asked.push([id, ms]), answer), forget() {} };
  };

  it('asks only about a started program that failed without our kill', async () => {
    const e = events(true);
    expect(await wasOomKilled(e, 'a', { started: false, exitCode: 137, killRequested: false })).toBe(false);
    expect(await wasOomKilled(e, 'a', { started: true, exitCode: 0, killRequested: false })).toBe(false);
    expect(await wasOomKilled(e, 'a', { started: true, exitCode: null, killRequested: false })).toBe(false);
    expect(await wasOomKilled(e, 'a', { started: true, exitCode: 137, killRequested: true })).toBe(false);
    expect(await wasOomKilled(null, 'a', { started: true, exitCode: 137, killRequested: false })).toBe(false);
    expect(e.asked).toEqual([]);
  });

  it('waits for a report after a signal exit (>= 128), not after a plain error', async () => {
    const e = events(true);
    expect(await wasOomKilled(e, 'a', { started: true, exitCode: 137, killRequested: false })).toBe(true);
    expect(await wasOomKilled(e, 'b', { started: true, exitCode: 1, killRequested: false })).toBe(true);
    expect(e.asked).toEqual([
      ['a', OOM_EVENT_WAIT_MS],
      ['b', 0],
    ]);
  });
});

describe('kill loop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends one ctr tasks kill at a time: the next only after the previous returned', async () => {
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    const pending: (() => void)[] = [];
    const killTask = () =>
      new Promise<void>((resolve) => {
        calls++;
        inFlight++;
        most = Math.max(most, inFlight);
        pending.push(() => {
          inFlight--;
          resolve();
        });
      });
    const k = new SandboxKiller(killTask, () => undefined, quiet);
    k.kill('timeout');
    k.kill('again');
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toBe(1);
    pending.shift()!();
    await vi.advanceTimersByTimeAsync(250);
    expect(calls).toBe(2);
    expect(most).toBe(1);
    k.stop();
    pending.shift()!();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
  });

  it('ends the client when ctr has not returned within the grace period, and not before', async () => {
    const endClient = vi.fn();
    const k = new SandboxKiller(() => new Promise<void>(() => undefined), endClient, quiet);
    k.kill('timeout');
    await vi.advanceTimersByTimeAsync(KILL_GRACE_MS - 1);
    expect(endClient).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(endClient).toHaveBeenCalledTimes(1);
  });

  it('a killer stopped before its grace period never ends the client', async () => {
    const endClient = vi.fn();
    const k = new SandboxKiller(async () => undefined, endClient, quiet);
    k.kill('timeout');
    k.stop();
    await vi.advanceTimersByTimeAsync(KILL_GRACE_MS * 2);
    expect(endClient).not.toHaveBeenCalled();
  });
});

describe('a failure before the start marker', () => {
  const shimFailed = 'ctr: failed to create shim task: OCI runtime create failed: boom\n';
  const code = (e: Error) => (e as { code?: string }).code;

  it('cold: the sandbox could not be created', () => {
    expect(code(startError('runc', 'cold', shimFailed, 1))).toBe(ErrorCode.VmCreationFailed);
  });

  it('warm: the program could not be started in a sandbox that runs (VM_EXECUTION_FAILED)', () => {
    expect(code(startError('runc', 'warm', 'ctr: container "x" in namespace "kx": not found\n', 1))).toBe(ErrorCode.VmExecutionFailed);
  });

  it('containerd unreachable is DAEMON_UNAVAILABLE on both paths', () => {
    const gone = 'ctr: failed to dial "/run/containerd.sock": connection refused\n';
    expect(code(startError('gvisor', 'cold', gone, 1))).toBe(ErrorCode.DaemonUnavailable);
    expect(code(startError('gvisor', 'warm', gone, 1))).toBe(ErrorCode.DaemonUnavailable);
  });

  it('a missing shim: KATA_NOT_AVAILABLE for kata, VM_CREATION_FAILED for the others', () => {
    const missing = 'ctr: failed to create shim task: failed to resolve runtime path: binary not installed\n';
    expect(code(startError('kata', 'cold', missing, 1))).toBe(ErrorCode.KataNotAvailable);
    expect(code(startError('gvisor', 'cold', missing, 1))).toBe(ErrorCode.VmCreationFailed);
  });

  it('exit 0 without a byte is lost output (run again once by the runner)', () => {
    expect(startError('runc', 'cold', '', 0).name).toBe('LostOutputError');
  });
});

describe('which steps the OOM killer ended', () => {
  const timed = (times: number[]): OomEvents & { waited: [number, number][] } => {
    const waited: [number, number][] = [];
    return {
      waited,
      sawOom: async () => times.length > 0,
      oomTimesSince: async (_id, since, ms) => (waited.push([since, ms]), times.filter((t) => t >= since)),
      forget() {},
    };
  };

  it('each report belongs to the latest killed step that had begun when it came', async () => {
    // Steps 1 and 4 died by a SIGKILL of nobody's; one report came during step 2 (step 1's, late), none after step 4 began.
    const e = timed([1500]);
    const got = await oomKilledSteps(e, 'kx', [
      { index: 1, startedAt: 1000 },
      { index: 4, startedAt: 2000 },
    ]);
    expect([...got]).toEqual([1]);
    // It waited for a report after the last one's start, then took every report since the first's.
    expect(e.waited).toEqual([
      [2000, OOM_EVENT_WAIT_MS],
      [1000, 0],
    ]);
  });

  it('a self-inflicted SIGKILL with no report is not an OOM kill; no killed step asks nothing', async () => {
    const e = timed([500]);
    expect([...(await oomKilledSteps(e, 'kx', [{ index: 0, startedAt: 1000 }]))]).toEqual([]);
    expect([...(await oomKilledSteps(e, 'kx', []))]).toEqual([]);
    expect([...(await oomKilledSteps(null, 'kx', [{ index: 0, startedAt: 0 }]))]).toEqual([]);
  });

  it('without report times, only a single killed step can be told', async () => {
    const e: OomEvents = { sawOom: async () => true, forget() {} };
    expect([...(await oomKilledSteps(e, 'kx', [{ index: 3, startedAt: 0 }]))]).toEqual([3]);
    expect([...(await oomKilledSteps(e, 'kx', [{ index: 0, startedAt: 0 }, { index: 3, startedAt: 1 }]))]).toEqual([]);
  });
});
