/**
 * /v1/sessions: create, list, read and delete sessions; execute in one (JSON or a stream of
 * server-sent events, as /v1/execute); its background processes. Files are in
 * session-files.ts (a raw-body plugin of its own). Every answer states the session's expiry:
 * in its body (`expiresAt`, or `session.expiresAt`) and in the `x-session-expires-at` header.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { SessionService } from '../../sessions/session-service.js';
import {
  CreateSessionRequest,
  Deleted,
  ProcessList,
  Session,
  SessionExecuteRequest,
  SessionExecuteResult,
  SessionList,
  StartedProcess,
  StartProcessRequest,
} from '../../schemas/sessions.js';
import { problemFor } from '../error-handler.js';
import { problemResponses } from '../responses.js';
import { SseWriter, streamExecution, wantsEventStream } from '../sse.js';

export interface SessionRouteOptions {
  sessions: SessionService;
  /** The per-key execution rate (shared with /v1/execute and MCP): counts session executions. */
  admitExecution: (request: FastifyRequest) => Promise<void>;
  streamCapBytes: number;
  writeTimeoutMs: number;
  onSlowClient?: () => void;
}

export const SessionParams = Type.Object({ id: Type.String({ maxLength: 64, description: 'The session id.' }) });

export const EXPIRES_HEADER = 'x-session-expires-at';
export const expiresHeader = {
  [EXPIRES_HEADER]: { type: 'string', format: 'date-time', description: 'When the session will be deleted unless used before.' },
};

export const sessionErrors = (extra: Record<number, string> = {}) =>
  problemResponses({
    400: 'VALIDATION_FAILED, LIMIT_EXCEEDED or PATH_NOT_ALLOWED.',
    401: 'UNAUTHORIZED.',
    403: 'HOST_NOT_ALLOWED.',
    404: 'SESSION_NOT_FOUND: no such session for this key (another key\'s session is not found either).',
    409: 'SESSION_BUSY: too many calls wait for this session (calls into one session run one at a time).',
    410: "SESSION_GONE: the session's sandbox died; the session was deleted.",
    429: 'SESSION_LIMIT, RATE_LIMITED or QUOTA_EXCEEDED; honour Retry-After.',
    500: 'INTERNAL.',
    502: "VM_EXECUTION_FAILED: the session's sandbox did not answer.",
    503: 'SHUTTING_DOWN, QUEUE_FULL, MEMORY_BUDGET_FULL or DAEMON_UNAVAILABLE; honour Retry-After.',
    ...extra,
  });

export const keyOf = (r: FastifyRequest) => r.apiKey ?? r.ip;

export function stateExpiry(reply: FastifyReply, expiresAt: string): void {
  reply.header(EXPIRES_HEADER, expiresAt);
}

export const sessionRoutes: FastifyPluginAsyncTypebox<SessionRouteOptions> = async (app, opts) => {
  const s = opts.sessions;

  app.post(
    '/v1/sessions',
    {
      schema: {
        operationId: 'createSession',
        summary: 'Create a session: one sandbox that stays up for many calls',
        description:
          "Starts a sandbox (a Kata VM, gVisor or runc, per the server) for this key, with the profile's security and these limits, fixed for its life. Files written under /code (the workspace) persist between calls. It is deleted after `idleTimeoutMs` without a call or at `maxLifetimeMs` after creation, whichever comes first (`expiresAt`), or by DELETE. Each key may have KATA_EXEC_SESSIONS_PER_KEY sessions.",
        tags: ['sessions'],
        body: CreateSessionRequest,
        response: { 201: { ...Session, description: 'The session, ready.' }, ...sessionErrors({ 422: 'PROFILE_NOT_SUPPORTED.' }) },
      },
    },
    async (request, reply) => {
      const session = await s.create(request.body, keyOf(request), request.id);
      stateExpiry(reply, session.expiresAt);
      return reply.code(201).send(session);
    },
  );

  app.get(
    '/v1/sessions',
    {
      schema: {
        operationId: 'listSessions',
        summary: "This key's sessions",
        tags: ['sessions'],
        response: { 200: SessionList, ...sessionErrors() },
      },
    },
    async (request) => ({ sessions: s.list(keyOf(request)) }),
  );

  app.get(
    '/v1/sessions/:id',
    {
      schema: {
        operationId: 'getSession',
        summary: 'One session, with its expiry',
        tags: ['sessions'],
        params: SessionParams,
        response: { 200: Session, ...sessionErrors() },
      },
    },
    async (request, reply) => {
      const session = s.get(request.params.id, keyOf(request));
      stateExpiry(reply, session.expiresAt);
      return session;
    },
  );

  app.delete(
    '/v1/sessions/:id',
    {
      schema: {
        operationId: 'deleteSession',
        summary: 'Delete a session and its sandbox',
        description: 'Waits for its running call, then deletes the sandbox: nothing of it is left on the host (container, task, snapshot, mounts, work directory, processes).',
        tags: ['sessions'],
        params: SessionParams,
        response: { 200: Deleted, ...sessionErrors() },
      },
    },
    async (request) => {
      await s.remove(request.params.id, keyOf(request), request.id);
      return { deleted: request.params.id };
    },
  );

  app.post(
    '/v1/sessions/:id/execute',
    {
      onRequest: async (request) => opts.admitExecution(request),
      schema: {
        operationId: 'executeInSession',
        summary: "Run code in a session's sandbox",
        description:
          "As POST /v1/execute (the same fields, statuses, usage and streaming with `Accept: text/event-stream`), in the session's sandbox: `code` and `files` are written into /code over what is there, and what the program writes there stays. A compiled language is compiled there first, and `tests` run there, as in POST /v1/execute (their memory limits at most the session's). The call's processes end with it (start a background process for one that must outlive it). Calls into one session run one at a time. The result has `session` {id, expiresAt}.",
        tags: ['sessions'],
        params: SessionParams,
        body: SessionExecuteRequest,
        response: {
          200: {
            description: 'The program ran (whatever its exit code).',
            headers: expiresHeader,
            content: {
              'application/json': { schema: SessionExecuteResult },
              'text/event-stream': { schema: { type: 'string', description: 'Server-sent events: start, stdout, stderr, then result or error.' } },
            },
          },
          ...sessionErrors({
            422: 'LANGUAGE_NOT_AVAILABLE, TIME_BUDGET_EXCEEDED (the compile and the tests cannot fit in the timeout) or NOT_SUPPORTED (a compile or tests in a session started by an older launcher).',
          }),
        },
      },
    },
    async (request, reply) => {
      const ac = new AbortController();
      const answered = new Promise<void>((resolve) => {
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) ac.abort();
          resolve();
        });
      });
      const streaming = wantsEventStream(request.headers.accept);
      const ctx = { requestId: request.id, key: keyOf(request), signal: ac.signal, answered, streaming };
      const id = request.params.id;
      if (!streaming) {
        const result = await s.execute(id, keyOf(request), request.body, ctx);
        stateExpiry(reply, result.session.expiresAt);
        return result;
      }
      const sse = new SseWriter(reply, request.body.limits?.outputBytes ?? opts.streamCapBytes, opts.writeTimeoutMs, opts.onSlowClient);
      await streamExecution(sse, request.id, (err) => problemFor(err, request).body, (hooks) => s.execute(id, keyOf(request), request.body, { ...ctx, ...hooks }));
      return reply;
    },
  );

  app.post(
    '/v1/sessions/:id/processes',
    {
      onRequest: async (request) => opts.admitExecution(request),
      schema: {
        operationId: 'startProcess',
        summary: 'Start a background process in a session',
        description:
          "Writes its files into /code and starts the program, which keeps running after this call (a server, a watcher) until stopped, until it ends, or until the session ends. Its output goes to `logFile` in the workspace, or nowhere. Every process it starts stays with it.",
        tags: ['sessions'],
        params: SessionParams,
        body: StartProcessRequest,
        response: { 201: StartedProcess, ...sessionErrors() },
      },
    },
    async (request, reply) => {
      const p = await s.startProcess(request.params.id, keyOf(request), request.body);
      stateExpiry(reply, p.session.expiresAt);
      return reply.code(201).send(p);
    },
  );

  app.get(
    '/v1/sessions/:id/processes',
    {
      schema: {
        operationId: 'listProcesses',
        summary: "A session's background processes",
        tags: ['sessions'],
        params: SessionParams,
        response: { 200: ProcessList, ...sessionErrors() },
      },
    },
    async (request, reply) => {
      const l = await s.listProcesses(request.params.id, keyOf(request));
      stateExpiry(reply, l.session.expiresAt);
      return l;
    },
  );

  app.delete(
    '/v1/sessions/:id/processes/:pid',
    {
      schema: {
        operationId: 'stopProcess',
        summary: 'Stop a background process (and every process it started)',
        tags: ['sessions'],
        params: Type.Object({ id: SessionParams.properties.id, pid: Type.String({ pattern: '^[0-9]{1,9}$', description: 'The process id from startProcess.' }) }),
        response: { 200: Deleted, ...sessionErrors() },
      },
    },
    async (request, reply) => {
      const r = await s.stopProcess(request.params.id, keyOf(request), Number(request.params.pid));
      stateExpiry(reply, r.session.expiresAt);
      return r;
    },
  );
};
