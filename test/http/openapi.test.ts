import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js';

const OPENAPI_FILE = new URL('../../openapi/openapi.json', import.meta.url);
const STALE = 'openapi/openapi.json is out of date with the routes: run `npm run openapi` and commit the result';

interface Operation {
  requestBody?: { required?: boolean; content: Record<string, { schema: { required?: string[]; properties?: Record<string, unknown>; additionalProperties?: boolean } }> };
  responses: Record<string, unknown>;
}
interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

let t: TestApp;
let served: OpenApiDoc;
beforeAll(async () => {
  t = await buildTestApp();
  const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  served = res.json<OpenApiDoc>();
});
afterAll(async () => {
  await t.app.close();
});

describe('OpenAPI document', () => {
  it('the served document equals the committed openapi/openapi.json', async () => {
    let raw: string;
    try {
      raw = await readFile(OPENAPI_FILE, 'utf8');
    } catch {
      expect.fail(`openapi/openapi.json is missing: run \`npm run openapi\``);
    }
    const committed = JSON.parse(raw) as unknown;
    expect(served, STALE).toEqual(committed);
    // As the script writes it: 2-space JSON and a trailing newline.
    expect(raw, STALE).toBe(`${JSON.stringify(committed, null, 2)}\n`);
  });

  it('is OpenAPI 3.1.0 and documents every public route, and nothing else', () => {
    expect(served.openapi).toBe('3.1.0');
    expect(served.info).toMatchObject({ title: 'kata-exec', version: expect.any(String) });
    expect(Object.keys(served.paths).sort()).toEqual([
      '/healthz',
      '/judge0/languages',
      '/judge0/languages/{id}',
      '/judge0/statuses',
      '/judge0/submissions',
      '/judge0/submissions/batch',
      '/judge0/submissions/{token}',
      '/metrics',
      '/readyz',
      '/v1/execute',
      '/v1/runtimes',
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/execute',
      '/v1/sessions/{id}/files',
      '/v1/sessions/{id}/files/{*}',
      '/v1/sessions/{id}/processes',
      '/v1/sessions/{id}/processes/{pid}',
    ]);
    expect(Object.keys(served.paths['/v1/sessions/{id}/files/{*}']!).sort()).toEqual(['delete', 'get', 'put']);
    expect(Object.keys(served.paths['/v1/sessions/{id}/files/{*}']!.put!.requestBody!.content)).toEqual(['application/octet-stream', '*/*']);
    expect(Object.keys(served.paths['/v1/execute']!)).toEqual(['post']);
    expect(Object.keys(served.paths['/judge0/submissions']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(served.paths['/judge0/submissions/{token}']!).sort()).toEqual(['delete', 'get']);
    for (const p of ['/healthz', '/readyz', '/metrics']) expect(Object.keys(served.paths[p]!)).toEqual(['get']);
    expect(Object.keys(served.paths['/readyz']!.get!.responses).sort()).toEqual(['200', '503']);
  });

  it('POST /v1/execute: the request schema requires the language (code or files) and refuses other fields', () => {
    const op = served.paths['/v1/execute']!.post!;
    expect(op.requestBody?.required).toBe(true);
    const schema = op.requestBody!.content['application/json']!.schema;
    expect(schema.required).toEqual(['language']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties ?? {})).toEqual(
      expect.arrayContaining(['language', 'code', 'files', 'entrypoint', 'stdin', 'args', 'env', 'timeoutMs', 'limits', 'profile', 'metadata']),
    );
  });

  it('POST /v1/execute: documents the 200 result and the 400/413/503 problems', () => {
    const responses = served.paths['/v1/execute']!.post!.responses;
    for (const status of ['200', '400', '413', '503']) expect(responses, `response ${status}`).toHaveProperty(status);
    const ok = JSON.stringify(responses['200']);
    for (const field of ['"status"', '"exitCode"', '"stdout"', '"stderr"', '"durationMs"', '"backend"', '"limitsEnforced"']) expect(ok).toContain(field);
    for (const status of ['400', '413', '503']) {
      const body = JSON.stringify(responses[status]);
      for (const field of ['"type"', '"title"', '"status"', '"code"', '"detail"']) expect(body).toContain(field);
    }
  });
});
