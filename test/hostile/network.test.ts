/**
 * Hostile network use in the standard profile: DNS, the host's own addresses (loopback
 * and the others), the cloud metadata address. The sandbox has its own empty network
 * namespace: only its own `lo`, no route anywhere.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, profilesOf, testRuntimes } from '../helpers/real-service.js';
import { hostile, useService } from './hostile-case.js';

interface Listener {
  server: Server;
  port: number;
  connections: number;
}

async function listen(host: string): Promise<Listener> {
  const l: Listener = { server: createServer(), port: 0, connections: 0 };
  l.server.on('connection', (s) => {
    l.connections++;
    s.on('error', () => undefined); // the host's own probe resets it
    s.end('host-secret\n');
  });
  await new Promise<void>((resolve, reject) => {
    l.server.once('error', reject);
    l.server.listen({ host, port: 0 }, resolve);
  });
  const addr = l.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  l.port = addr.port;
  return l;
}

/** The host can reach it: proves that a failure from the sandbox is the sandbox's. */
function hostCanConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** The host's own non-loopback addresses (not link-local IPv6: those need a scope). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')))
    .map((a) => a!.address);
}

/** A Python probe: tries each target with a short timeout and prints one JSON line per target. */
function connectProbe(targets: [string, number][]): string {
  return [
    'import json, socket',
    `for host, port in ${JSON.stringify(targets)}:`,
    '    try:',
    '        s = socket.create_connection((host, port), timeout=3)',
    '        data = s.recv(100).decode(errors="replace")',
    '        print(json.dumps({"target": f"{host}:{port}", "result": "connected", "data": data}))',
    '    except Exception as e:',
    '        print(json.dumps({"target": f"{host}:{port}", "result": type(e).__name__, "detail": str(e)}))',
  ].join('\n');
}

describe.each(testRuntimes())('hostile network on %s', (runtime) => {
  const svc = useService(runtime);
  let loopback: Listener;
  let everywhere: Listener;

  beforeAll(async () => {
    loopback = await listen('127.0.0.1');
    // All of the host's addresses, IPv6 and IPv4 (dual stack), when the host has IPv6.
    everywhere = await listen('::').catch(() => listen('0.0.0.0'));
  });
  afterAll(async () => {
    for (const l of [loopback, everywhere]) await new Promise((r) => l?.server.close(r));
  });

  const results = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { target: string; result: string; detail?: string; data?: string });

  it('cannot resolve names', async () => {
    const code = [
      'import socket',
      'try:',
      '    print(socket.getaddrinfo("example.com", 80))',
      'except OSError as e:',
      '    print("failed", type(e).__name__)',
    ].join('\n');
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, timeoutMs: 30_000 }));
    expect(r).toMatchObject({ status: 'ok', stdout: 'failed gaierror\n' });
    expect(r.limitsEnforced.network).toBe(true);
  }, 120_000);

  it("cannot reach a server on the host's 127.0.0.1: the sandbox's loopback is its own", async () => {
    expect(await hostCanConnect('127.0.0.1', loopback.port)).toBe(true);
    const before = loopback.connections;
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'python', code: connectProbe([['127.0.0.1', loopback.port], ['localhost', loopback.port]]), timeoutMs: 30_000 }),
    );
    expect(r.status).toBe('ok');
    const res = results(r.stdout);
    expect(res).toHaveLength(2);
    for (const x of res) expect(x.result, JSON.stringify(x)).not.toBe('connected');
    expect(loopback.connections).toBe(before);
  }, 120_000);

  it("cannot reach the host's other addresses", async () => {
    const addrs = hostAddresses();
    expect(addrs.length).toBeGreaterThan(0);
    const reachable: string[] = [];
    for (const a of addrs) if (await hostCanConnect(a, everywhere.port)) reachable.push(a);
    // At least one address must be reachable from the host itself for this to mean anything.
    expect(reachable.length).toBeGreaterThan(0);
    const before = everywhere.connections;
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'python', code: connectProbe(reachable.map((a) => [a, everywhere.port])), timeoutMs: 30_000 }),
    );
    expect(r.status).toBe('ok');
    const res = results(r.stdout);
    expect(res.map((x) => x.target)).toEqual(reachable.map((a) => `${a}:${everywhere.port}`));
    for (const x of res) expect(x.result, JSON.stringify(x)).not.toBe('connected');
    expect(everywhere.connections).toBe(before);
  }, 120_000);

  it('cannot reach the cloud metadata address 169.254.169.254', async () => {
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'python', code: connectProbe([['169.254.169.254', 80], ['1.1.1.1', 53], ['8.8.8.8', 443]]), timeoutMs: 30_000 }),
    );
    expect(r.status).toBe('ok');
    const res = results(r.stdout);
    expect(res).toHaveLength(3);
    for (const x of res) expect(x.result, JSON.stringify(x)).not.toBe('connected');
  }, 120_000);

  // runc refuses dev (test/hostile/requests.test.ts).
  it.each(profilesOf(runtime).filter((p) => p === 'dev'))('has no network in the %s profile either (root inside changes nothing)', async (profile) => {
    const targets: [string, number][] = [
      ['127.0.0.1', loopback.port],
      ...hostAddresses().map((a): [string, number] => [a, everywhere.port]),
      ['169.254.169.254', 80],
    ];
    const before = loopback.connections + everywhere.connections;
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'python', code: connectProbe(targets), profile, timeoutMs: 30_000 }),
    );
    expect(r.status).toBe('ok');
    const res = results(r.stdout);
    expect(res).toHaveLength(targets.length);
    for (const x of res) expect(x.result, JSON.stringify(x)).not.toBe('connected');
    expect(loopback.connections + everywhere.connections).toBe(before);
  }, 120_000);

  it('sees only its own lo interface', async () => {
    const code = 'import os, socket\nprint(sorted(n for _, n in socket.if_nameindex()))\nprint(sorted(os.listdir("/sys/class/net")))';
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code }));
    expect(r).toMatchObject({ status: 'ok', stdout: "['lo']\n['lo']\n" });
  }, 120_000);
});
