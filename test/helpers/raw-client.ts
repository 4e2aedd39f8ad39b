/**
 * Hostile HTTP clients on raw sockets: one that sends a request and never reads the
 * answer (its receive window stays small because it never consumes), and one that
 * sends a request slowly. Each reports when the server closed the connection.
 */
import net from 'node:net';

export interface RawClient {
  socket: net.Socket;
  /** The first bytes the server sent (the status line at least), once any came. */
  head: Promise<string>;
  /** Settles when the connection is closed (by either side), with what was read. A paused socket notices only once resumed. */
  closed: Promise<{ bytesRead: number }>;
}

function connect(port: number): { socket: net.Socket; head: Promise<string>; closed: Promise<{ bytesRead: number }> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const closed = new Promise<{ bytesRead: number }>((resolve) => socket.once('close', () => resolve({ bytesRead: socket.bytesRead })));
  const head = new Promise<string>((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
    socket.once('close', () => resolve(''));
  });
  return { socket, head, closed };
}

export function requestText(path: string, body: string, headers: Record<string, string> = {}): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: localhost', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Sends a whole request, reads the first chunk of the answer (to see its status), then
 * stops reading for good: everything else stays in the kernel's buffers and the server's.
 */
export function nonReadingClient(port: number, request: string): RawClient {
  const c = connect(port);
  c.socket.once('data', () => c.socket.pause());
  c.socket.write(request);
  return c;
}

/** Sends `request` one byte every `everyMs`, and never finishes unless it is short enough. */
export function slowClient(port: number, request: string, everyMs: number): RawClient {
  const c = connect(port);
  let i = 0;
  const timer = setInterval(() => {
    if (i >= request.length || c.socket.destroyed) return clearInterval(timer);
    c.socket.write(request[i++]!);
  }, everyMs);
  c.socket.once('close', () => clearInterval(timer));
  return c;
}
