/** @fastify/swagger: the OpenAPI 3.1 document is generated from the routes' TypeBox schemas. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const OPENAPI_INFO = {
  title: 'kata-exec',
  description:
    'Runs untrusted code in a brand-new sandbox per request (a Kata Containers VM, gVisor or runc, through containerd) and answers with what it printed. Errors are RFC 9457 problem details with a stable `code`.',
  version: '0.1.0',
};

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key (when the server has KATA_EXEC_API_KEYS).' } },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'execute', description: 'Run code.' },
        { name: 'health', description: 'Probes and metrics.' },
        { name: 'judge0', description: "Judge0 CE's API (wait=true), for clients that switch by changing a URL." },
      ],
    },
  });
}

/** Swagger UI at /docs, on the same document ("Try it out" runs real executions). */
export async function registerSwaggerUi(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true } });
}

export function registerOpenApiRoute(app: FastifyInstance): void {
  app.get(
    '/openapi.json',
    { schema: { hide: true } },
    async () => app.swagger(),
  );
}
