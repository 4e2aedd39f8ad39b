// CtrClient over a fake exec: how ctr's failures are classified, what is tolerated, and the
// bounded teardown policy of removeContainer.
import { describe, expect, it } from 'vitest';
import { CtrClient, TEARDOWN_POLICY, type CommandRunner } from '../../src/ctr/client.js';
import type { CommandResult } from '../../src/ctr/exec.js';
import { CtrError } from '../../src/errors.js';

const T = { address: '/run/c.sock', namespace: 'kx' };
const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', spawnError: null, timedOut: false });
const fail = (stderr: string): CommandResult => ({ exitCode: 1, stdout: '', stderr, spawnError: null, timedOut: false });

/** A scripted exec: each call's argv (without the global flags) is recorded, and answered by `answer`. */
function fakeExec(answer: (args: string[], n: number) => CommandResult) {
  const calls: { args: string[]; timeoutMs: number | undefined }[] = [];
  const exec: CommandRunner = async (_file, args, opts) => {
    const rest = args.slice(6);
    calls.push({ args: rest, timeoutMs: opts.timeoutMs });
    return answer(rest, calls.length);
  };
  return { exec, calls, verbs: () => calls.map((c) => c.args.slice(0, 2).join(' ')) };
}

const fast = { ...TEARDOWN_POLICY, delayMs: 0 };

describe('CtrClient: failures', () => {
  it('classifies ctr\'s own error line: containerd away, not found, already exists', async () => {
    const cases: [string, string][] = [
      ['ctr: failed to dial "/run/c.sock": context deadline exceeded\n', 'daemon_unavailable'],
      ['ctr: container "x" in namespace "kx": not found\n', 'not_found'],
      ['ctr: snapshot "x": already exists\n', 'already_exists'],
      ['some noise\nctr: something else broke\n', 'other'],
    ];
    for (const [stderr, kind] of cases) {
      const c = new CtrClient('ctr', T, fakeExec(() => fail(stderr)).exec);
      const err = await c.listContainers().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CtrError);
      expect((err as CtrError).kind).toBe(kind);
      expect((err as CtrError).message).toContain(stderr.trim().split('\n').pop());
    }
  });

  it('a ctr that cannot start is "other"; one that timed out is containerd away', async () => {
    const spawn = new CtrClient('ctr', T, async () => ({ exitCode: null, stdout: '', stderr: '', spawnError: 'ENOENT', timedOut: false }));
    expect(await spawn.listContainers().catch((e: CtrError) => e.kind)).toBe('other');
    const slow = new CtrClient('ctr', T, async () => ({ exitCode: null, stdout: '', stderr: '', spawnError: null, timedOut: true }));
    expect(await slow.listContainers().catch((e: CtrError) => e.kind)).toBe('daemon_unavailable');
  });

  it('version: the server version, or containerd away when there is none', async () => {
    const up = new CtrClient('ctr', T, async () => ok('Client:\n  Version:  1.6.20\n\nServer:\n  Version:  1.6.21\n'));
    expect(await up.version()).toBe('1.6.21');
    const down = new CtrClient('ctr', T, async () => ok('Client:\n  Version:  1.6.20\n'));
    expect(await down.version().catch((e: CtrError) => e.kind)).toBe('daemon_unavailable');
  });

  it('killTask tolerates a task that is gone or a sandbox that already stopped, not containerd away', async () => {
    for (const stderr of ['ctr: task x not found\n', 'ctr: sandbox is not running\n', 'ctr: process already finished\n']) {
      await expect(new CtrClient('ctr', T, async () => fail(stderr)).killTask('x')).resolves.toBeUndefined();
    }
    await expect(new CtrClient('ctr', T, async () => fail('ctr: failed to dial "/s": connection refused\n')).killTask('x')).rejects.toBeInstanceOf(CtrError);
  });
});

describe('CtrClient.removeContainer: one bounded policy', () => {
  it('a stopped task: one plain task delete, then the container', async () => {
    const f = fakeExec(() => ok());
    await new CtrClient('ctr', T, f.exec).removeContainer('x', fast);
    expect(f.verbs()).toEqual(['tasks delete', 'containers delete']);
    expect(f.calls.every((c) => c.timeoutMs === TEARDOWN_POLICY.commandTimeoutMs)).toBe(true);
  });

  it('nothing left: "not found" at each step is not an error', async () => {
    const f = fakeExec(() => fail('ctr: container "x" in namespace "kx": not found\n'));
    await new CtrClient('ctr', T, f.exec).removeContainer('x', fast);
    expect(f.verbs()).toEqual(['tasks delete', 'containers delete']);
  });

  it('a running task: killed once, retried up to the attempts, then force-deleted', async () => {
    const f = fakeExec((args) => (args[0] === 'tasks' && args[1] === 'delete' && !args.includes('--force') ? fail('ctr: task must be stopped before deletion: running\n') : ok()));
    await new CtrClient('ctr', T, f.exec).removeContainer('x', { ...fast, attempts: 3 });
    expect(f.verbs()).toEqual(['tasks delete', 'tasks kill', 'tasks delete', 'tasks delete', 'tasks delete', 'containers delete']);
    expect(f.calls[4]!.args).toContain('--force');
  });

  it('containerd away stops at once, for the caller to sweep later', async () => {
    const f = fakeExec(() => fail('ctr: failed to dial "/run/c.sock": connection refused\n'));
    const err = await new CtrClient('ctr', T, f.exec).removeContainer('x', fast).catch((e: unknown) => e);
    expect((err as CtrError).kind).toBe('daemon_unavailable');
    expect(f.calls).toHaveLength(1);
  });

  it('no plain attempt once the total time is spent: straight to the forced delete', async () => {
    const f = fakeExec((args) => (args.includes('--force') || args[0] === 'containers' ? ok() : fail('ctr: running\n')));
    await new CtrClient('ctr', T, f.exec).removeContainer('x', { ...fast, totalMs: 0 });
    expect(f.verbs()).toEqual(['tasks delete', 'containers delete']);
    expect(f.calls[0]!.args).toContain('--force');
  });
});
