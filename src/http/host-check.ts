/**
 * With authentication off, a web page the user visits could reach the service through DNS
 * rebinding (evil.example resolving to 127.0.0.1): the browser then sends
 * `Host: evil.example`. So without API keys only the Host names below are served:
 * localhost, loopback addresses, KATA_EXEC_HOST and KATA_EXEC_ALLOWED_HOSTS. Probes
 * (/healthz, /readyz) answer whatever the Host, as orchestrators call them by address.
 */
import type { FastifyInstance } from 'fastify';
import { HostNotAllowedError } from '../errors.js';

const PROBES = new Set(['/healthz', '/readyz']);
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

/** The host name of a Host header, lower case, without its port; IPv6 keeps its brackets. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export function allowedHostNames(listenHost: string, extra: readonly string[]): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]', ...extra.map((h) => hostName(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h))]);
  const own = listenHost.toLowerCase();
  if (!WILDCARDS.has(own)) names.add(own.includes(':') && !own.startsWith('[') ? `[${own}]` : own);
  return names;
}

/**
 * The Origin a browser sends, checked as the MCP specification asks of every server: absent
 * (not a browser), or a site whose host name is the one the request was sent to, or one the
 * service answers to (localhost, KATA_EXEC_HOST, KATA_EXEC_ALLOWED_HOSTS). `null` and
 * anything unparsable are refused.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined) return true;
  let name: string;
  try {
    name = hostName(new URL(origin).host);
  } catch {
    return false;
  }
  return allowed.has(name) || (host !== undefined && hostName(host) === name);
}

export function registerHostCheck(app: FastifyInstance, listenHost: string, extra: readonly string[]): void {
  const allowed = allowedHostNames(listenHost, extra);
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (PROBES.has(path)) return;
    const header = request.headers.host;
    // HTTP/1.0 without Host: no browser sends that, so no rebinding either.
    if (header === undefined) return;
    if (!allowed.has(hostName(header))) throw new HostNotAllowedError();
  });
}
