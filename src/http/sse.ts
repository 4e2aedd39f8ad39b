/**
 * Server-sent events for POST /v1/execute with `Accept: text/event-stream`. The stream
 * opens only once the execution left the queue, so refusals (400, 413, 429, 503) stay
 * ordinary problem responses. Events: `start` {id}, `stdout`/`stderr` {data} as the
 * program writes (the first limits.outputBytes of each stream, decoded as UTF-8),
 * then one `result` (the same body as without streaming) or one `error` (a problem body).
 *
 * Bounded whatever the program writes: the live events of each stream are at most
 * ENCODED_FACTOR x the cap plus SSE_FRAMING_ALLOWANCE in bytes as written (escapes and
 * framing included: a program writing one byte at a time cannot multiply it), and a
 * client that leaves written events untaken for the write timeout is disconnected.
 */
import { StringDecoder } from 'node:string_decoder';
import type { FastifyReply } from 'fastify';
import { ENCODED_FACTOR } from '../queue/answer-size.js';
import type { OutputListener, OutputPhase } from '../execution/executor.js';
import { armWriteTimeout } from './write-timeout.js';

/** Room for the event framing of live output, per stream, on top of its encoded cap. */
export const SSE_FRAMING_ALLOWANCE = 64 * 1024;

export function wantsEventStream(accept: string | undefined): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept ?? '');
}

export class SseWriter {
  private opened = false;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  /** Raw output bytes taken from each stream, and event bytes written for it. */
  private readonly sent = { stdout: 0, stderr: 0 };
  private readonly written = { stdout: 0, stderr: 0 };
  /** With steps: the phase each stream's pending bytes belong to (a new phase flushes the decoder). */
  private readonly phases: Record<'stdout' | 'stderr', OutputPhase | undefined> = { stdout: undefined, stderr: undefined };
  private stalled: NodeJS.Timeout | null = null;

  constructor(
    private readonly reply: FastifyReply,
    private readonly capBytes: number,
    private readonly writeTimeoutMs: number,
    private readonly onSlowClient: () => void = () => undefined,
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
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(frame: string): void {
    const res = this.reply.raw;
    if (!this.opened || res.writableEnded || res.destroyed) return;
    // Backpressure: a client that does not take what was written within the timeout is cut off.
    if (!res.write(frame) && !this.stalled) {
      this.stalled = setTimeout(() => {
        this.onSlowClient();
        res.destroy();
        res.socket?.destroy();
      }, this.writeTimeoutMs);
      this.stalled.unref();
      const clear = () => {
        if (this.stalled) clearTimeout(this.stalled);
        this.stalled = null;
        res.off('drain', clear);
        res.off('close', clear);
      };
      res.once('drain', clear);
      res.once('close', clear);
    }
  }

  /**
   * Live output, up to the cap per stream (all steps together); the result still has the
   * head and the tail. With steps each event says where it came from: `phase` compile, test
   * (with `test`, its index) or run.
   */
  output(stream: 'stdout' | 'stderr', chunk: Buffer, where?: OutputPhase): void {
    const room = this.capBytes - this.sent[stream];
    if (room <= 0) return;
    const before = this.phases[stream];
    if (before && JSON.stringify(before) !== JSON.stringify(where)) {
      // A character cut at the end of one step is not completed by the next one's bytes.
      const rest = this.decoders[stream].end();
      this.decoders[stream] = new StringDecoder('utf8');
      if (rest) this.frame(stream, rest, before);
    }
    this.phases[stream] = where;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.sent[stream] += part.length;
    const text = this.decoders[stream].write(part);
    if (text) this.frame(stream, text, where);
  }

  private frame(stream: 'stdout' | 'stderr', text: string, where: OutputPhase | undefined): void {
    const frame = `event: ${stream}\ndata: ${JSON.stringify({ data: text, ...where })}\n\n`;
    const bytes = Buffer.byteLength(frame, 'utf8');
    // Escapes and framing count: past the encoded cap, live output stops (the result still has it).
    if (this.written[stream] + bytes > ENCODED_FACTOR * this.capBytes + SSE_FRAMING_ALLOWANCE) {
      this.sent[stream] = this.capBytes;
      return;
    }
    this.written[stream] += bytes;
    this.write(frame);
  }

  end(): void {
    if (this.opened && !this.reply.raw.writableEnded) {
      this.reply.raw.end();
      armWriteTimeout(this.reply.raw, this.writeTimeoutMs, this.onSlowClient);
    }
  }
}

/** What a streamed execution reports as it goes: its start and each chunk of output. */
export interface StreamHooks {
  onStart: (executionId: string) => void;
  onOutput: OutputListener;
}

/**
 * One execution as an event stream: `start`, the output, then `result`; a failure after the
 * stream opened is an `error` event carrying its problem body (before, it is thrown, and
 * answered as a plain problem). /v1/execute and a session's execute share it.
 */
export async function streamExecution(
  sse: SseWriter,
  requestId: string,
  problemBody: (err: unknown) => unknown,
  run: (hooks: StreamHooks) => Promise<unknown>,
): Promise<void> {
  try {
    const result = await run({
      onStart: (id) => {
        sse.open(requestId);
        sse.send('start', { id });
      },
      onOutput: (stream, chunk, where) => sse.output(stream, chunk, where),
    });
    sse.open(requestId);
    sse.send('result', result);
  } catch (err) {
    if (!sse.isOpen) throw err;
    sse.send('error', problemBody(err));
  } finally {
    sse.end();
  }
}
