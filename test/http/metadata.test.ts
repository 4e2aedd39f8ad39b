/**
 * Issue 10, item 9: metadata keys follow the documented pattern (1 to 63 of letters,
 * digits, ".", "_", "-"), the OpenAPI document says so, and the audit line carries the
 * metadata. The same enforcement holds for env names.
 */
import { describe, expect, it } from 'vitest';
import { useTestApps } from '../helpers/test-apps.js';
import { expectProblem } from '../helpers/problem.js';

const apps = useTestApps();

describe('metadata keys', () => {
  for (const [what, key] of [
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['a NUL', 'a\u0000b'],
    ['an empty key', ''],
    ['a 200-character key', 'k'.repeat(200)],
    ['a 64-character key', 'k'.repeat(64)],
  ] as const) {
    it(`refuses ${what} with 400 VALIDATION_FAILED naming /metadata, before any sandbox`, async () => {
      const t = await apps();
      const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1', metadata: { [key]: 'v' } } });
      const p = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(p.errors!.some((e) => e.path.startsWith('/metadata'))).toBe(true);
      expect(t.runner.calls).toHaveLength(0);
    });
  }

  it('accepts keys of the pattern, up to 63 characters, and echoes them', async () => {
    const t = await apps();
    const metadata = { 'job.id-1_A': 'x', ['k'.repeat(63)]: 'y' };
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1', metadata } });
    expect(res.statusCode).toBe(200);
    expect(res.json().metadata).toEqual(metadata);
  });

  it('refuses env names outside their pattern too', async () => {
    const t = await apps();
    for (const name of ['A=B', '1ABC', 'A B', '']) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1', env: { [name]: 'v' } } });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    }
    expect(t.runner.calls).toHaveLength(0);
  });

  it('is documented in the OpenAPI document: the key pattern (propertyNames) and the count', async () => {
    const t = await apps();
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const req = doc.paths['/v1/execute'].post.requestBody.content['application/json'].schema;
    const schema = req.$ref ? doc.components.schemas[req.$ref.split('/').pop()] : req;
    const metadata = schema.properties.metadata;
    expect(metadata.propertyNames.pattern).toBe('^[A-Za-z0-9_.-]{1,63}$');
    expect(metadata.maxProperties).toBe(16);
  });
});

describe('the audit line', () => {
  it('carries the metadata, for executions that ran and for refused ones', async () => {
    const t = await apps();
    const metadata = { tenant: 'acme', 'job.id': '42' };
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1', metadata } });
    await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'cobol', code: '1', metadata } });
    const audits = t.logger.lines.map((l) => (l.obj as { audit?: Record<string, unknown> }).audit).filter(Boolean);
    expect(audits).toHaveLength(2);
    for (const a of audits) expect(a!.metadata).toEqual(metadata);
  });
});
