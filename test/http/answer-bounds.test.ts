/**
 * Issue 10, item 1: a few clients must not be able to make the service hold unbounded
 * answers. The encoded size of an answer is bounded whatever bytes the program writes;
 * an answer not yet taken keeps its key's quota place and its memory reservation until it
 * is written or the client is gone; a client that does not read is cut off after the
 * write timeout; past the memory budget, 503 MEMORY_BUDGET_FULL.
 */
import { describe, expect, it } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { captured } from '../fakes/fake-runner.js';
import { type TestApp } from '../helpers/build-test-app.js';
import { expectProblem } from '../helpers/problem.js';
import { nonReadingClient, requestText } from '../helpers/raw-client.js';
import { parseSse } from '../helpers/sse.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();
const MiB = 1024 * 1024;

function execute(t: TestApp, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url: '/v1/execute', payload, headers });
}

/** What a program printing `n` bytes of 0x01 on each stream leaves in the runner's capture. */
function controlBytes(n: number) {
  return { stdout: Buffer.alloc(n, 0x01), stderr: Buffer.alloc(n, 0x01) };
}

describe('the size of an answer', () => {
  it('stays within 2 x outputBytes per stream as JSON when the program prints control bytes (6-byte escapes)', async () => {
    const t = await apps();
    const cap = 64 * 1024;
    t.runner.always(controlBytes(cap));
    const res = await execute(t, { language: 'python', code: 'x', limits: { outputBytes: cap } });
    expect(res.statusCode).toBe(200);
    const body = res.json<ExecuteResult>();
    // Unbounded, each stream would be 6 x cap as JSON.
    expect(Buffer.byteLength(JSON.stringify(body.stdout))).toBeLessThanOrEqual(2 * cap + 64);
    expect(Buffer.byteLength(JSON.stringify(body.stderr))).toBeLessThanOrEqual(2 * cap + 64);
    expect(res.rawPayload.length).toBeLessThan(4 * cap + 8 * 1024);
    expect(body.truncated).toBe(true);
    expect(body.stdout).toMatch(/^\x01+\n…\[\d+ bytes dropped\]…\n\x01+$/);
    // What was kept plus what was dropped is what the program wrote.
    expect(body.stdout.replace(/\n…\[\d+ bytes dropped\]…\n/, '').length + body.droppedBytes.stdout).toBe(cap);
  });

  it('keeps ordinary text whole: newlines and quotes at the cap are not cut', async () => {
    const t = await apps();
    const cap = 4096;
    const text = '"a"\n'.repeat(cap / 4);
    t.runner.always({ stdout: text });
    const body = (await execute(t, { language: 'python', code: 'x', limits: { outputBytes: cap } })).json<ExecuteResult>();
    expect(body.stdout).toBe(text);
    expect(body.truncated).toBe(false);
  });

  it('bounds what the runner already cut (head, marker, tail) the same way', async () => {
    const t = await apps();
    const cap = 8192;
    const kept = Buffer.concat([Buffer.alloc(cap / 2, 0x02), Buffer.alloc(cap / 2, 0x03)]);
    t.runner.always({ stdout: captured(kept, 1_000_000) });
    const body = (await execute(t, { language: 'python', code: 'x', limits: { outputBytes: cap } })).json<ExecuteResult>();
    expect(Buffer.byteLength(JSON.stringify(body.stdout))).toBeLessThanOrEqual(2 * cap + 64);
    expect(body.stdout.startsWith('\x02')).toBe(true);
    expect(body.stdout.endsWith('\x03')).toBe(true);
    expect(body.stdout.match(/bytes dropped/g)).toHaveLength(1);
    expect(body.droppedBytes.stdout).toBeGreaterThan(1_000_000);
  });

  it('bounds the live events of a stream too, escapes and framing counted', async () => {
    const t = await apps();
    const cap = 16 * 1024;
    t.runner.always((_spec, call) => {
      // One byte per write: framing would multiply it 30 times.
      for (let i = 0; i < cap; i++) call.opts.onOutput?.('stdout', Buffer.from([0x01]));
      return controlBytes(cap);
    });
    const res = await execute(t, { language: 'python', code: 'x', limits: { outputBytes: cap } }, { accept: 'text/event-stream' });
    const live = parseSse(res.body).filter((e) => e.event === 'stdout');
    const liveBytes = live.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.data)) + 22, 0);
    expect(live.length).toBeGreaterThan(0);
    expect(liveBytes).toBeLessThanOrEqual(2 * cap + 64 * 1024);
    expect(parseSse(res.body).at(-1)!.event).toBe('result');
  });
});

describe('the memory budget (KATA_EXEC_MEMORY_BUDGET_MB)', () => {
  it('admits executions while their worst case fits, then answers 503 MEMORY_BUDGET_FULL with Retry-After', async () => {
    // 1 MiB answers: 16 MiB + 64 KiB worst case each, so 3 fit in 64 MiB and the fourth does not.
    const t = await apps({ env: { KATA_EXEC_MEMORY_BUDGET_MB: '64', KATA_EXEC_OUTPUT_BYTES_MAX: String(MiB), KATA_EXEC_OUTPUT_BYTES_DEFAULT: String(MiB) } });
    const gate = t.runner.hold();
    const held = [1, 2, 3].map(() => execute(t, { language: 'python', code: 'x' }));
    await t.runner.waitForCalls(3);
    const refused = await execute(t, { language: 'python', code: 'x' });
    const p = expectProblem(refused, 503, 'MEMORY_BUDGET_FULL');
    expect(p.detail).toMatch(/memory budget/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // A smaller answer still fits: it reaches the runner.
    const small = execute(t, { language: 'python', code: 'x', limits: { outputBytes: 4096 } });
    await t.runner.waitForCalls(4);
    gate.release();
    for (const r of await Promise.all([...held, small])) expect(r.statusCode).toBe(200);
    // Every reservation came back once the answers were written.
    await expect.poll(() => t.service.memory.reservedBytes).toBe(0);
    expect((await execute(t, { language: 'python', code: 'x' })).statusCode).toBe(200);
  });

  it('refuses a budget that cannot hold one execution at the largest output cap', async () => {
    await expect(apps({ env: { KATA_EXEC_MEMORY_BUDGET_MB: '32', KATA_EXEC_OUTPUT_BYTES_MAX: String(16 * MiB) } })).rejects.toThrow(
      /KATA_EXEC_MEMORY_BUDGET_MB \(32\) cannot hold/,
    );
  });
});

describe('a client that never reads its answer', () => {
  // 2 x 8 MiB of output: far more than the loopback buffers of a socket that never reads.
  const env = {
    KATA_EXEC_OUTPUT_BYTES_MAX: String(8 * MiB),
    KATA_EXEC_MEMORY_BUDGET_MB: '512',
    KATA_EXEC_KEY_CONCURRENCY: '1',
    KATA_EXEC_WRITE_TIMEOUT_MS: '1500',
  };
  const body = JSON.stringify({ language: 'python', code: 'x', limits: { outputBytes: 8 * MiB } });

  for (const [name, accept] of [
    ['JSON', 'application/json'],
    ['SSE', 'text/event-stream'],
  ] as const) {
    it(`${name}: keeps its key's quota place and its memory until the write timeout cuts it off`, async () => {
      const t = await apps({ env });
      t.runner.always((_spec, call) => {
        const big = Buffer.alloc(8 * MiB, 0x41);
        call.opts.onOutput?.('stdout', big);
        call.opts.onOutput?.('stderr', big);
        return { stdout: big, stderr: big };
      });
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (t.app.server.address() as { port: number }).port;

      const client = nonReadingClient(port, requestText('/v1/execute', body, { accept }));
      expect(await client.head).toMatch(/^HTTP\/1\.1 200 /);
      // Its answer is not yet sent: the same key (this address) has no place left.
      const second = await execute(t, { language: 'python', code: 'x', limits: { outputBytes: 1024 } });
      expectProblem(second, 429, 'QUOTA_EXCEEDED');
      expect(t.service.memory.reservedBytes).toBeGreaterThan(0);

      // The write timeout ends the connection; the place and the memory come back.
      await expect.poll(() => t.service.memory.reservedBytes, { timeout: 15_000, interval: 100 }).toBe(0);
      const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/^kata_exec_slow_clients_total 1$/m);
      // (A paused socket notices the close only when it reads again.)
      client.socket.resume();
      const { bytesRead } = await client.closed;
      expect(bytesRead).toBeLessThan(16 * MiB);
      expect((await execute(t, { language: 'python', code: 'x', limits: { outputBytes: 1024 } })).statusCode).toBe(200);
    }, 30_000);
  }
});
