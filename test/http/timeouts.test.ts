/**
 * Issue 10, item 11: slow clients are timed out. Headers must arrive within
 * KATA_EXEC_HEADERS_TIMEOUT_MS, the whole request within KATA_EXEC_REQUEST_TIMEOUT_MS, and
 * an idle keep-alive connection closes after KATA_EXEC_KEEP_ALIVE_TIMEOUT_MS. Real sockets
 * against the listening app; each test waits for the server to close the connection.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { requestText, slowClient } from '../helpers/raw-client.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();

async function listening(env: Record<string, string>) {
  const t = await apps({ env });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  return { t, port: (t.app.server.address() as { port: number }).port };
}

describe('slow clients (item 11)', () => {
  it('has safe defaults: headers 10 s, request 30 s, keep-alive 5 s, write 30 s', () => {
    const c = loadConfig({});
    expect(c.timeouts).toEqual({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, writeMs: 30_000 });
  });

  it('closes a connection whose headers trickle in a byte at a time (slowloris)', async () => {
    const { port } = await listening({ KATA_EXEC_HEADERS_TIMEOUT_MS: '1000', KATA_EXEC_REQUEST_TIMEOUT_MS: '1000' });
    const headers = `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${'X-Pad: aaaaaaaaaa\r\n'.repeat(50)}\r\n`;
    const clients = Array.from({ length: 4 }, () => slowClient(port, headers, 100));
    const answers = await Promise.all(clients.map(async (c) => ({ head: await c.head, closed: await c.closed })));
    for (const a of answers) expect(a.head).toMatch(/^HTTP\/1\.1 408 /);
  }, 30_000);

  it('closes a connection whose body trickles in after quick headers', async () => {
    const { port } = await listening({ KATA_EXEC_HEADERS_TIMEOUT_MS: '1000', KATA_EXEC_REQUEST_TIMEOUT_MS: '2000' });
    const body = JSON.stringify({ language: 'python', code: `print(${'1'.repeat(200)})` });
    const req = requestText('/v1/execute', body);
    const split = req.indexOf('\r\n\r\n') + 4;
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    const closed = new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.once('close', () => resolve(got));
    });
    socket.write(req.slice(0, split));
    let i = split;
    const timer = setInterval(() => (i < req.length && !socket.destroyed ? socket.write(req[i++]!) : clearInterval(timer)), 100);
    const got = await closed;
    clearInterval(timer);
    expect(i).toBeLessThan(req.length);
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
  }, 30_000);

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const { port } = await listening({ KATA_EXEC_KEEP_ALIVE_TIMEOUT_MS: '300' });
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await closed;
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    expect(got).toMatch(/^connection: keep-alive/im);
  }, 30_000);

  it('refuses a headers timeout above the request timeout', () => {
    expect(() => loadConfig({ KATA_EXEC_HEADERS_TIMEOUT_MS: '20000', KATA_EXEC_REQUEST_TIMEOUT_MS: '10000' })).toThrow(/HEADERS_TIMEOUT_MS is above/);
  });
});
