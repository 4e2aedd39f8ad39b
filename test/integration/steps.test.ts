/**
 * Steps (issue 14): several programs in one sandbox, each a fresh process with limits of its
 * own, enforced by the launcher; on every test runtime, through the real runner (cold) and
 * the warm pool. Every assertion is on the verdict fields (limit, exit, signal, usage),
 * never on elapsed time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../../src/execution/executor.js';
import type { RunOptions, SandboxResult, SandboxSpec, SandboxStep } from '../../src/sandbox/types.js';
import { NO_LEAKS, type RealService, settledLeaks, startRealService, testRuntimes, useService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** A step with room: its limits are the ones a case sets. */
function step(command: string[], over: Partial<SandboxStep> = {}): SandboxStep {
  return { command, stdin: null, wallMs: 60_000, cpuMs: null, memoryKb: null, outputBytes: 64 * 1024, required: false, ...over };
}

const sh = (script: string, over: Partial<SandboxStep> = {}) => step(['/bin/sh', '-c', script], over);
const py = (code: string, over: Partial<SandboxStep> = {}) => step(['python3', '-c', code], over);
const out = (r: SandboxResult, i: number) => r.steps![i]!.stdout.data.toString();

/** A CPU hog on the host beside the sandbox, one per core: the host is loaded while the limits are judged. */
function hogHost(): () => void {
  const hogs: ChildProcess[] = [0, 1].map(() => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  return () => hogs.forEach((h) => h.kill('SIGKILL'));
}

/** The spec of a real request (the standard profile's limits), its steps in place of its program. */
function specOf(svc: RealService, steps: SandboxStep[], over: { memoryMb?: number; timeoutMs?: number } = {}): SandboxSpec {
  const executor = new Executor({ config: svc.config, runtime: svc.backend.runtime, runner: svc.backend.runner, instanceId: 'steps-test' });
  const { spec } = executor.prepare({ language: 'bash', code: '', ...(over.memoryMb ? { limits: { memoryMb: over.memoryMb } } : {}) });
  // The whole sandbox's deadline: room for every step of a case, past a request's maximum.
  return { ...spec, command: [], steps, timeoutMs: over.timeoutMs ?? 120_000 };
}

describe.each(testRuntimes())('steps on %s', (runtime) => {
  const svc = useService(runtime);
  const run = (steps: SandboxStep[], over: Parameters<typeof specOf>[2] = {}, opts: RunOptions = {}) => svc().backend.runner.run(specOf(svc(), steps, over), opts);

  it('three steps with their own stdin give their own stdout, streamed with their index; the environment is each its own', async () => {
    const chunks: [string, string, number | undefined][] = [];
    const r = await run(
      [0, 1, 2].map((i) => sh('read x; echo "got $x from $STEP"', { stdin: Buffer.from(`input-${i}\n`), env: [`STEP=step${i}`] })),
      {},
      { onOutput: (s, c, i) => chunks.push([s, c.toString(), i]) },
    );
    expect(r.steps!.map((s) => [s.exitCode, s.limit, s.stdout.data.toString()])).toEqual([
      [0, null, 'got input-0 from step0\n'],
      [0, null, 'got input-1 from step1\n'],
      [0, null, 'got input-2 from step2\n'],
    ]);
    expect(chunks.filter(([s]) => s === 'stdout').map(([, c, i]) => `${i}:${c}`).join('')).toBe('0:got input-0 from step0\n1:got input-1 from step1\n2:got input-2 from step2\n');
    // The top level is the last step's.
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, oomKilled: false });
    expect(r.stdout.data.toString()).toBe('got input-2 from step2\n');
  });

  it('a required step that fails ends the run: the later steps never start', async () => {
    const r = await run([sh('echo compiling; echo "main.c:1: error" >&2; exit 1', { required: true }), sh('echo ran > /tmp/ran; echo ran'), sh('echo ran too')]);
    expect(r.steps).toHaveLength(1);
    expect(r.steps![0]).toMatchObject({ exitCode: 1, signal: null, limit: null });
    expect(r.steps![0]!.stderr.data.toString()).toBe('main.c:1: error\n');
    expect(r.exitCode).toBe(1);
    // A required step that succeeds lets the next run; a step that is not required does not stop the run.
    const ok = await run([sh('exit 0', { required: true }), sh('exit 5'), sh('echo after')]);
    expect(ok.steps!.map((s) => s.exitCode)).toEqual([0, 5, 0]);
    expect(out(ok, 2)).toBe('after\n');
  });

  it('on a loaded host, a spinning step ends on its CPU time while a sleeping one with the same CPU limit does not', async () => {
    const stop = hogHost();
    try {
      const r = await run([
        py('while True: pass', { cpuMs: 500, wallMs: 60_000 }),
        sh('sleep 3; echo slept', { cpuMs: 500, wallMs: 60_000 }),
        py('while True: pass', { cpuMs: 300, wallMs: 60_000 }),
      ]);
      expect(r.steps!.map((s) => [s.limit, s.signal])).toEqual([
        ['cpu', 'SIGKILL'],
        [null, null],
        ['cpu', 'SIGKILL'],
      ]);
      const spun = r.steps![0]!.usage;
      expect(spun.cpuUserMs + spun.cpuSysMs).toBeGreaterThanOrEqual(500);
      expect(r.steps![1]).toMatchObject({ exitCode: 0 });
      expect(out(r, 1)).toBe('slept\n');
      expect(r.steps![1]!.usage.cpuUserMs + r.steps![1]!.usage.cpuSysMs).toBeLessThan(500);
    } finally {
      stop();
    }
  });

  it('a step past its wall-clock limit is killed; the next one runs', async () => {
    const r = await run([sh('echo started; sleep 60', { wallMs: 1000 }), sh('echo next')]);
    expect(r.steps![0]).toMatchObject({ limit: 'wall', signal: 'SIGKILL', exitCode: 137 });
    expect(out(r, 0)).toBe('started\n');
    expect(r.steps![1]).toMatchObject({ limit: null, exitCode: 0 });
    expect(out(r, 1)).toBe('next\n');
  });

  it('a step over its peak-RSS limit is killed (memory), one that exhausts the sandbox is the OOM killer\'s (oom); the next still runs after each', async () => {
    const r = await run(
      [
        py('import time\nb = b"x" * (200 * 1024 * 1024)\ntime.sleep(30)', { memoryKb: 64 * 1024 }),
        sh('echo after-memory'),
        py('b = [b"x" * (16 * 1024 * 1024) for _ in range(64)]\nprint("never")'),
        sh('echo after-oom'),
      ],
      { memoryMb: 128 },
    );
    const steps = r.steps!.map((s) => [s.limit, s.signal, s.stdout.data.toString()]);
    const ranOn = [
      ['memory', 'SIGKILL', ''],
      [null, null, 'after-memory\n'],
      ['oom', 'SIGKILL', ''],
      [null, null, 'after-oom\n'],
    ];
    // Under gVisor the host's OOM killer may end the whole Sentry (the launcher with it) before
    // the launcher's memory guard ends the step alone: 3 of 8 runs on an idle host. Then the
    // step is still the OOM killer's, its end unknown, the sandbox oomKilled, and nothing runs
    // after it. runc's OOM killer ends only the step's program, always.
    const sandboxEnded = r.oomKilled && runtime === 'gvisor';
    expect(steps, JSON.stringify({ oomKilled: r.oomKilled, exitCode: r.exitCode })).toEqual(sandboxEnded ? [...ranOn.slice(0, 2), ['oom', null, '']] : ranOn);
    expect(r).toMatchObject(sandboxEnded ? { exitCode: null, oomKilled: true } : { exitCode: 0, oomKilled: false });
    expect(r.steps![0]!.usage.maxRssKb).toBeGreaterThan(64 * 1024);
  });

  it("a SIGKILL a step sent itself is not the OOM killer's; the next still runs", async () => {
    const r = await run([sh('kill -9 $$'), sh('echo after-self-kill')], { memoryMb: 128 });
    expect(r.steps!.map((s) => [s.limit, s.signal, s.stdout.data.toString()])).toEqual([
      [null, 'SIGKILL', ''],
      [null, null, 'after-self-kill\n'],
    ]);
    expect(r).toMatchObject({ exitCode: 0, oomKilled: false });
  });

  it('a step far past its output cap is killed (output), its head and tail kept; the next runs', async () => {
    const r = await run([sh('echo first; yes', { outputBytes: 1000 }), sh('echo next', { outputBytes: 1000 })]);
    const s = r.steps![0]!;
    expect(s).toMatchObject({ limit: 'output', signal: 'SIGKILL' });
    expect(s.stdout.totalBytes).toBeGreaterThan(4 * 1000 + MiB);
    expect(s.stdout.data.length).toBe(1000);
    expect(s.stdout.data.subarray(0, 6).toString()).toBe('first\n');
    expect(r.steps![1]).toMatchObject({ limit: null, exitCode: 0 });
    expect(out(r, 1)).toBe('next\n');
    expect(r.outputLimitHit).toBe(false);
  });

  it("reports each step's own usage: CPU where it computed, its own peak RSS, not another step's input", async () => {
    const big = Buffer.alloc(32 * MiB, 'a');
    const r = await run([
      py('import sys\nprint(len(sys.stdin.buffer.read()))', { stdin: big }),
      py('b = b"x" * (48 * 1024 * 1024)\nprint(sum(range(3_000_000)) > 0)'),
      sh('true'),
    ]);
    expect(out(r, 0)).toBe(`${32 * MiB}\n`);
    expect(out(r, 1)).toBe('True\n');
    const [a, b, c] = r.steps!.map((s) => s.usage);
    expect(a!.cpuUserMs + a!.cpuSysMs).toBeGreaterThan(0);
    expect(b!.cpuUserMs + b!.cpuSysMs).toBeGreaterThan(0);
    expect(b!.maxRssKb).toBeGreaterThan(48 * 1024);
    // `true` after a step that read 32 MiB and one that held 48 MiB: its peak is its own.
    expect(c!.maxRssKb).toBeGreaterThan(0);
    expect(c!.maxRssKb).toBeLessThan(16 * 1024);
    expect(r.steps!.every((s) => s.wallMs > 0)).toBe(true);
  });

  it('the sandbox deadline still bounds the whole run: the step it was in has no end', async () => {
    const r = await run([sh('echo one'), sh('sleep 60')], { timeoutMs: 3000 });
    expect(r.timedOut).toBe(true);
    expect(r.steps).toHaveLength(2);
    expect(r.steps![0]).toMatchObject({ exitCode: 0 });
    expect(r.steps![1]).toMatchObject({ exitCode: null, limit: null });
  });
});

describe.each(testRuntimes())('steps through the warm pool on %s', (runtime) => {
  let svc: RealService;
  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_POOL_SIZE: '1', KATA_EXEC_POOL_PROFILES: 'standard' });
    await waitFor('the pool to fill', () => svc.pool.readyCount === 1);
  });
  afterAll(async () => {
    await svc.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  it('runs the steps in a pooled sandbox, each with its limits', async () => {
    const spec = specOf(svc, [sh('read x; echo "got $x"', { stdin: Buffer.from('warm\n'), required: true }), sh('sleep 60', { wallMs: 800 }), py('while True: pass', { cpuMs: 300 }), sh('echo last')]);
    const r = await svc.pool.tryRun(spec, {});
    expect(r, 'served by the pool').not.toBeNull();
    const res = await r!;
    expect(res.sandboxId).not.toBe(spec.id);
    expect(res.steps!.map((s) => [s.limit, s.exitCode, s.stdout.data.toString()])).toEqual([
      [null, 0, 'got warm\n'],
      ['wall', 137, ''],
      ['cpu', 137, ''],
      [null, 0, 'last\n'],
    ]);
  });
});
