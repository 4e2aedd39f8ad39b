/**
 * API keys as bearer tokens. Keys are configured as SHA-256 hashes with a name; a token
 * is hashed and compared with every key in constant time, so neither the tokens nor the
 * timing of a comparison tell anything. Without keys, authentication is off (the service
 * then stays on loopback unless told otherwise, and says so loudly at start).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The name of the API key that authenticated this request, if any. */
    apiKey: string | null;
  }
}

/** Routes anyone may call: probes, metrics, the API description. */
const OPEN = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/.*)?$/];

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The key name whose hash matches the token, comparing every key in constant time. */
export function matchKey(token: string, keys: readonly { name: string; sha256: string }[]): string | null {
  const h = hashToken(token);
  let found: string | null = null;
  for (const k of keys) {
    if (timingSafeEqual(h, Buffer.from(k.sha256, 'hex')) && found === null) found = k.name;
  }
  return found;
}

export function registerAuth(app: FastifyInstance, keys: readonly { name: string; sha256: string }[]): void {
  app.decorateRequest('apiKey', null);
  if (keys.length === 0) return;
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (OPEN.some((re) => re.test(path))) return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const name = m ? matchKey(m[1]!, keys) : null;
    if (!name) {
      reply.header('www-authenticate', 'Bearer realm="kata-exec"');
      throw new UnauthorizedError(m ? 'the API key is not valid' : 'send the API key as "Authorization: Bearer <key>"');
    }
    request.apiKey = name;
  });
}
