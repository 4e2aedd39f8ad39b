/** Assertions shared by the HTTP tests: RFC 9457 problem bodies that leak nothing. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { ExecuteRequest } from '../../src/schemas/execute.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
  known?: string[];
}

/** Nothing of the host or of the service's internals may reach a client. */
export function expectNoLeak(body: string): void {
  for (const s of ['/tmp', '/var', '/run', '/home', '/etc', '/work', 'node_modules', 'node:internal', '.ts:', '.js:']) {
    expect(body, `error body leaks ${JSON.stringify(s)}`).not.toContain(s);
  }
  // Stack frames ("    at fn (file:1:2)") in any form.
  expect(body).not.toMatch(/(^|\\n|\n)\s*at /);
  expect(body).not.toMatch(/\bat \S+ \(?\S*:\d+:\d+\)?/);
  expect(body).not.toContain('"stack"');
}

/** The response is a problem+json with the given status and code, and leaks nothing. */
export function expectProblem(res: LightMyRequestResponse, status: number, code: string): Problem {
  expect(res.statusCode, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json\b/);
  const body = res.json<Problem>();
  expect(body).toMatchObject({
    type: `urn:kata-exec:error:${code.toLowerCase().replaceAll('_', '-')}`,
    title: expect.any(String),
    status,
    code,
    detail: expect.any(String),
  });
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.detail.length).toBeGreaterThan(0);
  expectNoLeak(res.body);
  return body;
}

export function execute(app: FastifyInstance, payload: Partial<ExecuteRequest> & Record<string, unknown>): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/v1/execute', payload });
}
