/**
 * Server-sent events for the tests: parses a text/event-stream body into its events
 * (`event:` name, `data:` lines joined by newlines and parsed as JSON).
 */
export interface SseEvent<T = any> {
  event: string;
  data: T;
}

/** Parses a complete event-stream text. Comments (":...") and empty blocks are skipped. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) continue;
    const raw = data.join('\n');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = raw;
    }
    events.push({ event, data: parsed });
  }
  return events;
}

/**
 * Incremental parser for a live stream: feed it chunks as they arrive, it returns the
 * events completed by each chunk.
 */
export class SseParser {
  private buf = '';
  push(chunk: string): SseEvent[] {
    this.buf += chunk.replace(/\r\n?/g, '\n');
    const end = this.buf.lastIndexOf('\n\n');
    if (end < 0) return [];
    const complete = this.buf.slice(0, end + 2);
    this.buf = this.buf.slice(end + 2);
    return parseSse(complete);
  }
}
