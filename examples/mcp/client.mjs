#!/usr/bin/env node
/**
 * A tiny MCP client for kata-exec, with the official SDK (npm i @modelcontextprotocol/sdk).
 *
 *   KATA_EXEC_URL=http://localhost:8080 node examples/mcp/client.mjs
 *   KATA_EXEC_TOKEN=kx_... node examples/mcp/client.mjs bash 'echo hi; exit 3'
 *
 * Settings (environment):
 *   KATA_EXEC_URL     the service (default http://localhost:8080); MCP is at /mcp
 *   KATA_EXEC_TOKEN   an API key, sent as "Authorization: Bearer <token>" (when the
 *                     service has KATA_EXEC_API_KEYS)
 *
 * Arguments: [LANGUAGE CODE] (default: python "print(6*7)"). It connects, lists the tools,
 * calls run_code once and prints the tool's text. Exits 1 when the tool call is refused (the
 * text starts with the stable error code) or the program does not end with status "ok",
 * and 2 when the service cannot be reached or refuses the connection (e.g. 401).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const baseUrl = (process.env.KATA_EXEC_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
const token = process.env.KATA_EXEC_TOKEN ?? '';
const [language = 'python', code = 'print(6*7)'] = process.argv.slice(2);

const client = new Client({ name: 'kata-exec-example', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
  requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
});

try {
  await client.connect(transport);
} catch (err) {
  console.error(`cannot connect to ${baseUrl}/mcp: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}

try {
  const { tools } = await client.listTools();
  console.log(`tools: ${tools.map((t) => t.name).join(', ')}`);

  const result = await client.callTool({ name: 'run_code', arguments: { language, code } });
  const text = result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
  if (result.isError) {
    // e.g. "UNKNOWN_LANGUAGE: unknown language ..." - program against the code before the colon.
    console.error(`refused: ${text}`);
    process.exitCode = 1;
  } else {
    console.log(text);
    // The same result as POST /v1/execute, as structured data.
    if (result.structuredContent?.status !== 'ok') process.exitCode = 1;
  }
} finally {
  await client.close();
}
