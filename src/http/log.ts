/**
 * What a request looks like in the log. The query string is never written: it could hold
 * a token or a secret a client put in a URL by mistake. `?[redacted]` says one was there.
 */
import type { FastifyRequest } from 'fastify';

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?[redacted]`;
}

export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url ?? ''),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket ? req.socket.remotePort : undefined,
  };
}
