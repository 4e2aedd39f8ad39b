/**
 * buildApp(deps): Fastify with the TypeBox provider, the OpenAPI plugin and the routes.
 * It never listens and never reads the environment: server.ts does both; tests call
 * buildApp with fakes and use app.inject.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { ExecutionService } from './queue/execution-service.js';
import type { Catalog } from './host/catalog.js';
import type { HealthChecker } from './sandbox/types.js';
import rateLimit from '@fastify/rate-limit';
import { registerAuth } from './http/auth.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerOpenApi, registerOpenApiRoute, registerSwaggerUi } from './http/openapi.js';
import { executeRoutes } from './http/routes/execute.js';
import { healthRoutes } from './http/routes/health.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { runtimesRoutes } from './http/routes/runtimes.js';
import { newExecutionId } from './execution/executor.js';
import { RateLimitedError } from './errors.js';

export interface AppDeps {
  config: Pick<Config, 'bodyLimitBytes' | 'apiKeys' | 'rateLimitPerMinute' | 'limits'>;
  /** A pino logger, or false for none (tests). */
  logger: FastifyBaseLogger | false;
  service: ExecutionService;
  health: HealthChecker;
  catalog: Catalog;
  metrics: Metrics;
  isDraining?: () => boolean;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.config.bodyLimitBytes,
    genReqId: () => newExecutionId().replace(/^kx-/, 'req-'),
    requestIdHeader: false,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: any other body is a 415, not a schema error about a string.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  registerAuth(app, deps.config.apiKeys);
  // Per key (or per client address without keys), only where a route asks for it.
  await app.register(rateLimit, { global: false, errorResponseBuilder: (_req, ctx) => new RateLimitedError(Math.ceil(ctx.ttl / 1000)) });
  await registerOpenApi(app);
  await registerSwaggerUi(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(executeRoutes, {
    service: deps.service,
    rateLimitPerMinute: deps.config.rateLimitPerMinute,
    streamCapBytes: deps.config.limits.outputBytes.default,
  });
  await app.register(runtimesRoutes, { catalog: deps.catalog });
  await app.register(healthRoutes, { health: deps.health, isDraining: deps.isDraining ?? (() => false) });
  await app.register(metricsRoutes, { metrics: deps.metrics });
  registerOpenApiRoute(app);
  await app.ready();
  return app;
}
