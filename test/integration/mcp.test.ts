/**
 * /mcp against the real service on real containerd, driven by the MCP SDK's own client
 * (StreamableHTTPClientTransport) with a bearer key, on every runtime of TEST_RUNTIMES.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { connectMcp, executeResultOf, textOf } from '../helpers/mcp.js';
import { testRuntimes, useService } from '../helpers/real-service.js';

describe.each(testRuntimes())('MCP on %s', (runtime) => {
  let client: Client;

  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS }, { leaksEach: true });
  // Closed before the service (after-hooks run in reverse order).
  beforeAll(async () => {
    client = await connectMcp(svc().url, TOKENS.alice);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('lists run_code, list_runtimes and the session tools; list_runtimes names this runtime as the active one', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['run_code', 'list_runtimes', 'create_session', 'execute_in_session', 'write_file', 'read_file', 'list_files', 'close_session']);
    const r = await client.callTool({ name: 'list_runtimes', arguments: {} });
    const info = r.structuredContent as { runtimes: { kind: string; active: boolean }[]; languages: { name: string }[] };
    expect(info.runtimes.find((x) => x.active)?.kind).toBe(runtime);
    expect(info.languages.map((l) => l.name)).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });

  it('runs python print(6*7) in a fresh sandbox: 42', async () => {
    const r = await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(6*7)' } });
    const result = executeResultOf(r as never);
    expect(result).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n', stderr: '', language: 'python' });
    expect(result.backend.kind).toBe(runtime);
    expect(result.limitsEnforced.network).toBe(true);
    expect(textOf(r as never)).toMatch(new RegExp(`^status: ok\\nexit code: 0\\nduration: \\d+ ms on ${runtime}\\n[\\s\\S]*stdout:\\n42\\n`));
  });

  it('a failing program gets its true status, exit code and stderr, as a successful tool call', async () => {
    const r = await client.callTool({ name: 'run_code', arguments: { language: 'bash', code: 'echo out; echo oops >&2; exit 3' } });
    expect(r.isError).toBeFalsy();
    expect(executeResultOf(r as never)).toMatchObject({ status: 'error', exitCode: 3, stdout: 'out\n', stderr: 'oops\n' });
    const py = executeResultOf((await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'raise ValueError("bad input")' } })) as never);
    expect(py).toMatchObject({ status: 'error', exitCode: 1 });
    expect(py.stderr).toContain('ValueError: bad input');
  });

  it('takes files, stdin, args and env like /v1/execute', async () => {
    const r = await client.callTool({
      name: 'run_code',
      arguments: {
        language: 'python',
        files: [
          { path: 'main.py', content: 'import sys, os, util\nprint(util.shout(input()), sys.argv[1:], os.environ["GREETING"])' },
          { path: 'util.py', content: 'def shout(s):\n    return s.upper()' },
        ],
        stdin: 'hello',
        args: ['--verbose'],
        env: { GREETING: 'hi' },
      },
    });
    expect(executeResultOf(r as never)).toMatchObject({ status: 'ok', stdout: "HELLO ['--verbose'] hi\n" });
  });

  it('an unknown language is a tool error with the stable code; no sandbox is made', async () => {
    const r = await client.callTool({ name: 'run_code', arguments: { language: 'cobol', code: 'DISPLAY 1' } });
    expect(r.isError).toBe(true);
    expect(textOf(r as never)).toMatch(/^UNKNOWN_LANGUAGE: unknown language "cobol"; known languages: python, javascript, bash, c, cpp, go, rust, java, typescript, ruby, php, perl\n/);
    const metrics = await svc().metrics.registry.getSingleMetricAsString('kata_exec_mcp_tool_calls_total');
    expect(metrics).toMatch(/tool="run_code",outcome="UNKNOWN_LANGUAGE"\} 1$/m);
  });
});
