/** GET /v1/runtimes (over the fake catalog) and the audit log line of each execution. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RuntimesInfo } from '../../src/schemas/runtimes.js';
import { useTestApps } from '../helpers/test-apps.js';
import { sampleRuntimes, type TestApp } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { loadConfig } from '../../src/config.js';
import { VmExecutionFailedError } from '../../src/errors.js';
import { FakeCatalog } from '../fakes/fake-catalog.js';

const setup = useTestApps();

describe('GET /v1/runtimes', () => {
  it('answers the catalog: languages with versions, runtimes with isolation, limits, profiles', async () => {
    const t = await setup();
    const res = await t.app.inject({ method: 'GET', url: '/v1/runtimes' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json<RuntimesInfo>();
    expect(body).toEqual(sampleRuntimes(t.config));

    expect(body.languages.map((l) => l.name)).toEqual(['python', 'javascript', 'bash', 'c']);
    for (const l of body.languages) {
      expect(Object.keys(l).sort()).toEqual(['aliases', 'available', 'compile', 'entryFile', 'image', 'name', 'run', 'version']);
    }
    // A compiled language's compile command and env, an interpreted one's null, survive the schema.
    expect(body.languages.find((l) => l.name === 'c')).toMatchObject({ compile: { command: expect.arrayContaining(['gcc']), env: [] }, available: false, version: null });
    expect(body.languages.find((l) => l.name === 'python')).toMatchObject({ compile: null, available: true, version: '3.11.2' });
    expect(body.runtimes.map((r) => r.kind)).toEqual(['kata', 'gvisor', 'runc']);
    expect(body.runtimes.filter((r) => r.active)).toHaveLength(1);
    for (const r of body.runtimes) {
      expect(Object.keys(r).sort()).toEqual(['active', 'hypervisors', 'installed', 'isolation', 'kind', 'ociRuntime']);
      expect(['vm', 'gvisor', 'container']).toContain(r.isolation);
    }
    for (const k of ['timeoutMs', 'memoryMb', 'cpus', 'pids', 'diskMb', 'outputBytes', 'openFiles'] as const) {
      expect(body.limits[k]).toEqual({ default: t.config.limits[k].default, max: t.config.limits[k].max });
      expect(body.limits[k].default).toBeLessThanOrEqual(body.limits[k].max);
    }
    expect(body.profiles.map((p) => p.name)).toEqual(['dev', 'standard', 'hardened']);
  });

  it('serialises through the response schema: extra catalog fields never leave', async () => {
    const info = sampleRuntimes(loadConfig({})) as RuntimesInfo & { secret?: string };
    info.secret = '/var/lib/kata-exec';
    (info.runtimes[0] as Record<string, unknown>).binaryPath = '/opt/kata/bin/x';
    const t = await setup({ catalog: new FakeCatalog(info) });
    const res = await t.app.inject({ method: 'GET', url: '/v1/runtimes' });
    expect(res.statusCode).toBe(200);
    const body = res.body;
    expect(body).not.toContain('/var/lib');
    expect(body).not.toContain('/opt/kata');
  });
});

function auditLines(t: TestApp) {
  return t.logger.lines.filter((l) => typeof l.obj === 'object' && 'audit' in l.obj) as { msg?: string; obj: { audit: Record<string, unknown> } }[];
}

describe('audit log', () => {
  const code = 'SECRET_TOKEN = "do-not-log-me"\nprint(6*7)';
  const sha = createHash('sha256').update(code).digest('hex');

  it('writes one line per execution with the request id, key name, language, code SHA-256, runtime, status, duration and limits; never the code', async () => {
    const t = await setup({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    t.runner.always({ stdout: '42\n' });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'py', code, stdin: 'stdin-secret', env: { PW: 'env-secret' } }, headers: bearer(TOKENS.alice) });
    expect(res.statusCode).toBe(200);
    const lines = auditLines(t);
    expect(lines).toHaveLength(1);
    const a = lines[0]!.obj.audit;
    expect(a).toMatchObject({
      requestId: res.headers['x-request-id'],
      key: 'alice',
      language: 'py',
      codeSha256: sha,
      runtime: 'gvisor',
      profile: 'standard',
      executionId: res.json<{ id: string }>().id,
      status: 'ok',
      exitCode: 0,
      durationMs: expect.any(Number),
      limits: expect.objectContaining({ timeoutMs: t.config.limits.timeoutMs.default }),
    });
    const all = JSON.stringify(t.logger.lines);
    for (const secret of ['do-not-log-me', 'print(6*7)', 'stdin-secret', 'env-secret', TOKENS.alice]) expect(all).not.toContain(secret);
  });

  it('hashes every file for a multi-file request, and logs none of their contents', async () => {
    const t = await setup({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    const files = [
      { path: 'main.py', content: 'import helper  # file-secret-1' },
      { path: 'helper.py', content: Buffer.from('X = "file-secret-2"').toString('base64'), encoding: 'base64' },
    ];
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', files }, headers: bearer(TOKENS.bob) });
    const other = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', files: [files[0]!] }, headers: bearer(TOKENS.bob) });
    expect(other.statusCode).toBe(200);
    const [a, b] = auditLines(t).map((l) => l.obj.audit);
    expect(a).toMatchObject({ key: 'bob', codeSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(b!.codeSha256).not.toBe(a!.codeSha256);
    const all = JSON.stringify(t.logger.lines);
    expect(all).not.toContain('file-secret');
    expect(all).not.toContain(files[1]!.content);
  });

  it('writes a line for refused and failed executions too, with the error code', async () => {
    const t = await setup({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'cobol', code }, headers: bearer(TOKENS.alice) });
    t.runner.next(new VmExecutionFailedError());
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code }, headers: bearer(TOKENS.alice) });
    const lines = auditLines(t).map((l) => l.obj.audit);
    expect(lines).toEqual([
      expect.objectContaining({ key: 'alice', codeSha256: sha, error: 'UNKNOWN_LANGUAGE' }),
      expect.objectContaining({ key: 'alice', codeSha256: sha, error: 'VM_EXECUTION_FAILED' }),
    ]);
    expect(JSON.stringify(t.logger.lines)).not.toContain('do-not-log-me');
  });

  it('without keys, the key is the client address', async () => {
    const t = await setup();
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code }, remoteAddress: '127.0.0.9' });
    expect(auditLines(t)[0]!.obj.audit).toMatchObject({ key: '127.0.0.9', codeSha256: sha });
  });
});
