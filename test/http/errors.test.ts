import { describe, expect, it } from 'vitest';
import {
  DaemonUnavailableError,
  KataNotAvailableError,
  RuntimeUnavailableError,
  SecurityViolationError,
  VmCreationFailedError,
  VmExecutionFailedError,
} from '../../src/errors.js';
import { useTestApps } from '../helpers/test-apps.js';
import { execute, expectProblem } from '../helpers/problem.js';

const setup = useTestApps();

const PY = { language: 'python', code: 'print(1)' };
// What an operator sees in the cause; a client must never see it.
const hostCause = () => new Error('ctr run failed: /run/kata-exec/code/kx-1/main.py: exec /usr/bin/ctr exit status 1');

describe('runner errors become problem details', () => {
  it.each([
    { err: () => new VmCreationFailedError(undefined, { cause: hostCause() }), status: 502, code: 'VM_CREATION_FAILED', retryAfter: undefined },
    { err: () => new VmExecutionFailedError(undefined, { cause: hostCause() }), status: 502, code: 'VM_EXECUTION_FAILED', retryAfter: undefined },
    { err: () => new DaemonUnavailableError(undefined, { cause: hostCause() }), status: 503, code: 'DAEMON_UNAVAILABLE', retryAfter: '5' },
    { err: () => new KataNotAvailableError(), status: 503, code: 'KATA_NOT_AVAILABLE', retryAfter: undefined },
    { err: () => new RuntimeUnavailableError('runc is not available'), status: 503, code: 'RUNTIME_NOT_INSTALLED', retryAfter: undefined },
    { err: () => new SecurityViolationError('privileged sandboxes are forbidden'), status: 422, code: 'SECURITY_VIOLATION', retryAfter: undefined },
  ])('$code -> $status', async ({ err, status, code, retryAfter }) => {
    const t = await setup();
    t.runner.throwNext(err());
    const res = await execute(t.app, PY);
    const p = expectProblem(res, status, code);
    expect(res.headers['retry-after']).toBe(retryAfter);
    // The cause stays in the log.
    expect(res.body).not.toContain('ctr run failed');
    expect(p.detail).not.toContain('exit status');
    expect(t.runner.calls).toHaveLength(1);
    // The failure is counted by code; it is not an execution.
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`kata_exec_failures_total{code="${code}"} 1`);
    expect(metrics).not.toMatch(/^kata_exec_executions_total\{/m);
  });

  it('500 RUNNER_NOT_CONFIGURED when the executor has no runner', async () => {
    const t = await setup({ runner: null });
    expectProblem(await execute(t.app, PY), 500, 'RUNNER_NOT_CONFIGURED');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('a plain Error becomes 500 INTERNAL with neither its message nor its path', async () => {
    const t = await setup();
    t.runner.throwNext(new Error('boom /secret/path'));
    const res = await execute(t.app, PY);
    const p = expectProblem(res, 500, 'INTERNAL');
    expect(res.body).not.toContain('boom');
    expect(res.body).not.toContain('/secret/path');
    // The detail points at the log through the request id.
    expect(p.detail).toContain(res.headers['x-request-id']);
  });

  it.each([
    ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'x') at /srv/app/dist/runner.js:1:2")],
    ['an error that looks like a client error', () => Object.assign(new Error('EACCES: permission denied, open /etc/shadow'), { statusCode: 500, code: 'EACCES' })],
    ['a thrown string', () => 'raw string with /var/lib/kata-exec' as unknown as Error],
  ])('%s from the runner is 500 INTERNAL and leaks nothing', async (_name, make) => {
    const t = await setup();
    t.runner.always(() => {
      throw make();
    });
    const res = await execute(t.app, PY);
    expectProblem(res, 500, 'INTERNAL');
    expect(res.body).not.toMatch(/shadow|runner\.js|raw string|kata-exec\//);
  });

  it('a broken result from the runner is 500 INTERNAL, not a half-filled 200', async () => {
    const t = await setup();
    t.runner.always(async () => ({ exitCode: 0, stderr: { data: null } as never }));
    expectProblem(await execute(t.app, PY), 500, 'INTERNAL');
  });

  it('the service keeps serving after a runner error', async () => {
    const t = await setup();
    t.runner.next(new VmCreationFailedError(), { stdout: 'fine\n' });
    expectProblem(await execute(t.app, PY), 502, 'VM_CREATION_FAILED');
    const ok = await execute(t.app, PY);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ stdout: 'fine\n', status: 'ok' });
    expect(t.service.queue.stats()).toEqual({ running: 0, waiting: 0 });
  });
});

describe('every error body is a problem+json that leaks nothing', () => {
  it.each([
    { name: 'validation', req: { method: 'POST', url: '/v1/execute', payload: { language: 'python' } }, status: 400, code: 'VALIDATION_FAILED' },
    { name: 'unknown language', req: { method: 'POST', url: '/v1/execute', payload: { language: 'cobol', code: 'x' } }, status: 400, code: 'UNKNOWN_LANGUAGE' },
    { name: 'limit', req: { method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'x', limits: { pids: 10_000_000 } } }, status: 400, code: 'LIMIT_EXCEEDED' },
    {
      name: 'malformed JSON',
      req: { method: 'POST', url: '/v1/execute', headers: { 'content-type': 'application/json' }, payload: '{"a":' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'media type',
      req: { method: 'POST', url: '/v1/execute', headers: { 'content-type': 'application/xml' }, payload: '<x/>' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    { name: 'too large', req: { method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'y'.repeat(3000) } }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { name: 'not found', req: { method: 'DELETE', url: '/v1/jobs/1' }, status: 404, code: 'NOT_FOUND' },
  ] as const)('$name: $status $code', async ({ req, status, code }) => {
    const t = await setup({ env: { KATA_EXEC_BODY_LIMIT_BYTES: '2048' } });
    const res = await t.app.inject(req);
    const p = expectProblem(res, status, code);
    expect(Object.keys(p)).toEqual(expect.arrayContaining(['type', 'title', 'status', 'code', 'detail']));
    expect(res.headers['x-request-id']).toMatch(/^req-[0-9a-f]{20}$/);
    expect(t.runner.calls).toHaveLength(0);
  });
});
