import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Metrics } from '../../metrics.js';

export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: Metrics }> = async (app, opts) => {
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['health'],
        security: [],
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text format.' }) },
      },
    },
    async (_request, reply) => {
      reply.type(opts.metrics.registry.contentType);
      return opts.metrics.registry.metrics();
    },
  );
};
