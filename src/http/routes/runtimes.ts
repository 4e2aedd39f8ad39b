import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Catalog } from '../../host/catalog.js';
import { RuntimesInfo } from '../../schemas/runtimes.js';
import { problemResponses } from '../responses.js';

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
        response: {
          200: RuntimesInfo,
          ...problemResponses({
            401: 'UNAUTHORIZED: API keys are configured and the request has no valid `Authorization: Bearer <key>`.',
            429: 'RATE_LIMITED; honour Retry-After.',
            500: 'INTERNAL.',
          }),
        },
      },
    },
    async () => opts.catalog.describe(),
  );
};
