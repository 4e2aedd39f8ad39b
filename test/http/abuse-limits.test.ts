/**
 * Issue 10, item 12: 401 answers are rate-limited per client address; a trust-proxy
 * setting (off by default) takes the client address from X-Forwarded-For; the per-key
 * concurrency quota is on by default.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { TestApp } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem } from '../helpers/problem.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();
const body = { language: 'python', code: 'print(1)' };

describe('failed authentications (KATA_EXEC_AUTH_FAILURES_PER_MINUTE)', () => {
  it('answers 429 RATE_LIMITED with Retry-After once an address failed too often, even for a good key; other addresses are not affected', async () => {
    const t = await apps({ env: { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_AUTH_FAILURES_PER_MINUTE: '3' } });
    const from = (remoteAddress: string, token: string) =>
      t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, headers: bearer(token), remoteAddress });
    for (let i = 0; i < 3; i++) expectProblem(await from('10.0.0.1', `wrong-${i}`), 401, 'UNAUTHORIZED');
    const blocked = await from('10.0.0.1', 'wrong-again');
    expectProblem(blocked, 429, 'RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Guessing must not go on: a right token from that address waits too.
    expectProblem(await from('10.0.0.1', TOKENS.alice), 429, 'RATE_LIMITED');
    expect((await from('10.0.0.2', TOKENS.alice)).statusCode).toBe(200);
    expectProblem(await from('10.0.0.2', 'wrong'), 401, 'UNAUTHORIZED');
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^kata_exec_auth_failures_total\{outcome="unauthorized"\} 4$/m);
    expect(metrics.body).toMatch(/^kata_exec_auth_failures_total\{outcome="throttled"\} 2$/m);
    // No sandbox was made for any refused request.
    expect(t.runner.calls).toHaveLength(1);
  });

  it('defaults to 30 failures a minute', () => {
    expect(loadConfig({}).authFailuresPerMinute).toBe(30);
  });
});

describe('KATA_EXEC_TRUST_PROXY', () => {
  const limited = { KATA_EXEC_RATE_LIMIT_PER_MINUTE: '1' };
  const via = (t: TestApp, forwardedFor: string) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/execute',
      payload: body,
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': forwardedFor },
    });

  it('is off by default: behind a proxy every client is the proxy, one bucket', async () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    const t = await apps({ env: limited });
    expect((await via(t, '203.0.113.1')).statusCode).toBe(200);
    expect((await via(t, '203.0.113.2')).statusCode).toBe(429);
  });

  it('set to the proxy address: each forwarded client has its own bucket, and a forged header from elsewhere is ignored', async () => {
    const t = await apps({ env: { ...limited, KATA_EXEC_TRUST_PROXY: '127.0.0.1' } });
    expect((await via(t, '203.0.113.1')).statusCode).toBe(200);
    expect((await via(t, '203.0.113.2')).statusCode).toBe(200);
    expect((await via(t, '203.0.113.1')).statusCode).toBe(429);
    const direct = (ff: string) =>
      t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, remoteAddress: '198.51.100.7', headers: { 'x-forwarded-for': ff } });
    expect((await direct('192.0.2.1')).statusCode).toBe(200);
    expect((await direct('192.0.2.2')).statusCode).toBe(429);
  });

  it('takes a hop count or CIDR ranges, and refuses anything else with a message', () => {
    expect(loadConfig({ KATA_EXEC_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ KATA_EXEC_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' }).trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(() => loadConfig({ KATA_EXEC_TRUST_PROXY: 'true' })).toThrow(/KATA_EXEC_TRUST_PROXY must be/);
    expect(() => loadConfig({ KATA_EXEC_TRUST_PROXY: 'proxy.example' })).toThrow(/KATA_EXEC_TRUST_PROXY must be/);
  });
});

describe('KATA_EXEC_KEY_CONCURRENCY default', () => {
  it('is half of KATA_EXEC_CONCURRENCY rounded up, never 0 (unlimited) unless asked for', () => {
    expect(loadConfig({ KATA_EXEC_CONCURRENCY: '2' }).keyConcurrency).toBe(1);
    expect(loadConfig({ KATA_EXEC_CONCURRENCY: '5' }).keyConcurrency).toBe(3);
    expect(loadConfig({ KATA_EXEC_CONCURRENCY: '1' }).keyConcurrency).toBe(1);
    expect(loadConfig({}).keyConcurrency).toBeGreaterThanOrEqual(1);
    expect(loadConfig({ KATA_EXEC_KEY_CONCURRENCY: '0' }).keyConcurrency).toBe(0);
  });

  it('so one client cannot take every slot and the queue: its next execution gets 429 QUOTA_EXCEEDED', async () => {
    const t = await apps({ env: { KATA_EXEC_KEY_CONCURRENCY: '', KATA_EXEC_CONCURRENCY: '2' } });
    expect(t.config.keyConcurrency).toBe(1);
    const gate = t.runner.hold();
    const first = t.app.inject({ method: 'POST', url: '/v1/execute', payload: body });
    await t.runner.waitForCalls(1);
    expectProblem(await t.app.inject({ method: 'POST', url: '/v1/execute', payload: body }), 429, 'QUOTA_EXCEEDED');
    // Another client still gets the other slot.
    const other = t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, remoteAddress: '127.0.0.2' });
    await t.runner.waitForCalls(2);
    gate.release();
    expect((await first).statusCode).toBe(200);
    expect((await other).statusCode).toBe(200);
  });
});
