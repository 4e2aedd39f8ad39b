/**
 * Hostile requests: bodies over the limit (sized or streamed), JSON built to hurt the
 * parser, limits above the maximum, a client that goes away mid-run, and the hardened
 * profile where it can and cannot run. Refused requests never create a sandbox.
 */
import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { NO_LEAKS, containerIds, execute, post, runningTaskIds, settledLeaks, testRuntimes, type RealService } from '../helpers/real-service.js';
import type { RuntimeKind } from '../../src/schemas/common.js';
import { waitFor } from '../helpers/wait.js';
import { hostProcesses, hostile, useService } from './hostile-case.js';

/** Counts the sandboxes the runner is asked for (the runner is this test's own instance). */
function countRuns(svc: RealService): { readonly count: number; restore(): void } {
  const runner = svc.backend.runner;
  const original = runner.run;
  const counter = {
    count: 0,
    restore: () => {
      runner.run = original;
    },
  };
  runner.run = (...args: Parameters<typeof runner.run>) => {
    counter.count++;
    return original.apply(runner, args);
  };
  return counter;
}

async function executionsRecorded(svc: RealService): Promise<number> {
  const m = await svc.metrics.executions.get();
  return m.values.reduce((n, v) => n + v.value, 0);
}

/** Sends a request and checks that nothing ran for it: no runner call, no container, no execution metric. */
async function refusedWithoutSandbox(svc: RealService, send: () => Promise<{ status: number; json: any }>): Promise<{ status: number; json: any }> {
  const runs = countRuns(svc);
  const containersBefore = containerIds();
  const executionsBefore = await executionsRecorded(svc);
  let res: { status: number; json: any };
  try {
    res = await send();
  } finally {
    runs.restore();
  }
  expect(runs.count, 'sandboxes asked of the runner').toBe(0);
  expect(containerIds()).toEqual(containersBefore);
  expect(await executionsRecorded(svc)).toBe(executionsBefore);
  return res;
}

async function rawPost(svc: RealService, body: string | Readable): Promise<{ status: number; json: any }> {
  const res = await request(`${svc.url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) };
}

describe.each(testRuntimes())('hostile requests on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_BODY_LIMIT_BYTES: '65536' });

  it('refuses 100 KB of code over a 64 KiB body limit with 413, creating no sandbox', async () => {
    const res = await hostile(svc(), () =>
      refusedWithoutSandbox(svc(), () => post(svc(), { language: 'python', code: `# ${'x'.repeat(100_000)}\nprint(1)` })),
    );
    expect(res.status).toBe(413);
    expect(res.json.code).toBe('PAYLOAD_TOO_LARGE');
  }, 120_000);

  it('refuses an oversized body sent in chunks, without a content-length', async () => {
    const body = JSON.stringify({ language: 'python', code: `# ${'x'.repeat(200_000)}\nprint(1)` });
    const chunks = function* () {
      for (let i = 0; i < body.length; i += 8192) yield Buffer.from(body.slice(i, i + 8192));
    };
    const res = await hostile(svc(), () => refusedWithoutSandbox(svc(), () => rawPost(svc(), Readable.from(chunks()))));
    expect(res.status).toBe(413);
    expect(res.json.code).toBe('PAYLOAD_TOO_LARGE');
  }, 120_000);

  it('answers 400 to JSON nested 30000 deep, without crashing', async () => {
    const depth = 30_000;
    const body = `{"language":"python","code":"print(1)","metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(body.length).toBeLessThan(65536);
    const res = await hostile(svc(), () => refusedWithoutSandbox(svc(), () => rawPost(svc(), body)));
    expect(res.status).toBe(400);
    expect(res.json.code).toBe('VALIDATION_FAILED');
  }, 120_000);

  it('answers 400 LIMIT_EXCEEDED to limits above the server maximum, creating no sandbox', async () => {
    const res = await hostile(svc(), () =>
      refusedWithoutSandbox(svc(), () =>
        post(svc(), { language: 'python', code: 'print(1)', timeoutMs: 10_000_000, limits: { memoryMb: 1_000_000, pids: 1_000_000, diskMb: 1_000_000 } }),
      ),
    );
    expect(res.status).toBe(400);
    expect(res.json.code).toBe('LIMIT_EXCEEDED');
    expect((res.json.errors as { path: string }[]).map((e) => e.path).sort()).toEqual(['/limits/diskMb', '/limits/memoryMb', '/limits/pids', '/timeoutMs']);
  }, 120_000);

  it('kills the sandbox when the client goes away mid-run', async () => {
    const linger = 'sleep 313';
    await hostile(svc(), async () => {
      const ac = new AbortController();
      const pending = request(`${svc().url}/v1/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ language: 'bash', code: `echo started\n${linger}`, timeoutMs: 60_000 }),
        signal: ac.signal,
      }).catch((err: unknown) => err);
      // Wait until the program runs (its task is RUNNING), then hang up.
      const id = await waitFor('the sandbox', () => containerIds()[0], 10_000);
      await waitFor('the program to run', () => runningTaskIds().includes(id), 30_000);
      ac.abort();
      expect(await pending).toBeInstanceOf(Error);
      // Well before the 60 s timeout, everything is gone.
      const t0 = Date.now();
      let leaks = await settledLeaks(svc().runDir);
      while (JSON.stringify(leaks) !== JSON.stringify(NO_LEAKS) && Date.now() - t0 < 15_000) leaks = await settledLeaks(svc().runDir);
      expect(leaks).toEqual(NO_LEAKS);
      expect(hostProcesses().filter((a) => a.includes(linger))).toEqual([]);
    });
  }, 120_000);
});

/**
 * The hardened profile on each runtime under test: it runs where a VM or gVisor is the
 * boundary (kata, gvisor), and is refused on runc. One table, no skip.
 */
const HARDENED: Record<RuntimeKind, { expect: string; check: (svc: RealService, runtime: string) => Promise<void> }> = {
  kata: { expect: 'runs an ordinary program under the hardened defaults', check: runsHardened },
  gvisor: { expect: 'runs an ordinary program under the hardened defaults', check: runsHardened },
  runc: { expect: 'is refused with 422 PROFILE_NOT_SUPPORTED, creating no sandbox', check: refusesHardened },
};

async function runsHardened(svc: RealService, runtime: string): Promise<void> {
  const r = await hostile(svc, () => execute(svc, { language: 'python', code: 'import os\nprint(6*7, os.getuid())', profile: 'hardened' }));
  expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42 65534\n' });
  expect(r.backend).toMatchObject({ kind: runtime, profile: 'hardened' });
  expect(r.limits).toMatchObject({ memoryMb: 128, cpus: 0.5, pids: 64, diskMb: 16, openFiles: 128 });
  expect(r.limitsEnforced.readOnlyRootfs).toBe(true);
}

async function refusesHardened(svc: RealService): Promise<void> {
  const res = await hostile(svc, () => refusedWithoutSandbox(svc, () => post(svc, { language: 'python', code: 'print(6*7)', profile: 'hardened' })));
  expect(res.status).toBe(422);
  expect(res.json.code).toBe('PROFILE_NOT_SUPPORTED');
}

describe.each(testRuntimes())('the hardened profile on %s', (runtime) => {
  const svc = useService(runtime);
  const { expect: what, check } = HARDENED[runtime as RuntimeKind];

  it(what, () => check(svc(), runtime), 120_000);
});

/**
 * The dev profile (root inside, writable root) on each runtime under test: it runs where a
 * VM or gVisor is the boundary, and is refused on runc, where root inside would be the
 * host's root (no user namespace). One table, no skip.
 */
const DEV: Record<RuntimeKind, { expect: string; check: (svc: RealService) => Promise<void> }> = {
  kata: { expect: 'runs as root inside, over a writable root', check: runsDev },
  gvisor: { expect: 'runs as root inside, over a writable root', check: runsDev },
  runc: { expect: "is refused with 422 PROFILE_NOT_SUPPORTED: root inside would be the host's root", check: refusesDev },
};

async function runsDev(svc: RealService): Promise<void> {
  const r = await hostile(svc, () => execute(svc, { language: 'bash', code: 'id -u; echo x > /written && cat /written', profile: 'dev' }));
  expect(r).toMatchObject({ status: 'ok', stdout: '0\nx\n' });
}

async function refusesDev(svc: RealService): Promise<void> {
  const res = await hostile(svc, () => refusedWithoutSandbox(svc, () => post(svc, { language: 'bash', code: 'id -u', profile: 'dev' })));
  expect(res.status).toBe(422);
  expect(res.json.code).toBe('PROFILE_NOT_SUPPORTED');
  expect(res.json.detail).toContain("host's root");
}

describe.each(testRuntimes())('the dev profile on %s', (runtime) => {
  const svc = useService(runtime);
  const { expect: what, check } = DEV[runtime as RuntimeKind];

  it(what, () => check(svc()), 120_000);
});
