import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Catalog } from '../../runner/catalog.js';
import { RuntimesInfo } from '../../schemas/runtimes.js';

export const runtimesRoutes: FastifyPluginAsyncTypebox<{ catalog: Catalog }> = async (app, opts) => {
  app.get(
    '/v1/runtimes',
    {
      schema: {
        operationId: 'runtimes',
        summary: 'What this service runs: languages and versions, sandbox runtimes, limits',
        description:
          'The languages of the sandbox image with the versions recorded in the image, the sandbox runtimes this host really has (and which one is active), every limit\'s default and maximum, and the profiles.',
        tags: ['execute'],
        response: { 200: RuntimesInfo },
      },
    },
    async () => opts.catalog.describe(),
  );
};
