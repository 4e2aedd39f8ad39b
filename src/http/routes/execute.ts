import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody } from '../../schemas/common.js';
import { ExecuteRequest, ExecuteResult } from '../../schemas/execute.js';
import type { ExecutionService } from '../../queue/execution-service.js';

export interface ExecuteRouteOptions {
  service: ExecutionService;
}

const errorResponses = Object.fromEntries(
  [
    [400, 'Invalid request: VALIDATION_FAILED, UNKNOWN_LANGUAGE, LIMIT_EXCEEDED or INVALID_SPEC.'],
    [413, 'PAYLOAD_TOO_LARGE: the body is over the size limit; no sandbox was created.'],
    [415, 'UNSUPPORTED_MEDIA_TYPE: send application/json.'],
    [422, 'SECURITY_VIOLATION or PROFILE_NOT_SUPPORTED.'],
    [500, 'INTERNAL or RUNNER_NOT_CONFIGURED.'],
    [502, 'VM_CREATION_FAILED or VM_EXECUTION_FAILED: the sandbox itself failed.'],
    [503, 'QUEUE_FULL, SHUTTING_DOWN, DAEMON_UNAVAILABLE, KATA_NOT_AVAILABLE, RUNTIME_NOT_INSTALLED or IMAGE_NOT_FOUND; honour Retry-After when present.'],
  ].map(([status, description]) => [
    status,
    {
      description,
      ...(status === 503 ? { headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' } } } : {}),
      content: { 'application/problem+json': { schema: ErrorBody } },
    },
  ]),
);

export const executeRoutes: FastifyPluginAsyncTypebox<ExecuteRouteOptions> = async (app, opts) => {
  app.post(
    '/v1/execute',
    {
      schema: {
        operationId: 'execute',
        summary: 'Run code in a brand-new sandbox and return what it printed',
        description:
          'Creates a fresh sandbox (a Kata VM, gVisor or runc, per the server), runs `code` in it, deletes it, and answers with stdout, stderr, the exit code and the duration. A program that fails is still a 200: look at `status` and `exitCode`. Only failures of the service itself are 4xx/5xx.',
        tags: ['execute'],
        body: ExecuteRequest,
        response: { 200: { ...ExecuteResult, description: 'The program ran (whatever its exit code).' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      // The client going away kills its sandbox and frees its slot.
      const ac = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) ac.abort();
      });
      return opts.service.execute(request.body, { requestId: request.id, signal: ac.signal });
    },
  );
};
