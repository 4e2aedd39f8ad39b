/** The MCP SDK's own client against /mcp, as an agent would connect. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExecuteResult } from '../../src/schemas/execute.js';

/** Connects (initialize + initialized) to `${baseUrl}/mcp`, with a bearer token if given. */
export async function connectMcp(baseUrl: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'kata-exec-tests', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
    ...(token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}),
  });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's one text block. */
export function textOf(r: CallToolResult): string {
  const [block, ...rest] = r.content;
  if (rest.length > 0 || block?.type !== 'text') throw new Error(`expected one text block, got ${JSON.stringify(r.content)}`);
  return block.text;
}

/** run_code's structured result, failing the test when the call was a tool error. */
export function executeResultOf(r: CallToolResult): ExecuteResult {
  if (r.isError) throw new Error(`run_code failed: ${textOf(r)}`);
  return r.structuredContent as unknown as ExecuteResult;
}
