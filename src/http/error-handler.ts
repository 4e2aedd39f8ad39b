/**
 * Every 4xx and 5xx leaves through here as RFC 9457 problem details with a stable code.
 * Bodies never carry a stack, an argv or a host path: unknown errors become INTERNAL and
 * their detail stays in the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, isKataExecError, type FieldError } from '../errors.js';
import type { ErrorBody } from '../schemas/common.js';
import { UnknownLanguageError } from '../runner/executor.js';
import { EXTRA_CODES, statusOfCode } from './error-map.js';
import { STATUS_CODES } from 'node:http';

export function problem(code: string, detail: string, extra: Partial<ErrorBody> = {}): ErrorBody {
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

function fieldsFromValidation(err: FastifyError): FieldError[] {
  return (err.validation ?? []).map((v) => {
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    let path = v.instancePath || '';
    if (params.missingProperty) path += `/${params.missingProperty}`;
    if (params.additionalProperty) path += `/${params.additionalProperty}`;
    const message = params.additionalProperty ? 'is not a known field' : (v.message ?? 'is invalid');
    return { path: path || '/', message };
  });
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (isKataExecError(err)) {
      const status = statusOfCode(err.code);
      if (status >= 500) request.log.error({ err, cause: err.cause }, err.message);
      else request.log.info({ code: err.code }, err.message);
      const extra: Partial<ErrorBody> = {};
      if (err.fields) extra.errors = err.fields;
      if (err instanceof UnknownLanguageError) extra.known = err.known;
      return sendProblem(reply, problem(err.code, err.message, extra), err.retryAfterSeconds);
    }
    if (err.validation) {
      const fields = fieldsFromValidation(err);
      const detail = `invalid request: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`;
      return sendProblem(reply, problem(ErrorCode.ValidationFailed, detail, { errors: fields }));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendProblem(reply, problem(ErrorCode.PayloadTooLarge, 'the request body is larger than this service accepts'));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendProblem(reply, problem(EXTRA_CODES.UnsupportedMediaType, 'send the body as application/json'));
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      // Fastify's own client errors: malformed JSON, empty body...
      return sendProblem(reply, problem(ErrorCode.ValidationFailed, err.message.replace(/(^|[\s'"(=])\/[^\s'"]+/g, '$1<path>')));
    }
    request.log.error({ err }, 'unhandled error');
    return sendProblem(reply, problem(ErrorCode.Internal, `internal error; quote request id ${request.id}`));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(ErrorCode.NotFound, `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
