/**
 * Server-sent events for POST /v1/execute with `Accept: text/event-stream`. The stream
 * opens only once the execution left the queue, so refusals (400, 413, 429, 503) stay
 * ordinary problem responses. Events: `start` {id}, `stdout`/`stderr` {data} as the
 * program writes (the first limits.outputBytes of each stream, decoded as UTF-8),
 * then one `result` (the same body as without streaming) or one `error` (a problem body).
 */
import { StringDecoder } from 'node:string_decoder';
import type { FastifyReply } from 'fastify';

export function wantsEventStream(accept: string | undefined): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept ?? '');
}

export class SseWriter {
  private opened = false;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private readonly sent = { stdout: 0, stderr: 0 };

  constructor(
    private readonly reply: FastifyReply,
    private readonly capBytes: number,
  ) {}

  get isOpen(): boolean {
    return this.opened;
  }

  open(requestId: string): void {
    if (this.opened) return;
    this.opened = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': requestId,
    });
  }

  send(event: string, data: unknown): void {
    if (!this.opened || this.reply.raw.writableEnded) return;
    this.reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Live output, up to the cap per stream; the result still has the head and the tail. */
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const room = this.capBytes - this.sent[stream];
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.sent[stream] += part.length;
    const text = this.decoders[stream].write(part);
    if (text) this.send(stream, { data: text });
  }

  end(): void {
    if (this.opened && !this.reply.raw.writableEnded) this.reply.raw.end();
  }
}
