/**
 * Issue 10, item 13 (HTTP part): with authentication off, the Host header is checked
 * against DNS rebinding; query strings never reach the logs.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { expectProblem } from '../helpers/problem.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();
const body = { language: 'python', code: 'print(1)' };

describe('Host header with authentication off (DNS rebinding)', () => {
  it('refuses a foreign Host with 403 HOST_NOT_ALLOWED, before any sandbox', async () => {
    const t = await apps();
    for (const host of ['evil.example', 'evil.example:8080', 'attacker.localhost.example', '10.1.2.3:8080']) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, headers: { host } });
      expectProblem(res, 403, 'HOST_NOT_ALLOWED');
      expectProblem(await t.app.inject({ method: 'GET', url: '/v1/runtimes', headers: { host } }), 403, 'HOST_NOT_ALLOWED');
    }
    expect(t.runner.calls).toHaveLength(0);
  });

  it('serves localhost and loopback names, with any port', async () => {
    const t = await apps();
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'LOCALHOST']) {
      expect((await t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, headers: { host } })).statusCode, host).toBe(200);
    }
  });

  it('serves KATA_EXEC_HOST and KATA_EXEC_ALLOWED_HOSTS', async () => {
    const t = await apps({ env: { KATA_EXEC_HOST: '192.168.5.5', KATA_EXEC_ALLOWED_HOSTS: 'exec.internal,10.9.9.9' } });
    for (const host of ['192.168.5.5:8080', 'exec.internal', 'Exec.Internal:443', '10.9.9.9']) {
      expect((await t.app.inject({ method: 'GET', url: '/v1/runtimes', headers: { host } })).statusCode, host).toBe(200);
    }
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/runtimes', headers: { host: 'other.internal' } }), 403, 'HOST_NOT_ALLOWED');
  });

  it('answers probes whatever the Host (orchestrators call them by address)', async () => {
    const t = await apps();
    expect((await t.app.inject({ method: 'GET', url: '/healthz', headers: { host: '10.0.0.7:8080' } })).statusCode).toBe(200);
  });

  it('does not check the Host when API keys are set: the key is the defence', async () => {
    const t = await apps({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    const res = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: body, headers: { host: 'exec.example.com', ...bearer(TOKENS.alice) } });
    expect(res.statusCode).toBe(200);
  });

  it('refuses a malformed KATA_EXEC_ALLOWED_HOSTS', async () => {
    await expect(apps({ env: { KATA_EXEC_ALLOWED_HOSTS: 'ok.example,bad host' } })).rejects.toThrow(/KATA_EXEC_ALLOWED_HOSTS has "bad host"/);
  });
});

describe('request logs', () => {
  it('never write a query string: the path stays, the query becomes ?[redacted]', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const t = await apps({ httpLogger: pino({ level: 'info' }, sink) });
    await t.app.inject({ method: 'GET', url: '/v1/runtimes?token=s3cret-value&x=1' });
    await t.app.inject({ method: 'GET', url: '/no/such/route?api_key=another-s3cret' });
    await t.app.inject({ method: 'POST', url: '/v1/execute?key=third-s3cret', payload: body });
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(3);
    expect(log).not.toMatch(/s3cret/);
    expect(log).toContain('"url":"/v1/runtimes?[redacted]"');
    expect(log).toContain('"url":"/v1/execute?[redacted]"');
  });
});
