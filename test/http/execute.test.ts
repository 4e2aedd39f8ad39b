import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { captured } from '../fakes/fake-runner.js';
import { useTestApps } from '../helpers/test-apps.js';
import { RUNC_TARGET } from '../helpers/build-test-app.js';
import { execute, expectProblem } from '../helpers/problem.js';

const setup = useTestApps();

describe('POST /v1/execute: a program that ran', () => {
  it('answers 200 with the whole ExecuteResult and runs the spec the request describes', async () => {
    const t = await setup();
    t.runner.always({ stdout: '42\n', stderr: 'warn: é\n', timing: { setupMs: 7, runMs: 20 }, usage: { cpuUserMs: 11, cpuSysMs: 2.5, maxRssKb: 8100 } });
    const code = 'print(6*7)  # héllo ✓';

    const res = await execute(t.app, { language: 'python', code });

    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const r = res.json<ExecuteResult>();
    const L = t.config.limits;
    expect(r).toMatchObject({
      status: 'ok',
      exitCode: 0,
      signal: null,
      stdout: '42\n',
      stderr: 'warn: é\n',
      truncated: false,
      droppedBytes: { stdout: 0, stderr: 0 },
      language: 'python',
      backend: { kind: 'gvisor', ociRuntime: 'io.containerd.runc.v2', hypervisor: null, isolation: 'gvisor', profile: 'standard' },
      limits: {
        timeoutMs: L.timeoutMs.default,
        memoryMb: L.memoryMb.default,
        cpus: L.cpus.default,
        pids: L.pids.default,
        diskMb: L.diskMb.default,
        outputBytes: L.outputBytes.default,
        openFiles: L.openFiles.default,
      },
      limitsEnforced: { timeout: true, memory: true, cpu: true, pids: true, disk: true, output: true, openFiles: true, cpuTime: false, network: true, readOnlyRootfs: true, seccomp: true },
    });
    expect(r.id).toMatch(/^kx-[0-9a-f]{20}$/);
    // Cold: the container is the execution's own.
    expect(r.sandboxId).toBe(r.id);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.timing).toEqual({ queuedMs: expect.any(Number), setupMs: 7, runMs: 20 });
    expect(r.usage).toEqual({ cpuUserMs: 11, cpuSysMs: 2.5, maxRssKb: 8100 });
    expect(r.timing.queuedMs).toBeGreaterThanOrEqual(0);
    expect(r).not.toHaveProperty('value');
    expect(r).not.toHaveProperty('metadata');

    expect(t.runner.calls).toHaveLength(1);
    const spec = t.runner.lastSpec;
    expect(spec.id).toBe(r.id);
    expect(spec.runtime).toBe('gvisor');
    expect(spec.image).toBe(t.config.image);
    expect(spec.workingDir).toBe('/code');
    expect(spec.command).toEqual(['python3', '/code/main.py']);
    expect(spec.files).toHaveLength(1);
    expect(`${spec.workingDir}/${spec.files[0]!.path}`).toBe('/code/main.py');
    expect(spec.files[0]!.content.toString('utf8')).toBe(code);
    expect(spec.security).toEqual({ user: '65534:65534', readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'default', privileged: false });
    expect(spec.timeoutMs).toBe(L.timeoutMs.default);
    expect(spec.resources).toEqual({
      memoryBytes: L.memoryMb.default * 1024 * 1024,
      cpuMillis: L.cpus.default * 1000,
      pids: L.pids.default,
      tmpfsBytes: L.diskMb.default * 1024 * 1024,
      openFiles: L.openFiles.default,
      outputBytes: L.outputBytes.default,
    });
    expect(spec.labels).toMatchObject({
      'org.kata-exec.managed': 'true',
      'org.kata-exec.execution': r.id,
      'org.kata-exec.instance': 'test-instance',
      'org.kata-exec.language': 'python',
      'org.kata-exec.profile': 'standard',
    });
    // The client's abort signal reaches the runner, so a client that leaves kills its sandbox.
    expect(t.runner.calls[0]!.opts.signal).toBeInstanceOf(AbortSignal);
  });

  it('resolves language aliases, case-insensitively, to the language and its command', async () => {
    const t = await setup();
    const js = await execute(t.app, { language: 'JS', code: 'console.log(1)' });
    const sh = await execute(t.app, { language: 'sh', code: 'echo 1' });
    expect(js.json<ExecuteResult>().language).toBe('javascript');
    expect(sh.json<ExecuteResult>().language).toBe('bash');
    expect(t.runner.specs.map((s) => s.command)).toEqual([
      ['node', '/code/main.js'],
      ['bash', '/code/main.sh'],
    ]);
  });

  it('passes the requested limits and profile through, and echoes metadata', async () => {
    const t = await setup();
    const res = await execute(t.app, {
      language: 'python',
      code: 'pass',
      timeoutMs: 1500,
      profile: 'hardened',
      limits: { memoryMb: 64, cpus: 0.25, outputBytes: 4096 },
      metadata: { ticket: 'T-1', 'user.id': '7' },
    });
    expect(res.statusCode).toBe(200);
    const r = res.json<ExecuteResult>();
    // Asked values win; the others take the hardened profile's tighter defaults.
    expect(r.limits).toEqual({ timeoutMs: 1500, memoryMb: 64, cpus: 0.25, pids: 64, diskMb: 16, outputBytes: 4096, openFiles: 128 });
    expect(r.backend.profile).toBe('hardened');
    expect(r.metadata).toEqual({ ticket: 'T-1', 'user.id': '7' });
    const spec = t.runner.lastSpec;
    expect(spec.timeoutMs).toBe(1500);
    expect(spec.resources).toMatchObject({ memoryBytes: 64 * 1024 * 1024, cpuMillis: 250, pids: 64, outputBytes: 4096 });
    expect(spec.security).toMatchObject({ seccompProfile: 'strict', readOnlyRootfs: true, networkMode: 'none', user: '65534:65534' });
  });

  it('runs the dev profile as root over a writable root, still without network', async () => {
    const t = await setup();
    const res = await execute(t.app, { language: 'python', code: 'pass', profile: 'dev' });
    expect(res.statusCode).toBe(200);
    expect(t.runner.lastSpec.security).toMatchObject({ user: '0:0', readOnlyRootfs: false, networkMode: 'none', privileged: false });
    expect(res.json<ExecuteResult>().limitsEnforced).toMatchObject({ network: true, readOnlyRootfs: false });
  });

  it('reports which limits a Firecracker (image-launch) Kata target cannot enforce', async () => {
    const t = await setup({
      runtime: { kind: 'kata', ociRuntime: 'io.containerd.kata-fc.v2', runcBinary: null, hypervisor: 'firecracker', snapshotter: 'devmapper', launch: 'image' },
    });
    const r = (await execute(t.app, { language: 'python', code: 'pass' })).json<ExecuteResult>();
    expect(r.backend).toEqual({ kind: 'kata', ociRuntime: 'io.containerd.kata-fc.v2', hypervisor: 'firecracker', isolation: 'vm', profile: 'standard' });
    expect(r.limitsEnforced).toMatchObject({ timeout: true, memory: true, pids: false, disk: false, openFiles: false });
    expect(t.runner.lastSpec.hypervisor).toBe('firecracker');
  });

  it.each([
    { name: 'non-zero exit', init: { exitCode: 3, stderr: 'Traceback...\nValueError\n' }, status: 'error', exitCode: 3, signal: null },
    { name: 'timeout', init: { exitCode: null, timedOut: true }, status: 'timeout', exitCode: null, signal: 'SIGKILL' },
    { name: 'out of memory', init: { exitCode: 137, signal: 'SIGKILL', oomKilled: true }, status: 'oom', exitCode: 137, signal: 'SIGKILL' },
    { name: 'killed by a signal', init: { exitCode: 143, signal: 'SIGTERM' }, status: 'killed', exitCode: 143, signal: 'SIGTERM' },
    { name: 'output far past the cap', init: { exitCode: 137, signal: 'SIGKILL', outputLimitHit: true }, status: 'output_limit', exitCode: 137, signal: 'SIGKILL' },
    { name: 'sandbox lost the program', init: { exitCode: null }, status: 'sandbox_error', exitCode: null, signal: null },
    { name: 'sandbox ended at its pids cgroup', init: { exitCode: null, usage: null, pidsLimitHit: true }, status: 'killed', exitCode: null, signal: null },
  ] as const)('a program that failed ($name) is a 200 with status $status, never a 4xx/5xx', async ({ init, status, exitCode, signal }) => {
    const t = await setup();
    t.runner.next(init);
    const res = await execute(t.app, { language: 'python', code: 'raise ValueError()' });
    expect(res.statusCode).toBe(200);
    expect(res.json<ExecuteResult>()).toMatchObject({ status, exitCode, signal });
    expect(res.json<ExecuteResult>().killedBy).toBe('pidsLimitHit' in init ? 'pids_limit' : undefined);
  });

  it('keeps the stderr of a failed program', async () => {
    const t = await setup();
    t.runner.next({ exitCode: 1, stderr: 'Traceback (most recent call last):\nZeroDivisionError: division by zero\n' });
    const r = (await execute(t.app, { language: 'python', code: '1/0' })).json<ExecuteResult>();
    expect(r).toMatchObject({ status: 'error', exitCode: 1, stdout: '' });
    expect(r.stderr).toContain('ZeroDivisionError');
  });

  it('turns invalid UTF-8 into U+FFFD and still answers valid JSON', async () => {
    const t = await setup();
    t.runner.next({ stdout: Buffer.from([0x34, 0x32, 0xff, 0xfe, 0x0a]), stderr: Buffer.from([0xc3, 0x28]) });
    const res = await execute(t.app, { language: 'python', code: 'x' });
    expect(res.statusCode).toBe(200);
    // The raw bytes are UTF-8 that parses: no lone 0xFF reaches the client.
    expect(new TextDecoder('utf-8', { fatal: true }).decode(res.rawPayload)).toBe(res.body);
    const r = JSON.parse(res.body) as ExecuteResult;
    expect(r.stdout).toBe('42\uFFFD\uFFFD\n');
    expect(r.stderr).toBe('\uFFFD(');
  });

  it('parses the last valid __OUT__ line into value', async () => {
    const t = await setup();
    t.runner.next({ stdout: 'hello\n__OUT__:{"answer":1}\n__OUT__:{"answer":42,"list":[1,"x"]}\n__OUT__:not json\nbye\n' });
    const r = (await execute(t.app, { language: 'python', code: 'x' })).json<ExecuteResult>();
    expect(r.value).toEqual({ answer: 42, list: [1, 'x'] });
    expect(r.stdout).toContain('__OUT__:');
  });

  it('answers value null for __OUT__:null, and no value without a valid __OUT__ line', async () => {
    const t = await setup();
    t.runner.next({ stdout: '__OUT__:null\n' }, { stdout: '__OUT__:{oops\n' });
    const withNull = (await execute(t.app, { language: 'python', code: 'x' })).json<ExecuteResult>();
    const without = (await execute(t.app, { language: 'python', code: 'x' })).json<ExecuteResult>();
    expect(withNull).toHaveProperty('value', null);
    expect(without).not.toHaveProperty('value');
  });

  it('reports truncated output: the head and the tail around a marker, with the dropped count', async () => {
    const t = await setup();
    t.runner.next({ stdout: captured('HEADTAIL', 100), stderr: captured('ab', 0) });
    const res = await execute(t.app, { language: 'python', code: 'x', limits: { outputBytes: 8 } });
    expect(res.statusCode).toBe(200);
    const r = res.json<ExecuteResult>();
    expect(t.runner.lastSpec.resources.outputBytes).toBe(8);
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes).toEqual({ stdout: 100, stderr: 0 });
    expect(r.stdout).toBe('HEAD\n…[100 bytes dropped]…\nTAIL');
    expect(r.stderr).toBe('ab');
    expect(r.limits.outputBytes).toBe(8);
  });

  it('writes one audit line with the code hash, never the code itself', async () => {
    const t = await setup();
    const code = 'print("SECRET-TOKEN-123")';
    const r = (await execute(t.app, { language: 'python', code })).json<ExecuteResult>();
    const audits = t.logger.lines.filter((l) => typeof l.obj === 'object' && 'audit' in l.obj);
    expect(audits).toHaveLength(1);
    expect((audits[0]!.obj as { audit: unknown }).audit).toMatchObject({
      executionId: r.id,
      language: 'python',
      runtime: 'gvisor',
      status: 'ok',
      codeSha256: createHash('sha256').update(code).digest('hex'),
    });
    expect(JSON.stringify(t.logger.lines)).not.toContain('SECRET-TOKEN-123');
  });
});

describe('POST /v1/execute: refused requests', () => {
  it.each([
    { name: 'missing code', payload: { language: 'python' }, paths: ['/code'] },
    // The schema flags the language; `code or files` is checked once the body is well formed.
    { name: 'missing language and code', payload: {}, paths: ['/language'] },
    { name: 'wrong types', payload: { language: 7, code: ['print(1)'], timeoutMs: '1000' }, paths: ['/language', '/code', '/timeoutMs'] },
    { name: 'an unknown field', payload: { language: 'python', code: 'x', image: 'alpine' }, paths: ['/image'] },
    { name: 'an unknown limit', payload: { language: 'python', code: 'x', limits: { network: 'host' } }, paths: ['/limits/network'] },
    {
      name: 'negative limits',
      payload: { language: 'python', code: 'x', timeoutMs: -1, limits: { memoryMb: -5, pids: -1, cpus: -0.5 } },
      paths: ['/timeoutMs', '/limits/memoryMb', '/limits/pids', '/limits/cpus'],
    },
    { name: 'a zero cpu quota', payload: { language: 'python', code: 'x', limits: { cpus: 0 } }, paths: ['/limits/cpus'] },
    { name: 'a fractional integer', payload: { language: 'python', code: 'x', limits: { memoryMb: 64.5 } }, paths: ['/limits/memoryMb'] },
    { name: 'an unknown profile', payload: { language: 'python', code: 'x', profile: 'root' }, paths: ['/profile'] },
    { name: 'an empty language', payload: { language: '', code: 'x' }, paths: ['/language'] },
    { name: 'a body that is not an object', payload: ['python', 'x'], paths: ['/'] },
  ])('400 VALIDATION_FAILED for $name, listing the JSON pointers at fault', async ({ payload, paths }) => {
    const t = await setup();
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload });
    const p = expectProblem(res, 400, 'VALIDATION_FAILED');
    const got = (p.errors ?? []).map((e) => e.path);
    expect(new Set(got)).toEqual(new Set(paths));
    for (const e of p.errors ?? []) expect(e.message.length).toBeGreaterThan(0);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('400 UNKNOWN_LANGUAGE lists the known languages', async () => {
    const t = await setup();
    const p = expectProblem(await execute(t.app, { language: 'cobol', code: 'DISPLAY 1' }), 400, 'UNKNOWN_LANGUAGE');
    expect(p.known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
    expect(p.errors).toEqual([{ path: '/language', message: expect.any(String) }]);
    expect(p.detail).toContain('cobol');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('400 LIMIT_EXCEEDED names each field above the server maximum and the maximum', async () => {
    const t = await setup({ env: { KATA_EXEC_MEMORY_MB_MAX: '512', KATA_EXEC_TIMEOUT_MS_DEFAULT: '2000', KATA_EXEC_TIMEOUT_MS_MAX: '5000' } });
    const res = await execute(t.app, { language: 'python', code: 'x', timeoutMs: 5001, limits: { memoryMb: 513, pids: 10 } });
    const p = expectProblem(res, 400, 'LIMIT_EXCEEDED');
    expect(p.errors).toHaveLength(2);
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { path: '/timeoutMs', message: expect.stringContaining('5000') },
        { path: '/limits/memoryMb', message: expect.stringContaining('512') },
      ]),
    );
    expect(p.detail).toContain('/limits/memoryMb');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('accepts a limit exactly at the server maximum', async () => {
    const t = await setup({ env: { KATA_EXEC_MEMORY_MB_MAX: '512' } });
    const res = await execute(t.app, { language: 'python', code: 'x', limits: { memoryMb: 512 } });
    expect(res.statusCode).toBe(200);
    expect(res.json<ExecuteResult>().limits.memoryMb).toBe(512);
  });

  it('413 PAYLOAD_TOO_LARGE for a body over KATA_EXEC_BODY_LIMIT_BYTES; no sandbox is created', async () => {
    const t = await setup({ env: { KATA_EXEC_BODY_LIMIT_BYTES: '2048' } });
    const res = await execute(t.app, { language: 'python', code: `print("${'x'.repeat(4096)}")` });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(t.runner.calls).toHaveLength(0);
    // Just under the limit still runs.
    const ok = await execute(t.app, { language: 'python', code: 'x'.repeat(1800) });
    expect(ok.statusCode).toBe(200);
    expect(t.runner.calls).toHaveLength(1);
  });

  it.each(['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    '415 UNSUPPORTED_MEDIA_TYPE for %s',
    async (contentType) => {
      const t = await setup();
      const res = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { 'content-type': contentType }, payload: 'language=python&code=x' });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(t.runner.calls).toHaveLength(0);
    },
  );

  // Fastify's built-in text/plain parser is removed: a code-as-text body is a 415.
  it('415 UNSUPPORTED_MEDIA_TYPE for text/plain', async () => {
    const t = await setup();
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { 'content-type': 'text/plain' }, payload: 'print(1)' });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it.each([
    ['truncated JSON', '{"language":"python","code":'],
    ['a trailing comma', '{"language":"python","code":"x",}'],
    ['an empty body', ''],
  ])('400 for malformed JSON (%s)', async (_name, payload) => {
    const t = await setup();
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', headers: { 'content-type': 'application/json' }, payload });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('404 NOT_FOUND for an unknown route or method', async () => {
    const t = await setup();
    const p = expectProblem(await t.app.inject({ method: 'GET', url: '/v1/nothing?x=1' }), 404, 'NOT_FOUND');
    expect(p.detail).toContain('/v1/nothing');
    expect(p.detail).not.toContain('x=1');
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/execute' }), 404, 'NOT_FOUND');
  });

  it('422 PROFILE_NOT_SUPPORTED for hardened when the runtime is runc; standard still runs there', async () => {
    const t = await setup({ runtime: RUNC_TARGET });
    const p = expectProblem(await execute(t.app, { language: 'python', code: 'x', profile: 'hardened' }), 422, 'PROFILE_NOT_SUPPORTED');
    expect(p.detail).toContain('hardened');
    expect(t.runner.calls).toHaveLength(0);

    const ok = await execute(t.app, { language: 'python', code: 'x' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json<ExecuteResult>().backend).toMatchObject({ kind: 'runc', isolation: 'container', profile: 'standard' });
  });
});
