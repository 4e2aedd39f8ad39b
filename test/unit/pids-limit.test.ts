/**
 * A sandbox that its pids cgroup ended (src/sandbox/pids-limit.ts): the classification, the
 * watch over pids.events and the kernel's reports, where the pids hierarchy is
 * (src/host/cgroups.ts), and how the answer says it (judged-result.ts).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { judgeSteps } from '../../src/execution/judged-result.js';
import type { StepPlan } from '../../src/execution/plan.js';
import { pidsEventsPath, pidsEventsReader, pidsHierarchyOf } from '../../src/host/cgroups.js';
import { driverFor } from '../../src/runtimes/registry.js';
import { captured } from '../fakes/fake-runner.js';
import { endedAtPidsLimit, PIDS_SAMPLE_MS, PidsCgroupWatcher, type PidsEvidence } from '../../src/sandbox/pids-limit.js';
import type { SandboxResult, SandboxStep, StepResult } from '../../src/sandbox/types.js';

describe('endedAtPidsLimit: the host counted a refused fork, and nothing else explains the end', () => {
  const none: PidsEvidence = { refusedForks: 0, kernelReport: false };
  const counted: PidsEvidence = { refusedForks: 1, kernelReport: false };
  const reported: PidsEvidence = { refusedForks: 0, kernelReport: true };
  const ended = { started: true, endSeen: false, stoppedByUs: false };

  it.each<[string, Parameters<typeof endedAtPidsLimit>[0], boolean]>([
    ['pids.events counted a refusal', { ...ended, evidence: counted }, true],
    ['the kernel reported one (the cgroup was already gone)', { ...ended, evidence: reported }, true],
    ['both', { ...ended, evidence: { refusedForks: 7, kernelReport: true } }, true],
    ['no refusal: the sandbox failed otherwise (sandbox_error)', { ...ended, evidence: none }, false],
    ['never asked (no watch: no pids limit, or not gVisor)', { ...ended, evidence: null }, false],
    ['the launcher ended the program: its end is the answer', { ...ended, endSeen: true, evidence: counted }, false],
    ['a kill of ours (deadline, abort, output cap, a broken stream): a bomb held at the limit on runc', { ...ended, stoppedByUs: true, evidence: counted }, false],
    ['the program never started', { ...ended, started: false, evidence: counted }, false],
  ])('%s -> %s', (_name, o, want) => {
    expect(endedAtPidsLimit(o)).toBe(want);
  });
});

describe('where a pids cgroup that ends the sandbox is the program\'s limit', () => {
  it('gVisor only: a backstop above RLIMIT_NPROC that its Sentry cannot pass; runc refuses the fork, Kata\'s limit is the guest\'s', () => {
    expect({ runc: driverFor('runc').pidsBackstop, gvisor: driverFor('gvisor').pidsBackstop, kata: driverFor('kata').pidsBackstop }).toEqual({
      runc: false,
      gvisor: true,
      kata: false,
    });
    expect(driverFor('gvisor').pidLimits(64).pids).toBeGreaterThan(64);
  });
});

describe('PidsCgroupWatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A pids.events that the test sets, read through the watcher's reader; null: gone. */
  const cgroup = () => {
    const c = { text: 'max 0\n' as string | null, reads: [] as string[] };
    return { c, read: async (id: string) => (c.reads.push(id), c.text) };
  };

  it('reads the sandbox\'s pids.events while it runs, and keeps the count once the cgroup is gone', async () => {
    const { c, read } = cgroup();
    const w = new PidsCgroupWatcher(read).watch('kx-1');
    await vi.advanceTimersByTimeAsync(3 * PIDS_SAMPLE_MS);
    expect(c.reads.length).toBeGreaterThanOrEqual(3);
    c.text = 'max 2\n';
    await vi.advanceTimersByTimeAsync(PIDS_SAMPLE_MS);
    // Deleted with the sandbox: the last read finds nothing, and what was counted stays.
    c.text = null;
    await vi.advanceTimersByTimeAsync(PIDS_SAMPLE_MS);
    expect(await w.finish(1000)).toEqual({ refusedForks: 2, kernelReport: false });
    expect(new Set(c.reads)).toEqual(new Set(['kx-1']));
    // Stopped: no read more.
    const n = c.reads.length;
    await vi.advanceTimersByTimeAsync(10 * PIDS_SAMPLE_MS);
    expect(c.reads.length).toBe(n);
  });

  it('reads once more at the end: the cgroup may outlive the sandbox for a moment', async () => {
    const { c, read } = cgroup();
    const w = new PidsCgroupWatcher(read, 60_000).watch('kx-1');
    await vi.advanceTimersByTimeAsync(0);
    c.text = 'max 1\n';
    expect(await w.finish(0)).toEqual({ refusedForks: 1, kernelReport: false });
  });

  it("a session's call counts only the refusals past its baseline: its earlier calls' are not its own", async () => {
    const { c, read } = cgroup();
    const watcher = new PidsCgroupWatcher(read);
    c.text = 'max 5\n';
    expect(await watcher.refusedSoFar('kx-s')).toBe(5);
    const calm = watcher.watch('kx-s', 5);
    await vi.advanceTimersByTimeAsync(3 * PIDS_SAMPLE_MS);
    expect(await calm.finish(0)).toEqual({ refusedForks: 0, kernelReport: false });
    const bomb = watcher.watch('kx-s', 5);
    c.text = 'max 9\n';
    await vi.advanceTimersByTimeAsync(PIDS_SAMPLE_MS);
    c.text = null;
    expect(await bomb.finish(0)).toEqual({ refusedForks: 4, kernelReport: false });
    // Nothing to read (the cgroup is gone, or none): no refusal so far.
    expect(await watcher.refusedSoFar('kx-s')).toBe(0);
  });

  it("waits for the kernel's report when the samples saw nothing, and answers as soon as it comes", async () => {
    const { c, read } = cgroup();
    c.text = null;
    const watcher = new PidsCgroupWatcher(read);
    const w = watcher.watch('kx-1');
    const answer = w.finish(1000);
    await vi.advanceTimersByTimeAsync(200);
    watcher.noteKernelReport('kx-2');
    await vi.advanceTimersByTimeAsync(100);
    watcher.noteKernelReport('kx-1');
    await vi.advanceTimersByTimeAsync(0);
    expect(await answer).toEqual({ refusedForks: 0, kernelReport: true });
  });

  it('without a report, the wait ends at its bound: nothing counted', async () => {
    const { c, read } = cgroup();
    c.text = null;
    const w = new PidsCgroupWatcher(read).watch('kx-1');
    const answer = w.finish(1000);
    let settled = false;
    void answer.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answer).toEqual({ refusedForks: 0, kernelReport: false });
  });

  it("a kernel report from before the watch began is another sandbox's (a retry reuses the id); forget drops it", async () => {
    const { read } = cgroup();
    const watcher = new PidsCgroupWatcher(read);
    watcher.noteKernelReport('kx-1');
    await vi.advanceTimersByTimeAsync(10);
    expect(await watcher.watch('kx-1').finish(0)).toEqual({ refusedForks: 0, kernelReport: false });
    const w = watcher.watch('kx-1');
    watcher.noteKernelReport('kx-1');
    watcher.forget('kx-1');
    expect(await w.finish(0)).toEqual({ refusedForks: 0, kernelReport: false });
  });

  it("a sandbox's teardown (forget) stops its watch, whatever happened to the run", async () => {
    const { c, read } = cgroup();
    const watcher = new PidsCgroupWatcher(read);
    watcher.watch('kx-1');
    await vi.advanceTimersByTimeAsync(2 * PIDS_SAMPLE_MS);
    watcher.forget('kx-1');
    const n = c.reads.length;
    await vi.advanceTimersByTimeAsync(10 * PIDS_SAMPLE_MS);
    expect(c.reads.length).toBe(n);
  });

  it('ignores what is not a pids.events text, and a reader that fails', async () => {
    const watcher = new PidsCgroupWatcher(async (id) => {
      if (id === 'bad') throw new Error('EIO');
      return 'max x\n';
    });
    expect(await watcher.watch('odd').finish(0)).toEqual({ refusedForks: 0, kernelReport: false });
    expect(await watcher.watch('bad').finish(0)).toEqual({ refusedForks: 0, kernelReport: false });
  });
});

describe('pidsHierarchyOf: where the pids controller is mounted', () => {
  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');

  it('cgroup v1 (a hybrid host): the pids mount, not the unified one', () => {
    expect(pidsHierarchyOf(hybrid)).toEqual({ root: '/sys/fs/cgroup/pids', version: 1 });
  });

  it('cgroup v2: the cgroup2 mount', () => {
    expect(pidsHierarchyOf('30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot')).toEqual({
      root: '/sys/fs/cgroup',
      version: 2,
    });
  });

  it('a v1 mount of several controllers, a path with a space (\\040), optional fields', () => {
    expect(pidsHierarchyOf('39 31 0:36 / /sys/fs/my\\040cgroup rw shared:9 master:2 - cgroup cgroup rw,pids,devices')).toEqual({ root: '/sys/fs/my cgroup', version: 1 });
  });

  it("none, or only a subtree's mount (a cgroup namespace): null", () => {
    expect(pidsHierarchyOf('')).toBeNull();
    expect(pidsHierarchyOf('35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory')).toBeNull();
    expect(pidsHierarchyOf('39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids')).toBeNull();
  });

  it("a sandbox's pids.events is its cgroupsPath under the hierarchy; none to read without one", async () => {
    expect(pidsEventsPath({ root: '/sys/fs/cgroup/pids', version: 1 }, 'kata-exec', 'kx-1')).toBe('/sys/fs/cgroup/pids/kata-exec/kx-1/pids.events');
    expect(await pidsEventsReader(null, 'kata-exec')('kx-1')).toBeNull();
    expect(await pidsEventsReader({ root: '/nonexistent', version: 2 }, 'kata-exec')('kx-1')).toBeNull();
  });
});

describe('the answer of a sandbox its pids cgroup ended, with steps (judgeSteps)', () => {
  const step = (required: boolean): SandboxStep => ({ command: ['x'], stdin: null, wallMs: 1000, cpuMs: null, memoryKb: null, outputBytes: 1024, required });
  const ok: StepResult = { exitCode: 0, signal: null, stdout: captured(''), stderr: captured(''), limit: null, wallMs: 5, usage: { cpuUserMs: 1, cpuSysMs: 1, maxRssKb: 100 } };
  const unfinished: StepResult = { ...ok, exitCode: null, usage: { cpuUserMs: 0, cpuSysMs: 0, maxRssKb: 0 } };
  const result = (steps: StepResult[], pidsLimitHit: boolean): SandboxResult => ({
    exitCode: null,
    signal: null,
    stdout: captured(''),
    stderr: captured(''),
    timedOut: false,
    oomKilled: false,
    outputLimitHit: false,
    ...(pidsLimitHit ? { pidsLimitHit } : {}),
    usage: null,
    timing: { setupMs: 1, runMs: 1 },
    steps,
  });
  const plan = (tests: number): StepPlan => ({
    steps: [step(true), ...Array.from({ length: Math.max(1, tests) }, () => step(false))],
    compile: { timeoutMs: 1000, memoryMb: 256, outputBytes: 1024 },
    tests: tests ? Array.from({ length: tests }, () => ({ expectedOutput: undefined, timeoutMs: 1000, cpuTimeMs: null, memoryMb: 256 })) : null,
    compare: { mode: 'trailing_whitespace' },
    memoryMb: 256,
    timeoutMs: 5000,
    cpuTimeMs: null,
  });

  it('the run it ended is killed; without the host count it stays a sandbox_error', () => {
    expect(judgeSteps(plan(0), result([ok, unfinished], true), 1024).status).toBe('killed');
    expect(judgeSteps(plan(0), result([ok, unfinished], false), 1024).status).toBe('sandbox_error');
  });

  it('a test it ended is a runtime_error, and the tests after it did not run', () => {
    const j = judgeSteps(plan(3), result([ok, ok, unfinished], true), 1024);
    expect(j.status).toBe('killed');
    expect(j.tests?.map((t) => t.verdict)).toEqual(['accepted', 'runtime_error']);
    expect(j.verdict).toBe('runtime_error');
    expect(j.summary).toEqual({ passed: 1, total: 3 });
  });

  it('a compile it ended failed (compile error, status error): nothing ran', () => {
    const j = judgeSteps(plan(2), result([unfinished], true), 1024);
    expect(j.status).toBe('compile_error');
    expect(j.compile?.status).toBe('error');
    expect(j.verdict).toBe('compile_error');
  });
});
