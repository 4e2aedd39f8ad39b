/**
 * A client that does not take its answer must not keep it in the service's memory. Once
 * an answer (or the next part of a stream) is handed to the socket, the client has
 * KATA_EXEC_WRITE_TIMEOUT_MS to take it; otherwise the connection is destroyed, which
 * frees the answer and, through the response's 'close', its quota place and its memory
 * reservation.
 */
import type { ServerResponse } from 'node:http';

/** Destroys the connection unless `res` finishes (or closes) within `ms`. Returns a disarm. */
export function armWriteTimeout(res: ServerResponse, ms: number, onTimeout: () => void = () => undefined): () => void {
  if (res.writableFinished || res.destroyed) return () => undefined;
  const timer = setTimeout(() => {
    onTimeout();
    res.destroy();
    res.socket?.destroy();
  }, ms);
  timer.unref();
  const disarm = () => {
    clearTimeout(timer);
    res.off('finish', disarm);
    res.off('close', disarm);
  };
  res.once('finish', disarm);
  res.once('close', disarm);
  return disarm;
}
