/**
 * buildApp(deps): Fastify with the TypeBox provider, the OpenAPI plugin and the routes.
 * It never listens and never reads the environment: server.ts does both; tests call
 * buildApp with fakes and use app.inject.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { ExecutionService } from './queue/execution-service.js';
import type { Catalog } from './host/catalog.js';
import type { HealthChecker } from './sandbox/types.js';
import rateLimit from '@fastify/rate-limit';
import { registerAuth } from './http/auth.js';
import { registerErrorHandling } from './http/error-handler.js';
import { allowedHostNames, registerHostCheck } from './http/host-check.js';
import { serializeRequest } from './http/log.js';
import { armWriteTimeout } from './http/write-timeout.js';
import { registerOpenApi, registerOpenApiRoute, registerSwaggerUi } from './http/openapi.js';
import { executeRoutes } from './http/routes/execute.js';
import { healthRoutes } from './http/routes/health.js';
import { judge0Routes } from './http/routes/judge0.js';
import { mcpRoutes } from './http/routes/mcp.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { runtimesRoutes } from './http/routes/runtimes.js';
import { sessionRoutes } from './http/routes/sessions.js';
import { sessionFileRoutes } from './http/routes/session-files.js';
import { SessionService } from './sessions/session-service.js';
import type { Logger } from './sandbox/types.js';
import { newExecutionId } from './execution/executor.js';
import { RateLimitedError } from './errors.js';

export interface AppDeps {
  config: Pick<
    Config,
    | 'bodyLimitBytes'
    | 'apiKeys'
    | 'rateLimitPerMinute'
    | 'limits'
    | 'host'
    | 'allowedHosts'
    | 'trustProxy'
    | 'authFailuresPerMinute'
    | 'timeouts'
    | 'sessions'
    | 'outputFiles'
    | 'judge'
    | 'memoryBudgetBytes'
  >;
  /** A pino logger, or false for none (tests). */
  logger: FastifyBaseLogger | false;
  service: ExecutionService;
  /** Sessions (service.ts wires the real ones); absent: none can be created (RUNNER_NOT_CONFIGURED). */
  sessions?: SessionService;
  health: HealthChecker;
  catalog: Catalog;
  metrics: Metrics;
  isDraining?: () => boolean;
}

/** A hop count trusts that many proxies nearest the service; a list trusts those addresses. */
function trustProxyOption(v: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof v === 'number' ? (_address, hop) => hop < v : v;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const t = deps.config.timeouts;
  const app = Fastify({
    // Requests are logged without their query string (src/http/log.ts).
    ...(deps.logger ? { loggerInstance: deps.logger.child({}, { serializers: { req: serializeRequest } }) } : { logger: false }),
    bodyLimit: deps.config.bodyLimitBytes,
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // Slow clients: the headers, then the whole request, must arrive in time (the execution
    // itself is not counted); idle keep-alive connections close. Node checks every interval.
    keepAliveTimeout: t.keepAliveMs,
    requestTimeout: t.requestMs,
    http: {
      headersTimeout: t.headersMs,
      requestTimeout: t.requestMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(t.headersMs / 4))),
    },
    genReqId: () => newExecutionId().replace(/^kx-/, 'req-'),
    requestIdHeader: false,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: any other body is a 415, not a schema error about a string.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  registerAuth(app, deps.config.apiKeys, {
    failuresPerMinute: deps.config.authFailuresPerMinute,
    onRefused: (outcome) => deps.metrics.authFailures.inc({ outcome }),
  });
  if (deps.config.apiKeys.length === 0) registerHostCheck(app, deps.config.host, deps.config.allowedHosts);
  // Per key (or per client address without keys), only where a route asks for it.
  await app.register(rateLimit, { global: false, errorResponseBuilder: (_req, ctx) => new RateLimitedError(Math.ceil(ctx.ttl / 1000)) });
  await registerOpenApi(app);
  await registerSwaggerUi(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // The answer is about to be written: the client has the write timeout to take it.
    armWriteTimeout(reply.raw, t.writeMs, () => deps.metrics.slowClients.inc());
  });

  // One window per key for every way in to an execution: /v1/execute and MCP's run_code.
  const limiter =
    deps.config.rateLimitPerMinute > 0
      ? app.createRateLimit({ max: deps.config.rateLimitPerMinute, timeWindow: 60_000, keyGenerator: (r) => r.apiKey ?? r.ip })
      : null;
  const admitExecution = async (request: FastifyRequest): Promise<void> => {
    const r = limiter ? await limiter(request) : null;
    if (r && !r.isAllowed && r.isExceeded) throw new RateLimitedError(Math.max(1, r.ttlInSeconds));
  };
  const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };
  const sessions =
    deps.sessions ??
    new SessionService({ config: deps.config, executor: deps.service.executor, executions: deps.service, runner: null, ctr: null, metrics: deps.metrics, logger: quiet, instanceId: 'none' });
  await app.register(executeRoutes, {
    service: deps.service,
    admitExecution,
    streamCapBytes: deps.config.limits.outputBytes.default,
    writeTimeoutMs: t.writeMs,
    onSlowClient: () => deps.metrics.slowClients.inc(),
  });
  await app.register(sessionRoutes, {
    sessions,
    admitExecution,
    streamCapBytes: deps.config.limits.outputBytes.default,
    writeTimeoutMs: t.writeMs,
    onSlowClient: () => deps.metrics.slowClients.inc(),
  });
  await app.register(sessionFileRoutes, { sessions, fileMaxBytes: deps.config.sessions.fileMaxBytes });
  await app.register(runtimesRoutes, { catalog: deps.catalog });
  await app.register(judge0Routes, {
    service: deps.service,
    catalog: deps.catalog,
    admitExecution,
    config: { limits: deps.config.limits, judge: deps.config.judge, memoryBudgetBytes: deps.config.memoryBudgetBytes },
  });
  await app.register(mcpRoutes, {
    service: deps.service,
    sessions,
    catalog: deps.catalog,
    allowedOrigins: allowedHostNames(deps.config.host, deps.config.allowedHosts),
    admitExecution,
    writeTimeoutMs: t.writeMs,
    onSlowClient: () => deps.metrics.slowClients.inc(),
    onToolCall: (tool, outcome) => deps.metrics.mcpToolCalls.inc({ tool, outcome }),
  });
  await app.register(healthRoutes, { health: deps.health, isDraining: deps.isDraining ?? (() => false) });
  await app.register(metricsRoutes, { metrics: deps.metrics });
  registerOpenApiRoute(app);
  await app.ready();
  return app;
}
