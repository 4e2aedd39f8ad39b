/**
 * Every 4xx and 5xx leaves through here as RFC 9457 problem details with a stable code.
 * Bodies never carry a stack, an argv or a host path: unknown errors become INTERNAL and
 * their detail stays in the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, isKataExecError, type FieldError, UnknownLanguageError } from '../errors.js';
import type { ErrorBody } from '../schemas/common.js';
import { statusOfCode } from './error-map.js';
import { STATUS_CODES } from 'node:http';

export function problem(code: ErrorCode, detail: string, extra: Partial<ErrorBody> = {}): ErrorBody {
  const status = statusOfCode(code);
  return {
    type: `urn:kata-exec:error:${code.toLowerCase().replaceAll('_', '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code,
    detail,
    ...extra,
  };
}

export function sendProblem(reply: FastifyReply, body: ErrorBody, retryAfterSeconds?: number): FastifyReply {
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** Schema errors (ajv's, from Fastify or /mcp's run_code) as the fields of a problem body. */
export function fieldsFromValidation(validation: NonNullable<FastifyError['validation']>): FieldError[] {
  return validation.map((v) => {
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    let path = v.instancePath || '';
    if (params.missingProperty) path += `/${params.missingProperty}`;
    if (params.additionalProperty) path += `/${params.additionalProperty}`;
    const message = params.additionalProperty ? 'is not a known field' : (v.message ?? 'is invalid');
    return { path: path || '/', message };
  });
}

/** The problem body (and Retry-After) for any error; unknown ones become INTERNAL and are logged. */
export function problemFor(err: unknown, request: FastifyRequest): { body: ErrorBody; retryAfterSeconds?: number } {
  if (isKataExecError(err)) {
    const status = statusOfCode(err.code);
    if (status >= 500) request.log.error({ err, cause: err.cause }, err.message);
    else request.log.info({ code: err.code }, err.message);
    const extra: Partial<ErrorBody> = {};
    if (err.fields) extra.errors = err.fields;
    if (err instanceof UnknownLanguageError) extra.known = err.known;
    return { body: problem(err.code, err.message, extra), ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) };
  }
  const e = err as FastifyError;
  if (e?.validation) {
    const fields = fieldsFromValidation(e.validation);
    const detail = `invalid request: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`;
    return { body: problem(ErrorCode.ValidationFailed, detail, { errors: fields }) };
  }
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { body: problem(ErrorCode.PayloadTooLarge, 'the request body is larger than this service accepts') };
  }
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { body: problem(ErrorCode.UnsupportedMediaType, 'send the body as application/json') };
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500 && typeof e.message === 'string') {
    // Fastify's own client errors: malformed JSON, empty body...
    return { body: problem(ErrorCode.ValidationFailed, e.message.replace(/(^|[\s'"(=])\/[^\s'"]+/g, '$1<path>')) };
  }
  request.log.error({ err }, 'unhandled error');
  return { body: problem(ErrorCode.Internal, `internal error; quote request id ${request.id}`) };
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const p = problemFor(err, request);
    return sendProblem(reply, p.body, p.retryAfterSeconds);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(ErrorCode.NotFound, `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
