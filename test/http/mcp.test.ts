/**
 * /mcp over the fake runner, driven by the MCP SDK's own client on a listening app (and by
 * app.inject for what happens before MCP: auth, Host, methods): the tools and their schemas,
 * run_code going through the one ExecutionService, refusals as tool errors with the stable
 * code, the same keys and rate limit as /v1/*, the metric.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { DaemonUnavailableError } from '../../src/errors.js';
import { ExecuteRequest, ExecuteResult } from '../../src/schemas/execute.js';
import { RuntimesInfo } from '../../src/schemas/runtimes.js';
import { type TestApp, type TestAppOptions } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { connectMcp, executeResultOf, textOf } from '../helpers/mcp.js';
import { expectNoLeak, expectProblem } from '../helpers/problem.js';
import { useTestApps } from '../helpers/test-apps.js';

const apps = useTestApps();
const clients: Client[] = [];
// Registered after useTestApps' hook: runs before it, so the clients close before their app.
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

interface Listening extends TestApp {
  url: string;
  connect(token?: string): Promise<Client>;
}

async function listening(opts: TestAppOptions = {}): Promise<Listening> {
  const t = await apps(opts);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = t.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    ...t,
    url,
    connect: async (token) => {
      const c = await connectMcp(url, token);
      clients.push(c);
      return c;
    },
  };
}

const plain = (schema: unknown) => JSON.parse(JSON.stringify(schema)) as unknown;

/** An MCP request as a client sends it, for app.inject. */
function rpc(method: string, params: object = {}, headers: Record<string, string> = {}) {
  return {
    method: 'POST' as const,
    url: '/mcp',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    payload: { jsonrpc: '2.0', id: 1, method, params },
  };
}

function metricLine(body: string, tool: string, outcome: string): number {
  const m = new RegExp(`^kata_exec_mcp_tool_calls_total\\{tool="${tool}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(body);
  return m ? Number(m[1]) : 0;
}

describe('tools/list', () => {
  it('lists run_code and list_runtimes, with the REST API schemas and descriptions a model can act on', async () => {
    const t = await listening();
    const { tools } = await (await t.connect()).listTools();
    expect(tools.map((x) => x.name)).toEqual(['run_code', 'list_runtimes', 'create_session', 'execute_in_session', 'write_file', 'read_file', 'list_files', 'close_session']);
    const [run, list] = tools;
    expect(run!.inputSchema).toEqual(plain(ExecuteRequest));
    expect(run!.outputSchema).toEqual(plain(ExecuteResult));
    expect(list!.inputSchema).toEqual({ type: 'object', properties: {}, additionalProperties: false });
    expect(list!.outputSchema).toEqual(plain(RuntimesInfo));
    for (const phrase of ['brand-new', 'no network', 'nothing persists', '/tmp', '__OUT__', 'NOT a tool error', 'QUOTA_EXCEEDED']) {
      expect(run!.description!.toLowerCase()).toContain(phrase.toLowerCase());
    }
    expect(list!.description).toMatch(/languages.*versions/);
    expect(list!.annotations?.readOnlyHint).toBe(true);
  });

  it('names the server and says what it is in its instructions', async () => {
    const t = await listening();
    const c = await t.connect();
    expect(c.getServerVersion()?.name).toBe('kata-exec');
    expect(c.getServerCapabilities()?.tools).toBeDefined();
    expect(c.getInstructions()).toMatch(/brand-new sandbox per call/);
  });
});

describe('run_code', () => {
  it('runs through the execution service: the structured result is the /v1/execute result, the text says what happened', async () => {
    const t = await listening();
    t.runner.always((spec) => ({ stdout: `ran ${spec.files.map((f) => f.path).join(',')} with ${spec.stdin?.toString() ?? ''}\n` }));
    const c = await t.connect();
    const r = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(input())', stdin: 'hi', args: ['-v'], env: { A: '1' } } });
    expect(r.isError).toBeFalsy();
    const result = executeResultOf(r as never);
    expect(result).toMatchObject({ status: 'ok', exitCode: 0, language: 'python', stderr: '' });
    expect(result.stdout).toMatch(/^ran .*main\.py.* with hi\n$/);
    expect(t.runner.calls).toHaveLength(1);
    expect(t.runner.calls[0]!.spec.command).toContain('-v');
    expect(t.runner.calls[0]!.spec.programEnv).toContain('A=1');
    const text = textOf(r as never);
    expect(text).toMatch(/^status: ok\nexit code: 0\nduration: \d+ ms on gvisor\n/);
    expect(text).toContain(`stdout:\n${result.stdout}`);
  });

  it('a failing program is a successful tool call with its true status, exit code and stderr', async () => {
    const t = await listening();
    t.runner.next({ exitCode: 3, stdout: 'out\n', stderr: 'oops\n' }, { exitCode: 137, signal: 'SIGKILL', timedOut: true });
    const c = await t.connect();
    const failed = await c.callTool({ name: 'run_code', arguments: { language: 'bash', code: 'exit 3' } });
    expect(failed.isError).toBeFalsy();
    expect(executeResultOf(failed as never)).toMatchObject({ status: 'error', exitCode: 3, stdout: 'out\n', stderr: 'oops\n' });
    expect(textOf(failed as never)).toMatch(/^status: error\nexit code: 3\n[\s\S]*stderr:\noops\n$/);
    const slow = await c.callTool({ name: 'run_code', arguments: { language: 'bash', code: 'sleep 99' } });
    expect(executeResultOf(slow as never).status).toBe('timeout');
  });

  it('the audit line of a call names the key, as for /v1/execute', async () => {
    const t = await listening({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    await (await t.connect(TOKENS.bob)).callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    const audits = t.logger.lines.map((l) => (typeof l.obj === 'object' && 'audit' in l.obj ? (l.obj as { audit: { key: string } }).audit : null));
    expect(audits.filter(Boolean)).toEqual([expect.objectContaining({ key: 'bob', language: 'python', status: 'ok' })]);
  });
});

describe('refusals are tool errors with the stable code, never a crash', () => {
  it.each([
    ['a missing language', { code: 'x' }, 'VALIDATION_FAILED', '/language'],
    ['an unknown field', { language: 'python', code: 'x', colour: 'red' }, 'VALIDATION_FAILED', '/colour'],
    ['an environment name that is not one', { language: 'python', code: 'x', env: { '1A': 'x' } }, 'VALIDATION_FAILED', '/env'],
    ['a wrong type', { language: 'python', code: 'x', timeoutMs: '10' }, 'VALIDATION_FAILED', '/timeoutMs'],
    ['an unknown language', { language: 'cobol', code: 'x' }, 'UNKNOWN_LANGUAGE', '/language'],
    ['a limit above the maximum', { language: 'python', code: 'x', limits: { memoryMb: 1_000_000 } }, 'LIMIT_EXCEEDED', '/limits/memoryMb'],
    ['a path that climbs out', { language: 'python', files: [{ path: 'a/../../x.py', content: '' }] }, 'VALIDATION_FAILED', '/files'],
  ])('%s: %s', async (_what, args, code, field) => {
    const t = await listening();
    const c = await t.connect();
    const r = await c.callTool({ name: 'run_code', arguments: args });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toBeUndefined();
    const text = textOf(r as never);
    expect(text.startsWith(`${code}: `), text).toBe(true);
    expect(text).toContain(`"path":"${field}`);
    expectNoLeak(text);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('the same fields fail as on POST /v1/execute, with the same messages', async () => {
    const t = await listening();
    const args = { language: 'python', code: 1, limits: { cpus: 0 }, env: { 'a-b': 'x' }, extra: true };
    const rest = expectProblem(await t.app.inject({ method: 'POST', url: '/v1/execute', payload: args }), 400, 'VALIDATION_FAILED');
    const r = await (await t.connect()).callTool({ name: 'run_code', arguments: args });
    const text = textOf(r as never);
    expect(text.split('\n')[0]).toBe(`VALIDATION_FAILED: ${rest.detail}`);
    expect(JSON.parse(text.split('\n')[1]!.replace(/^fields: /, ''))).toEqual(rest.errors);
  });

  it('429 QUOTA_EXCEEDED when the key already has its executions running (shared with /v1/execute), with the wait', async () => {
    const t = await listening({ env: { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_KEY_CONCURRENCY: '1' } });
    const gate = t.runner.hold();
    const c = await t.connect(TOKENS.alice);
    const first = t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: '1' }, headers: bearer(TOKENS.alice) });
    await t.runner.waitForCalls(1);
    const refused = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '2' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused as never)).toMatch(/^QUOTA_EXCEEDED: [\s\S]*\nretry after: 1 s$/);
    const bob = await t.connect(TOKENS.bob);
    const bobRun = bob.callTool({ name: 'run_code', arguments: { language: 'python', code: '3' } });
    await t.runner.waitForCalls(2);
    gate.release();
    expect((await first).statusCode).toBe(200);
    expect((await bobRun).isError).toBeFalsy();
    // Each answered MCP call gives its place back: one after the other, all pass.
    for (const code of ['4', '5']) expect((await c.callTool({ name: 'run_code', arguments: { language: 'python', code } })).isError).toBeFalsy();
  });

  it('503s of the service (queue full, containerd gone) are tool errors with their code', async () => {
    const t = await listening({ env: { KATA_EXEC_CONCURRENCY: '1', KATA_EXEC_QUEUE_DEPTH: '0' } });
    const c = await t.connect();
    const gate = t.runner.hold();
    const running = c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    await t.runner.waitForCalls(1);
    const full = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '2' } });
    expect(textOf(full as never)).toMatch(/^QUEUE_FULL: [\s\S]*\nretry after: \d+ s$/);
    gate.release();
    expect((await running).isError).toBeFalsy();
    t.runner.next(new DaemonUnavailableError());
    const gone = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '3' } });
    expect(gone.isError).toBe(true);
    expect(textOf(gone as never)).toMatch(/^DAEMON_UNAVAILABLE: containerd is not reachable\nretry after: 5 s$/);
  });

  it('an unexpected failure is INTERNAL with the request id, its detail only in the log', async () => {
    const t = await listening();
    t.runner.next(new Error('secret detail at /var/lib/x'));
    const r = await (await t.connect()).callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    const text = textOf(r as never);
    expect(text).toMatch(/^INTERNAL: /);
    expect(text).not.toContain('secret');
    expectNoLeak(text);
  });

  it('an unknown tool is a protocol error naming the tools', async () => {
    const t = await listening();
    await expect((await t.connect()).callTool({ name: 'rm_rf', arguments: {} })).rejects.toThrow(/unknown tool "rm_rf"; tools: run_code, list_runtimes/);
  });
});

describe('list_runtimes', () => {
  it('answers what GET /v1/runtimes says, as structured content and as text', async () => {
    const t = await listening();
    const r = await (await t.connect()).callTool({ name: 'list_runtimes', arguments: {} });
    const rest = (await t.app.inject({ method: 'GET', url: '/v1/runtimes' })).json();
    expect(r.structuredContent).toEqual(rest);
    expect(JSON.parse(textOf(r as never))).toEqual(rest);
  });

  it('refuses arguments', async () => {
    const t = await listening();
    const r = await (await t.connect()).callTool({ name: 'list_runtimes', arguments: { language: 'python' } });
    expect(textOf(r as never)).toMatch(/^VALIDATION_FAILED: /);
  });
});

describe('the same keys, Host check and rate limit as /v1/*', () => {
  it('with keys: 401 UNAUTHORIZED without a valid token, for every method; the SDK client cannot connect without one', async () => {
    const t = await listening({ env: { KATA_EXEC_API_KEYS: API_KEYS } });
    const none = await t.app.inject(rpc('tools/list'));
    expectProblem(none, 401, 'UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="kata-exec"');
    expectProblem(await t.app.inject(rpc('tools/list', {}, { authorization: 'Bearer kx_wrong' })), 401, 'UNAUTHORIZED');
    expectProblem(await t.app.inject({ method: 'GET', url: '/mcp' }), 401, 'UNAUTHORIZED');
    await expect(connectMcp(t.url)).rejects.toThrow(/401/);
    await expect(connectMcp(t.url, 'kx_wrong')).rejects.toThrow(/401/);
    const ok = await t.connect(TOKENS.alice);
    expect((await ok.listTools()).tools).toHaveLength(8);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('without keys: a foreign Host header is 403 HOST_NOT_ALLOWED (DNS rebinding)', async () => {
    const t = await listening();
    expectProblem(await t.app.inject(rpc('tools/list', {}, { host: 'evil.example' })), 403, 'HOST_NOT_ALLOWED');
  });

  it('the per-key rate limit counts run_code calls, not the protocol around them: past it, RATE_LIMITED', async () => {
    const t = await listening({ env: { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' } });
    const c = await t.connect(TOKENS.alice);
    await c.listTools();
    await c.callTool({ name: 'list_runtimes', arguments: {} });
    for (let i = 0; i < 2; i++) expect((await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } })).isError).toBeFalsy();
    const third = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    expect(textOf(third as never)).toMatch(/^RATE_LIMITED: too many executions for this key; retry in \d+ s\nretry after: \d+ s$/);
    expect(t.runner.calls).toHaveLength(2);
    const bob = await t.connect(TOKENS.bob);
    expect((await bob.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } })).isError).toBeFalsy();
  });

  it("a browser page of another site is refused by its Origin (403), with or without keys; the service's own names are not", async () => {
    for (const env of [{}, { KATA_EXEC_API_KEYS: API_KEYS }] as Record<string, string>[]) {
      const t = await listening({ env });
      const auth: Record<string, string> = 'KATA_EXEC_API_KEYS' in env ? { authorization: `Bearer ${TOKENS.alice}` } : {};
      for (const origin of ['https://evil.example', 'null', 'not a url']) {
        expectProblem(await t.app.inject(rpc('tools/list', {}, { ...auth, origin })), 403, 'HOST_NOT_ALLOWED');
      }
      for (const origin of ['http://localhost:6274', 'http://127.0.0.1']) {
        const ok = await t.app.inject(rpc('tools/list', {}, { ...auth, origin }));
        expect(ok.statusCode, `${origin}: ${ok.body}`).toBe(200);
      }
      // The page the server itself serves (its own Host) may call it.
      const own = await t.app.inject(rpc('tools/list', {}, { ...auth, host: 'localhost:8080', origin: 'http://localhost:8080' }));
      expect(own.statusCode).toBe(200);
    }
  });

  it('one window per key for both doors: executions through /v1/execute and run_code count together', async () => {
    const t = await listening({ env: { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_RATE_LIMIT_PER_MINUTE: '2' } });
    const rest = () =>
      t.app.inject({ method: 'POST', url: '/v1/execute', headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' }, payload: { language: 'python', code: '1' } });
    expect((await rest()).statusCode).toBe(200);
    const c = await t.connect(TOKENS.alice);
    expect((await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } })).isError).toBeFalsy();
    // Both doors are spent for this key now.
    expectProblem(await rest(), 429, 'RATE_LIMITED');
    expect(textOf((await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } })) as never)).toMatch(/^RATE_LIMITED: /);
    expect(t.runner.calls).toHaveLength(2);
  });

  it('GET and DELETE are 405 (stateless: no standalone stream, no MCP session); no Mcp-Session-Id is issued', async () => {
    const t = await listening();
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await t.app.inject({ method, url: '/mcp' });
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe('POST');
      expect(res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    }
    const init = await t.app.inject(rpc('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } }));
    expect(init.statusCode).toBe(200);
    expect(init.headers['mcp-session-id']).toBeUndefined();
    expect(init.headers['x-request-id']).toMatch(/^req-/);
    expect(init.json()).toMatchObject({ id: 1, result: { serverInfo: { name: 'kata-exec' } } });
  });

  it('a body that is not JSON is refused before MCP, like /v1/*', async () => {
    const t = await listening();
    const res = await t.app.inject({ method: 'POST', url: '/mcp', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('lifecycle and metrics', () => {
  it('a client that goes away ends its sandbox, and its quota place is released', async () => {
    const t = await listening({ env: { KATA_EXEC_KEY_CONCURRENCY: '1' } });
    const gate = t.runner.hold();
    const c = await connectMcp(t.url);
    const pending = c.callTool({ name: 'run_code', arguments: { language: 'python', code: 'while True: pass' } });
    await t.runner.waitForCalls(1);
    await c.close();
    await expect(pending).rejects.toThrow();
    await expect.poll(() => t.runner.calls[0]!.outcome).toBe('aborted');
    gate.release();
    const again = await (await t.connect()).callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    expect(again.isError).toBeFalsy();
  });

  it('counts tool calls by tool and outcome', async () => {
    const t = await listening();
    t.runner.next({ exitCode: 1 });
    const c = await t.connect();
    await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    await c.callTool({ name: 'run_code', arguments: { language: 'python', code: '1' } });
    await c.callTool({ name: 'run_code', arguments: { language: 'cobol', code: '1' } });
    await c.callTool({ name: 'list_runtimes', arguments: {} });
    const body = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metricLine(body, 'run_code', 'ok')).toBe(2);
    expect(metricLine(body, 'run_code', 'UNKNOWN_LANGUAGE')).toBe(1);
    expect(metricLine(body, 'list_runtimes', 'ok')).toBe(1);
    expect(body).toMatch(/^kata_exec_executions_total\{runtime="gvisor",language="python",status="error"\} 1$/m);
  });
});
