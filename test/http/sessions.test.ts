/**
 * The session routes over app.inject with no sandbox behind them (buildApp's default
 * SessionService has no runner): schemas and refusals before any sandbox, unknown ids,
 * path rules, keys. What sessions do is the integration tier's (test/integration/sessions.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem } from '../helpers/problem.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();
const json = { 'content-type': 'application/json' };

describe('/v1/sessions without a runner', () => {
  it('lists none, and answers an unknown id with 404 SESSION_NOT_FOUND on every route', async () => {
    const { app } = await apps();
    const list = await app.inject({ method: 'GET', url: '/v1/sessions' });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ sessions: [] });
    for (const [method, url] of [
      ['GET', '/v1/sessions/kx-s-0'],
      ['DELETE', '/v1/sessions/kx-s-0'],
      ['GET', '/v1/sessions/kx-s-0/files?path=a'],
      ['GET', '/v1/sessions/kx-s-0/files/a.txt'],
      ['DELETE', '/v1/sessions/kx-s-0/files/a.txt'],
      ['GET', '/v1/sessions/kx-s-0/processes'],
      ['DELETE', '/v1/sessions/kx-s-0/processes/1'],
    ] as const) {
      expectProblem(await app.inject({ method, url }), 404, 'SESSION_NOT_FOUND');
    }
    expectProblem(await app.inject({ method: 'PUT', url: '/v1/sessions/kx-s-0/files/a.txt', payload: Buffer.from('x'), headers: { 'content-type': 'image/png' } }), 404, 'SESSION_NOT_FOUND');
    expectProblem(await app.inject({ method: 'POST', url: '/v1/sessions/kx-s-0/execute', payload: { language: 'bash', code: 'true' }, headers: json }), 404, 'SESSION_NOT_FOUND');
  });

  it('validates bodies by schema before anything: unknown fields, a profile or sandbox limits per call', async () => {
    const { app } = await apps();
    expectProblem(await app.inject({ method: 'POST', url: '/v1/sessions', payload: { bogus: 1 }, headers: json }), 400, 'VALIDATION_FAILED');
    expectProblem(await app.inject({ method: 'POST', url: '/v1/sessions', payload: { idleTimeoutMs: 10 }, headers: json }), 400, 'VALIDATION_FAILED');
    for (const extra of [{ profile: 'dev' }, { limits: { memoryMb: 256 } }, { outputFiles: ['*'] }]) {
      const r = await app.inject({ method: 'POST', url: '/v1/sessions/kx-s-0/execute', payload: { language: 'bash', code: 'true', ...extra }, headers: json });
      expectProblem(r, 400, 'VALIDATION_FAILED');
    }
  });

  it('says no runner is configured when none is', async () => {
    const { app } = await apps();
    const r = await app.inject({ method: 'POST', url: '/v1/sessions', payload: {}, headers: json });
    expectProblem(r, 500, 'RUNNER_NOT_CONFIGURED');
  });

  it('with keys: 401 without a valid token', async () => {
    const { app } = await apps({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    expectProblem(await app.inject({ method: 'GET', url: '/v1/sessions' }), 401, 'UNAUTHORIZED');
    expectProblem(await app.inject({ method: 'PUT', url: '/v1/sessions/kx-s-0/files/a', payload: 'x' }), 401, 'UNAUTHORIZED');
    const ok = await app.inject({ method: 'GET', url: '/v1/sessions', headers: bearer(TOKENS.alice) });
    expect(ok.statusCode).toBe(200);
  });

  it('refuses outputFiles patterns out of /code on /v1/execute', async () => {
    const { app } = await apps();
    const r = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'bash', code: 'true', outputFiles: ['a/../../x/*'] }, headers: json });
    const body = expectProblem(r, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(body)).toContain('/outputFiles/0');
  });
});
