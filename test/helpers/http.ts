/**
 * Real HTTP against a RealService (undici), with an optional bearer token: JSON calls and
 * a streaming call that timestamps each server-sent event as it arrives.
 */
import { request } from 'undici';
import { SseParser, type SseEvent } from './sse.js';

export interface JsonResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: T;
}

function authHeaders(token?: string): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function getJson<T = any>(baseUrl: string, path: string, token?: string): Promise<JsonResponse<T>> {
  const res = await request(`${baseUrl}${path}`, { headers: authHeaders(token) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as T };
}

export async function postJson<T = any>(baseUrl: string, body: unknown, token?: string): Promise<JsonResponse<T>> {
  const res = await request(`${baseUrl}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(token) },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as T };
}

export interface TimedEvent extends SseEvent {
  /** Milliseconds since the request was sent. */
  at: number;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  events: TimedEvent[];
  /** The body when it was not an event stream (a problem response). */
  body: string;
}

/**
 * POST /v1/execute with Accept: text/event-stream. `onEvent` may return 'abort' to close
 * the connection there (a client that goes away).
 */
export async function postStream(
  baseUrl: string,
  body: unknown,
  opts: { token?: string; onEvent?: (e: TimedEvent) => void | 'abort' } = {},
): Promise<StreamResponse> {
  const ac = new AbortController();
  const t0 = performance.now();
  const res = await request(`${baseUrl}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...authHeaders(opts.token) },
    body: JSON.stringify(body),
    signal: ac.signal,
  });
  const events: TimedEvent[] = [];
  const isStream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
  if (!isStream) return { status: res.statusCode, headers: res.headers, events, body: await res.body.text() };
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
      for (const e of parser.push(text)) {
        const timed = { ...e, at: performance.now() - t0 };
        events.push(timed);
        if (opts.onEvent?.(timed) === 'abort') {
          ac.abort();
          return { status: res.statusCode, headers: res.headers, events, body: '' };
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  return { status: res.statusCode, headers: res.headers, events, body: '' };
}
