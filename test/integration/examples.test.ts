/**
 * examples/ run as a user would run them, against the live service (real containerd):
 * the Python example (standard library only), the curl script, and the MCP client example
 * and client configurations.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { connectMcp } from '../helpers/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { NO_LEAKS, settledLeaks, startRealService, testRuntimes, type RealService } from '../helpers/real-service.js';

const repo = path.resolve(import.meta.dirname, '../..');
const PYTHON_EXAMPLE = path.join(repo, 'examples/python/execute.py');
const CURL_EXAMPLE = path.join(repo, 'examples/curl/execute.sh');
const MCP_EXAMPLE = path.join(repo, 'examples/mcp/client.mjs');
const MCP_CONFIG = path.join(repo, 'examples/mcp/mcp.json');
const MCP_DESKTOP_CONFIG = path.join(repo, 'examples/mcp/claude_desktop_config.json');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      // Only what a user's shell would have: no KATA_EXEC_* of the test process.
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', ...env }, timeout: 120_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(new Error(`${file} did not run: ${err.message}\n${stderr}`));
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

const runtime = testRuntimes()[0]!;

describe(`examples against the live service (${runtime})`, () => {
  let svc: RealService;
  let env: Record<string, string>;

  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_API_KEYS: API_KEYS });
    env = { KATA_EXEC_URL: svc.url, KATA_EXEC_TOKEN: TOKENS.alice };
  });
  afterAll(async () => {
    await svc?.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  describe('examples/python/execute.py', () => {
    it('runs a program, prints its status and stdout, then the streamed events in order; exits 0', async () => {
      const r = await run('python3', [PYTHON_EXAMPLE], env);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^status: ok \\(exit code 0, \\d+ ms on ${runtime}\\)$`, 'm'));
      expect(r.stdout).toMatch(/^stdout:\n42$/m);
      const lines = r.stdout.split('\n');
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      expect(at(/^ {2}\[start\] kx-[0-9a-f]{20}$/)).toBeGreaterThan(0);
      expect(at(/^ {2}\[stdout\] tick 0$/)).toBeGreaterThan(at(/\[start\]/));
      expect(at(/^ {2}\[stdout\] tick 2$/)).toBeGreaterThan(at(/tick 0/));
      expect(at(/^ {2}\[result\] status=ok exitCode=0$/)).toBeGreaterThan(at(/tick 2/));
      expect(r.stderr).toBe('');
    });

    it('runs the program given as arguments and exits non-zero when it fails', async () => {
      const r = await run('python3', [PYTHON_EXAMPLE, 'bash', 'echo out; echo oops >&2; exit 3'], env);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('status: error (exit code 3');
      expect(r.stdout).toMatch(/^stdout:\nout$/m);
      expect(r.stdout).toMatch(/^stderr:\noops$/m);
    });

    it('prints the problem code and exits 1 when refused (no token, unknown language)', async () => {
      const noToken = await run('python3', [PYTHON_EXAMPLE], { KATA_EXEC_URL: svc.url });
      expect(noToken.code).toBe(1);
      expect(noToken.stderr).toContain('HTTP 401 UNAUTHORIZED');
      const cobol = await run('python3', [PYTHON_EXAMPLE, 'cobol', 'x'], env);
      expect(cobol.code).toBe(1);
      expect(cobol.stderr).toContain('HTTP 400 UNKNOWN_LANGUAGE');
    });

    it('exits 2 when the service cannot be reached', async () => {
      const r = await run('python3', [PYTHON_EXAMPLE], { KATA_EXEC_URL: 'http://127.0.0.1:1' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('cannot reach http://127.0.0.1:1');
    });
  });

  describe('examples/curl/execute.sh', () => {
    it('executes, lists the runtimes and streams; exits 0', async () => {
      const r = await run('bash', [CURL_EXAMPLE], env);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const sections = r.stdout.split(/^== /m).filter(Boolean);
      expect(sections.map((s) => s.split('\n')[0])).toEqual([
        'POST /v1/execute',
        'POST /v1/execute with files, an entrypoint, stdin, args and env',
        'GET /v1/runtimes',
        'POST /v1/execute, streaming (Accept: text/event-stream)',
      ]);
      const json = (i: number) => JSON.parse(sections[i]!.split('\n').slice(1).join('\n')) as Record<string, any>;
      expect(json(0)).toMatchObject({ status: 'ok', stdout: '42\n' });
      expect(json(1)).toMatchObject({ status: 'ok', stdout: "HELLO ['--verbose'] hi\n" });
      const runtimes = json(2);
      expect(runtimes.languages.map((l: { name: string }) => l.name)).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
      expect(runtimes.runtimes.find((x: { active: boolean }) => x.active).kind).toBe(runtime);
      const stream = sections[3]!;
      expect(stream).toMatch(/^event: start$/m);
      expect(stream).toContain('data: {"data":"tick 1\\n"}');
      expect(stream.indexOf('tick 3')).toBeLessThan(stream.indexOf('event: result'));
      expect(stream).toMatch(/^event: result\ndata: \{.*"status":"ok".*\}$/m);
    });

    it('fails with the problem body when refused', async () => {
      const r = await run('bash', [CURL_EXAMPLE], { KATA_EXEC_URL: svc.url });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain('"code":"UNAUTHORIZED"');
    });
  });

  describe('examples/mcp', () => {
    it('client.mjs lists the tools, runs python through run_code and prints its text; exits 0', async () => {
      const r = await run('node', [MCP_EXAMPLE], env);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^tools: run_code, list_runtimes, create_session, execute_in_session, write_file, read_file, list_files, close_session$/m);
      expect(r.stdout).toMatch(new RegExp(`^status: ok\\nexit code: 0\\nduration: \\d+ ms on ${runtime}$`, 'm'));
      expect(r.stdout).toMatch(/^stdout:\n42$/m);
      expect(r.stderr).toBe('');
    });

    it('client.mjs exits 1 for a failing program and for a refusal (with its code), 2 without a key', async () => {
      const failing = await run('node', [MCP_EXAMPLE, 'bash', 'echo oops >&2; exit 3'], env);
      expect(failing.code).toBe(1);
      expect(failing.stdout).toMatch(/^status: error\nexit code: 3$/m);
      expect(failing.stdout).toMatch(/^stderr:\noops$/m);
      const cobol = await run('node', [MCP_EXAMPLE, 'cobol', 'x'], env);
      expect(cobol.code).toBe(1);
      expect(cobol.stderr).toMatch(/^refused: UNKNOWN_LANGUAGE: /m);
      const noToken = await run('node', [MCP_EXAMPLE], { KATA_EXEC_URL: svc.url });
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toContain(`cannot connect to ${svc.url}/mcp`);
      expect(noToken.stderr).toContain('401');
    });

    it('mcp.json (streamable HTTP URL and bearer header, ${VAR} expanded as clients do) connects and lists the tools', async () => {
      const config = JSON.parse(readFileSync(MCP_CONFIG, 'utf8')) as {
        mcpServers: Record<string, { type: string; url: string; headers: Record<string, string> }>;
      };
      const server = config.mcpServers['kata-exec']!;
      expect(server.type).toBe('http');
      const expand = (v: string) => v.replace(/\$\{(\w+)\}/g, (_m, name: string) => env[name] ?? '');
      const headers = Object.fromEntries(Object.entries(server.headers).map(([k, v]) => [k, expand(v)]));
      // The documented URL points at the default port; the test service listens elsewhere.
      const url = new URL(new URL(server.url).pathname, svc.url);
      const client = new Client({ name: 'examples-test', version: '0' });
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['run_code', 'list_runtimes', 'create_session', 'execute_in_session', 'write_file', 'read_file', 'list_files', 'close_session']);
      } finally {
        await client.close();
      }
      await expect(connectMcp(svc.url)).rejects.toThrow(/401/);
    });

    it('claude_desktop_config.json bridges the same URL through mcp-remote with a bearer header', () => {
      const desktop = JSON.parse(readFileSync(MCP_DESKTOP_CONFIG, 'utf8')) as {
        mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
      };
      const http = JSON.parse(readFileSync(MCP_CONFIG, 'utf8')) as { mcpServers: Record<string, { url: string }> };
      const s = desktop.mcpServers['kata-exec']!;
      expect(s.command).toBe('npx');
      expect(s.args).toContain(http.mcpServers['kata-exec']!.url);
      const header = s.args[s.args.indexOf('--header') + 1]!;
      const [name, ref] = header.split(':');
      expect(name).toBe('Authorization');
      expect(s.env[/^\$\{(\w+)\}$/.exec(ref!)![1]!]).toMatch(/^Bearer kx_/);
    });
  });
});
