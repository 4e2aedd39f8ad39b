/**
 * MCP's session tools against the real service on real containerd, driven by the MCP SDK's
 * own client with a bearer key: create a session, write a file, run code that reads it and
 * writes another, read that back (text and binary), list, close; another key cannot reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { connectMcp, textOf } from '../helpers/mcp.js';
import { containerIds, testRuntimes, useService } from '../helpers/real-service.js';

const ok = (r: unknown) => {
  const c = r as CallToolResult;
  if (c.isError) throw new Error(`tool failed: ${textOf(c)}`);
  return c.structuredContent as any;
};

describe.each(testRuntimes())('MCP session tools on %s', (runtime) => {
  let alice: Client;
  let bob: Client;

  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS });
  // Closed before the service (after-hooks run in reverse order).
  beforeAll(async () => {
    alice = await connectMcp(svc().url, TOKENS.alice);
    bob = await connectMcp(svc().url, TOKENS.bob);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
  });

  it('creates a session, writes a file, runs code on it, reads the result back and closes', async () => {
    const s = ok(await alice.callTool({ name: 'create_session', arguments: { idleTimeoutMs: 60_000 } }));
    expect(s.id).toMatch(/^kx-s-/);
    expect(Date.parse(s.expiresAt)).toBeGreaterThan(Date.now());
    const w = ok(await alice.callTool({ name: 'write_file', arguments: { session_id: s.id, path: 'in/numbers.txt', content: '1\n2\n3\n' } }));
    expect(w).toMatchObject({ path: 'in/numbers.txt', size: 6, session: { id: s.id } });
    const r = ok(
      await alice.callTool({
        name: 'execute_in_session',
        arguments: {
          session_id: s.id,
          language: 'python',
          code: 'n = [int(x) for x in open("in/numbers.txt")]\nopen("out/sum.txt", "w").write(str(sum(n)))\nopen("out/raw.bin", "wb").write(bytes([0, 255, 1]))\nprint("ok")',
          files: [{ path: 'out/.keep', content: '' }],
        },
      }),
    );
    expect(r).toMatchObject({ status: 'ok', stdout: 'ok\n', session: { id: s.id } });
    const text = await alice.callTool({ name: 'read_file', arguments: { session_id: s.id, path: 'out/sum.txt' } });
    expect(ok(text)).toMatchObject({ encoding: 'utf8', content: '6', size: 1 });
    expect(textOf(text as CallToolResult)).toBe('6');
    const bin = ok(await alice.callTool({ name: 'read_file', arguments: { session_id: s.id, path: 'out/raw.bin' } }));
    expect(bin).toMatchObject({ encoding: 'base64', size: 3 });
    expect(Buffer.from(bin.content, 'base64')).toEqual(Buffer.from([0, 255, 1]));
    const list = ok(await alice.callTool({ name: 'list_files', arguments: { session_id: s.id, path: 'out' } }));
    expect(list.entries.map((e: any) => e.path)).toEqual(['out/.keep', 'out/raw.bin', 'out/sum.txt']);

    // Bob's key does not see it; refusals are tool errors with the stable code.
    const theirs = (await bob.callTool({ name: 'read_file', arguments: { session_id: s.id, path: 'out/sum.txt' } })) as CallToolResult;
    expect(theirs.isError).toBe(true);
    expect(textOf(theirs)).toMatch(/^SESSION_NOT_FOUND: /);
    const missing = (await alice.callTool({ name: 'read_file', arguments: { session_id: s.id, path: 'nope.txt' } })) as CallToolResult;
    expect(textOf(missing)).toMatch(/^FILE_NOT_FOUND: /);

    ok(await alice.callTool({ name: 'close_session', arguments: { session_id: s.id } }));
    expect(containerIds()).not.toContain(s.id);
  });
});
