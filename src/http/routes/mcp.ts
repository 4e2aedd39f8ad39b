/**
 * /mcp: the Model Context Protocol over Streamable HTTP (the official SDK's transport),
 * with the tools of src/http/mcp/tools.ts. It sits behind the same onRequest hooks as
 * /v1/*: API keys (401 without a valid one), the Host check when authentication is off,
 * and the per-address limit on failed authentications. The per-key rate limit counts
 * run_code calls, as /v1/execute counts requests, and each call goes through the one
 * ExecutionService, so the queue, the per-key quota and the memory budget apply unchanged.
 *
 * Stateless mode (no Mcp-Session-Id): every POST gets its own SDK server and transport,
 * built in microseconds, and nothing is kept between requests. There is nothing to keep:
 * each tool call is complete in itself; no server-initiated messages are sent, so GET (the
 * standalone SSE stream) and DELETE (ending an MCP session) answer 405, as the MCP
 * specification allows. Any instance behind a load balancer can answer any request, and a
 * restart loses nothing. kata-exec's own sessions (create_session and the other session
 * tools) are resources with ids passed as tool arguments, not MCP transport sessions.
 *
 * JSON answers (enableJsonResponse) rather than an SSE stream: a call has exactly one
 * message to send back, its result, and a plain JSON answer lets the write timeout and the
 * release of the quota place and memory reservation work exactly as on /v1/execute.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Catalog } from '../../host/catalog.js';
import type { ExecutionService } from '../../queue/execution-service.js';
import type { SessionService } from '../../sessions/session-service.js';
import { HostNotAllowedError } from '../../errors.js';
import { originAllowed } from '../host-check.js';
import { armWriteTimeout } from '../write-timeout.js';
import { createMcpServer } from '../mcp/server.js';

export interface McpRouteOptions {
  service: ExecutionService;
  sessions: SessionService;
  /** Host names a browser's Origin may name besides the request's own Host (host-check.ts). */
  allowedOrigins: ReadonlySet<string>;
  catalog: Catalog;
  /** The per-key execution rate, shared with /v1/execute: throws RateLimitedError past it. */
  admitExecution: (request: FastifyRequest) => Promise<void>;
  /** How long a client may leave its answer untaken. */
  writeTimeoutMs: number;
  onSlowClient?: () => void;
  onToolCall?: (tool: string, outcome: string) => void;
}

/** A JSON-RPC error answer outside any request (the transport's own shape for these). */
function rpcError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).header('allow', 'POST').send({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

export const mcpRoutes: FastifyPluginAsync<McpRouteOptions> = async (app, opts) => {
  const keyOf = (r: FastifyRequest) => r.apiKey ?? r.ip;

  // A browser page of another site must not drive the tools (MCP: servers validate Origin).
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin;
    if (!originAllowed(Array.isArray(origin) ? origin[0] : origin, request.headers.host, opts.allowedOrigins)) {
      throw new HostNotAllowedError('this Origin is not one the service answers to: a web page of another site may not call /mcp; add its host name to KATA_EXEC_ALLOWED_HOSTS');
    }
  });

  app.post('/mcp', { schema: { hide: true } }, async (request, reply) => {
    const ac = new AbortController();
    const answered = new Promise<void>((resolve) => {
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) ac.abort();
        resolve();
      });
    });
    const server = createMcpServer(
      {
        service: opts.service,
        sessions: opts.sessions,
        catalog: opts.catalog,
        admitExecution: () => opts.admitExecution(request),
        ...(opts.onToolCall ? { onCall: opts.onToolCall } : {}),
        onInternalError: (err) => request.log.error({ err }, 'mcp tool failed'),
      },
      { requestId: request.id, key: keyOf(request), signal: ac.signal, answered },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.raw.once('close', () => {
      void transport.close();
      void server.close();
    });
    // The transport writes the answer itself; Fastify's onSend hooks do not run for it.
    reply.hijack();
    reply.raw.setHeader('x-request-id', request.id);
    try {
      await server.connect(transport);
      // Fastify has parsed (and size-checked) the JSON body already.
      await transport.handleRequest(request.raw, reply.raw, request.body);
      armWriteTimeout(reply.raw, opts.writeTimeoutMs, opts.onSlowClient);
    } catch (err) {
      request.log.error({ err }, 'mcp request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: `internal error; quote request id ${request.id}` }, id: null }));
      } else reply.raw.destroy();
    }
  });

  const notAllowed = async (_request: FastifyRequest, reply: FastifyReply) =>
    rpcError(reply, 405, 'this MCP server is stateless: send each request as a POST; there is no standalone stream and no MCP session to end');
  app.get('/mcp', { schema: { hide: true } }, notAllowed);
  app.delete('/mcp', { schema: { hide: true } }, notAllowed);
};
