/**
 * API keys as bearer tokens. Keys are configured as SHA-256 hashes with a name; a token
 * is hashed and compared with every key in constant time, so neither the tokens nor the
 * timing of a comparison tell anything. Without keys, authentication is off (the service
 * then stays on loopback unless told otherwise, and says so loudly at start).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RateLimitedError, UnauthorizedError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The name of the API key that authenticated this request, if any. */
    apiKey: string | null;
  }
}

/** Routes anyone may call: probes, metrics, the API description. */
const OPEN = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/.*)?$/];

/** Judge0 clients send their token as X-Auth-Token: taken like a bearer token, on /judge0 only. */
function judge0Token(path: string, header: string | string[] | undefined): string {
  return path.startsWith('/judge0/') && typeof header === 'string' && header.trim() ? `Bearer ${header.trim()}` : '';
}

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

/**
 * Failed authentications per client address in fixed one-minute windows: past the limit an
 * address gets 429 before its token is even looked at, so keys cannot be guessed at speed.
 * At most MAX_TRACKED addresses are kept; past that, expired windows go first, then all.
 */
export class AuthFailureLimiter {
  static readonly MAX_TRACKED = 10_000;
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again, or 0 when it may now. */
  blockedFor(address: string): number {
    const w = this.windows.get(address);
    if (!w || w.resetAt <= this.now()) return 0;
    return w.count >= this.perMinute ? Math.max(1, Math.ceil((w.resetAt - this.now()) / 1000)) : 0;
  }

  fail(address: string): void {
    const t = this.now();
    const w = this.windows.get(address);
    if (w && w.resetAt > t) {
      w.count++;
      return;
    }
    if (this.windows.size >= AuthFailureLimiter.MAX_TRACKED) {
      for (const [k, v] of this.windows) if (v.resetAt <= t) this.windows.delete(k);
      if (this.windows.size >= AuthFailureLimiter.MAX_TRACKED) this.windows.clear();
    }
    this.windows.set(address, { count: 1, resetAt: t + 60_000 });
  }
}

export interface AuthOptions {
  /** Failed authentications an address may cause per minute before 429. */
  failuresPerMinute: number;
  onRefused?: (outcome: 'unauthorized' | 'throttled') => void;
}

export function registerAuth(app: FastifyInstance, keys: readonly { name: string; sha256: string }[], opts: AuthOptions): void {
  app.decorateRequest('apiKey', null);
  if (keys.length === 0) return;
  const limiter = new AuthFailureLimiter(opts.failuresPerMinute);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (OPEN.some((re) => re.test(path))) return;
    const wait = limiter.blockedFor(request.ip);
    if (wait > 0) {
      opts.onRefused?.('throttled');
      throw new RateLimitedError(wait, 'too many failed authentications from this address');
    }
    const header = request.headers.authorization ?? judge0Token(path, request.headers['x-auth-token']);
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const name = m ? matchKey(m[1]!, keys) : null;
    if (!name) {
      limiter.fail(request.ip);
      opts.onRefused?.('unauthorized');
      reply.header('www-authenticate', 'Bearer realm="kata-exec"');
      throw new UnauthorizedError(m ? 'the API key is not valid' : 'send the API key as "Authorization: Bearer <key>"');
    }
    request.apiKey = name;
  });
}
