/**
 * A typed client for kata-exec, generated from openapi/openapi.json: the types in
 * schema.d.ts come from openapi-typescript (`npm run client` regenerates them), the
 * runtime is openapi-fetch.
 *
 *   const kx = createKataExecClient('http://localhost:8080', process.env.KATA_EXEC_TOKEN);
 *   const { data, error, response } = await kx.POST('/v1/execute', { body: { language: 'python', code: 'print(6*7)' } });
 *   if (error) console.error(response.status, error.code, error.detail);
 *   else console.log(data.status, data.stdout);
 *
 * `data` is the ExecuteResult of a 200, `error` the RFC 9457 problem body of a 4xx/5xx.
 * executeStream() runs with `Accept: text/event-stream` and hands over each event.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { operations, paths } from './schema.js';

export type { operations, paths } from './schema.js';

export type ExecuteRequest = operations['execute']['requestBody']['content']['application/json'];
export type ExecuteResult = operations['execute']['responses'][200]['content']['application/json'];
export type RuntimesInfo = operations['runtimes']['responses'][200]['content']['application/json'];
/** The RFC 9457 problem details body of every 4xx and 5xx, with its stable `code`. */
export type Problem = operations['execute']['responses'][400]['content']['application/problem+json'];

/** JSON answers and problem+json errors: `data` and `error` are typed by these. */
export type KataExecMedia = 'application/json' | 'application/problem+json';
export type KataExecClient = Client<paths, KataExecMedia>;

/**
 * A client for the service at `baseUrl`; with `token`, every request carries
 * `Authorization: Bearer <token>` (the server's KATA_EXEC_API_KEYS holds its hash).
 */
export function createKataExecClient(baseUrl: string, token?: string, options: Omit<ClientOptions, 'baseUrl'> = {}): KataExecClient {
  const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return createClient<paths, KataExecMedia>({ ...options, baseUrl: baseUrl.replace(/\/+$/, ''), headers });
}

/** The server-sent events of a streaming execution. */
export type ExecuteEvent =
  | { event: 'start'; data: { id: string } }
  | { event: 'stdout' | 'stderr'; data: { data: string } }
  | { event: 'result'; data: ExecuteResult }
  | { event: 'error'; data: Problem };

export type ExecuteStreamOutcome =
  | { ok: true; result: ExecuteResult }
  | { ok: false; status: number; problem: Problem };

/**
 * POST /v1/execute with `Accept: text/event-stream`: calls `onEvent` for each event as it
 * arrives and resolves with the final result, or with the problem of a refusal (an
 * ordinary 4xx/5xx before the start) or of an `error` event. `signal` aborts the request,
 * and the server then kills the sandbox.
 */
export async function executeStream(
  client: KataExecClient,
  body: ExecuteRequest,
  onEvent: (e: ExecuteEvent) => void = () => undefined,
  signal?: AbortSignal,
): Promise<ExecuteStreamOutcome> {
  const { data, error, response } = await client.POST('/v1/execute', {
    body,
    headers: { accept: 'text/event-stream' },
    parseAs: 'stream',
    ...(signal ? { signal } : {}),
  });
  if (!response.ok || !data) {
    // parseAs 'stream' leaves the error body unread: read the problem ourselves.
    const problem = (error ?? (await response.json().catch(() => null))) as Problem | null;
    return { ok: false, status: response.status, problem: problem ?? ({ status: response.status, code: 'INTERNAL', detail: response.statusText } as unknown as Problem) };
  }
  const reader = (data as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let outcome: ExecuteStreamOutcome | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += value.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const lines: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) lines.push(line.slice(5).replace(/^ /, ''));
      }
      if (lines.length === 0) continue;
      const e = { event, data: JSON.parse(lines.join('\n')) as unknown } as ExecuteEvent;
      onEvent(e);
      if (e.event === 'result') outcome = { ok: true, result: e.data };
      else if (e.event === 'error') outcome = { ok: false, status: e.data.status, problem: e.data };
    }
    if (done) break;
  }
  if (!outcome) throw new Error('the event stream ended without a result or error event');
  return outcome;
}
