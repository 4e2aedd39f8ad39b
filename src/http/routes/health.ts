import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { HealthChecker } from '../../sandbox/types.js';

export interface HealthRouteOptions {
  health: HealthChecker;
  /** True once shutdown began: readiness turns 503 so that load balancers stop sending. */
  isDraining: () => boolean;
}

const Check = Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready'), Type.Literal('draining')]),
  checks: Type.Array(Check),
});

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRouteOptions> = async (app, opts) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'healthz',
        summary: 'Liveness: the process answers',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readyz',
        summary: 'Readiness: containerd answers, the runtime is installed and the image is present',
        tags: ['health'],
        security: [],
        response: {
          200: { ...Readiness, description: 'Ready to execute.' },
          503: { ...Readiness, description: 'Not ready; `checks` says why.' },
        },
      },
    },
    async (_request, reply) => {
      if (opts.isDraining()) {
        reply.header('retry-after', '5');
        return reply.code(503).send({ status: 'draining' as const, checks: [{ name: 'shutdown', ok: false, detail: 'the service is draining' }] });
      }
      const report = await opts.health.check();
      if (!report.ok) reply.code(503);
      return { status: report.ok ? ('ready' as const) : ('not_ready' as const), checks: report.checks };
    },
  );
};
