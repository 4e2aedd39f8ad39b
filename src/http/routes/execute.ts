import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { ExecuteRequest, ExecuteResult } from '../../schemas/execute.js';
import type { ExecutionService } from '../../queue/execution-service.js';
import { problemFor } from '../error-handler.js';
import { problemResponses } from '../responses.js';
import { SseWriter, streamExecution, wantsEventStream } from '../sse.js';

export interface ExecuteRouteOptions {
  service: ExecutionService;
  /** The per-key execution rate, shared with MCP's run_code: throws RateLimitedError past it. */
  admitExecution: (request: FastifyRequest) => Promise<void>;
  /** Cap of each stream's live output when streaming (the server default output cap). */
  streamCapBytes: number;
  /** How long a client may leave written events or its answer untaken. */
  writeTimeoutMs: number;
  onSlowClient?: () => void;
}

const errorResponses = problemResponses({
  400: 'Invalid request: VALIDATION_FAILED, UNKNOWN_LANGUAGE, LIMIT_EXCEEDED or INVALID_SPEC.',
  401: 'UNAUTHORIZED: API keys are configured and the request has no valid `Authorization: Bearer <key>`.',
  403: 'HOST_NOT_ALLOWED: authentication is off and the Host header is not an allowed name (DNS rebinding defence).',
  413: 'PAYLOAD_TOO_LARGE: the body is over the size limit; no sandbox was created.',
  415: 'UNSUPPORTED_MEDIA_TYPE: send application/json.',
  422: 'SECURITY_VIOLATION, PROFILE_NOT_SUPPORTED, LANGUAGE_NOT_AVAILABLE (the sandbox image does not hold the language), TIME_BUDGET_EXCEEDED (the compile and the tests cannot fit in the timeout) or NOT_SUPPORTED (what this service does not do together, e.g. a compile in a session started by an older launcher).',
  429: 'RATE_LIMITED (executions, or failed authentications from this address) or QUOTA_EXCEEDED for this key; honour Retry-After.',
  500: 'INTERNAL or RUNNER_NOT_CONFIGURED.',
  502: 'VM_CREATION_FAILED or VM_EXECUTION_FAILED: the sandbox itself failed.',
  503: 'QUEUE_FULL, MEMORY_BUDGET_FULL, SHUTTING_DOWN, DAEMON_UNAVAILABLE, KATA_NOT_AVAILABLE, RUNTIME_NOT_INSTALLED, IMAGE_NOT_FOUND or IMAGE_INCOMPATIBLE; honour Retry-After when present.',
});

export const executeRoutes: FastifyPluginAsyncTypebox<ExecuteRouteOptions> = async (app, opts) => {
  app.post(
    '/v1/execute',
    {
      // After authentication (global hooks run first), before the body is read.
      onRequest: async (request) => opts.admitExecution(request),
      schema: {
        operationId: 'execute',
        summary: 'Run code in a brand-new sandbox and return what it printed',
        description:
          'Creates a fresh sandbox (a Kata VM, gVisor or runc, per the server), runs the program in it, deletes it, and answers with stdout, stderr, the exit code and the duration. A program that fails is still a 200: look at `status` and `exitCode`. Only failures of the service itself are 4xx/5xx.\n\nWith `Accept: text/event-stream` the answer is a stream of server-sent events instead: `start` {id}, `stdout` and `stderr` {data} as the program writes, then one `result` (this same body) or one `error` (a problem body). Refusals before the execution starts stay ordinary problem responses.\n\nA compiled language is compiled in the sandbox first (`compile` in the answer; status `compile_error` and no run when it fails). With `tests` the program runs once per test, each with its own stdin and limits, and the answer has each test\'s verdict, the overall `verdict` and `summary`; streamed output events then say their `phase` (compile, test with `test`, run).',
        tags: ['execute'],
        body: ExecuteRequest,
        response: {
          200: {
            description: 'The program ran (whatever its exit code).',
            content: {
              'application/json': { schema: ExecuteResult },
              'text/event-stream': {
                schema: { type: 'string', description: 'Server-sent events: start, stdout, stderr, then result or error.' },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      // The client going away kills its sandbox and frees its slot.
      // Its answer counts against the key's quota and the memory budget until written or abandoned.
      const ac = new AbortController();
      const answered = new Promise<void>((resolve) => {
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) ac.abort();
          resolve();
        });
      });
      const streaming = wantsEventStream(request.headers.accept);
      const ctx = { requestId: request.id, key: request.apiKey ?? request.ip, signal: ac.signal, answered, streaming };
      if (!streaming) return opts.service.execute(request.body, ctx);

      const sse = new SseWriter(reply, request.body.limits?.outputBytes ?? opts.streamCapBytes, opts.writeTimeoutMs, opts.onSlowClient);
      await streamExecution(sse, request.id, (err) => problemFor(err, request).body, (hooks) => opts.service.execute(request.body, { ...ctx, ...hooks }));
      return reply;
    },
  );
};
