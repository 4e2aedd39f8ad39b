/**
 * One MCP server (the official SDK's) for one HTTP request to /mcp, answering with the
 * tools of ./tools.ts.
 *
 * The SDK's low-level `Server` rather than its `McpServer`: McpServer takes tool schemas
 * only as zod schemas and answers invalid arguments with its own text. Here the schemas
 * are the REST API's TypeBox schemas (the one source of truth for the wire types), given
 * as JSON Schema, and arguments are validated by the same rules as POST /v1/execute, with
 * its stable codes.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode as RpcErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { ExecuteContext } from '../../queue/execution-service.js';
import { TOOLS, TOOL_NAMES, callTool, isToolName, type ToolDeps } from './tools.js';

export const MCP_SERVER_INFO = { name: 'kata-exec', version: '0.1.0' } as const;

const INSTRUCTIONS =
  'kata-exec runs untrusted code in a brand-new sandbox per call (a Kata VM, gVisor or runc, per the server), with no network and bounded memory, CPU, processes, disk, output and time. Use run_code to run a program once (nothing persists between run_code calls); list_runtimes says which languages, versions, limits and profiles this server has. For work in steps, create_session makes a sandbox that stays up: execute_in_session runs code in it, write_file, read_file and list_files move files in and out of its workspace /code, and close_session deletes it (sessions also expire: every answer says when).';

export function createMcpServer(deps: ToolDeps, ctx: ExecuteContext): Server {
  const server = new Server(MCP_SERVER_INFO, { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...TOOLS] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args } = request.params;
    if (!isToolName(name)) {
      deps.onCall?.('unknown', 'UNKNOWN_TOOL');
      throw new McpError(RpcErrorCode.InvalidParams, `unknown tool "${name}"; tools: ${TOOL_NAMES.join(', ')}`);
    }
    // The client cancelling the call (notifications/cancelled) or going away ends its sandbox.
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, extra.signal]) : extra.signal;
    return callTool(name, args, deps, { ...ctx, signal });
  });
  return server;
}
