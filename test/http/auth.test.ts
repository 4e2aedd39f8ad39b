/** API keys as bearer tokens: 401 problem bodies, open routes, and auth off without keys. */
import { describe, expect, it } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { useTestApps } from '../helpers/test-apps.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem } from '../helpers/problem.js';

const apps = useTestApps();
const setup = (env: Record<string, string> = {}) => apps({ env });

const BODY = { language: 'python', code: 'print(6*7)' };

describe('API keys configured', () => {
  it('refuses a request without Authorization: 401 UNAUTHORIZED, WWW-Authenticate, problem body, no sandbox', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: BODY });
    const p = expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(p.detail).toMatch(/Authorization: Bearer/);
    expect(res.headers['x-request-id']).toMatch(/^req-/);
    expect(t.runner.calls).toHaveLength(0);
  });

  it.each([
    ['a wrong token', { authorization: 'Bearer kx_not-a-key' }],
    ['a token of another scheme', { authorization: `Basic ${Buffer.from(`alice:${TOKENS.alice}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['the hash itself instead of the token', { authorization: `Bearer ${API_KEYS.split(',')[0]!.split(':')[1]}` }],
  ])('refuses %s with 401 UNAUTHORIZED', async (_what, headers) => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: BODY, headers });
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    // The token never comes back.
    expect(res.body).not.toContain('kx_not-a-key');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('runs with the right token (any key), case-insensitive scheme', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    t.runner.always({ stdout: '42\n' });
    for (const headers of [bearer(TOKENS.alice), bearer(TOKENS.bob), { authorization: `bearer ${TOKENS.alice}` }]) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: BODY, headers });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json<ExecuteResult>().stdout).toBe('42\n');
    }
    expect(t.runner.calls).toHaveLength(3);
  });

  it('protects GET /v1/runtimes too', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/runtimes' }), 401, 'UNAUTHORIZED');
    const ok = await t.app.inject({ method: 'GET', url: '/v1/runtimes', headers: bearer(TOKENS.bob) });
    expect(ok.statusCode).toBe(200);
  });

  it.each(['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json', '/docs/static/index.html'])(
    'leaves %s open without a key',
    async (url) => {
      const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBeLessThan(400);
      expect(res.headers['www-authenticate']).toBeUndefined();
    },
  );

  it('does not open a protected route through a query string that names an open one', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute?x=/healthz', payload: BODY });
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(t.runner.calls).toHaveLength(0);
  });

  it('the OpenAPI document declares the bearer scheme', async () => {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      security: Record<string, unknown>[];
    }>();
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
  });
});

describe('the OpenAPI document and authentication', () => {
  type Op = { security?: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> };
  async function protectedOps(): Promise<[string, Op][]> {
    const t = await setup({ KATA_EXEC_API_KEYS: API_KEYS });
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ security: unknown[]; paths: Record<string, Record<string, Op>> }>();
    return Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => (op.security ?? doc.security).length > 0)
        .map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as [string, Op]),
    );
  }

  it('marks the open routes as needing no security, and execute as protected', async () => {
    const names = (await protectedOps()).map(([n]) => n);
    expect(names).toContain('POST /v1/execute');
    for (const open of ['GET /healthz', 'GET /readyz', 'GET /metrics']) expect(names).not.toContain(open);
  });

  it('documents a 401 problem response on every protected route', async () => {
    for (const [name, op] of await protectedOps()) {
      expect(op.responses, `${name} lacks its 401`).toHaveProperty('401');
      expect(Object.keys(op.responses['401']!.content ?? {}), name).toContain('application/problem+json');
    }
  });
});

describe('no API keys configured', () => {
  it('everything is open: execute and runtimes answer without Authorization, and a stray token is ignored', async () => {
    const t = await setup();
    t.runner.always({ stdout: '42\n' });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: BODY });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['www-authenticate']).toBeUndefined();
    const withToken = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: BODY, headers: bearer('whatever') });
    expect(withToken.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/runtimes' })).statusCode).toBe(200);
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBeLessThan(400);
    }
  });
});
