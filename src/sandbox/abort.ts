/**
 * The caller going away: the HTTP client closed the request (or the service is shutting
 * down). Its AbortSignal kills the sandbox; a result nobody reads is not waited for.
 */
export interface AbortWatch {
  readonly aborted: boolean;
  dispose(): void;
}

export function watchAbort(signal: AbortSignal | undefined, onAbort: () => void): AbortWatch {
  let aborted = false;
  const handler = () => {
    aborted = true;
    onAbort();
  };
  signal?.addEventListener('abort', handler, { once: true });
  if (signal?.aborted) handler();
  return {
    get aborted() {
      return aborted;
    },
    dispose: () => signal?.removeEventListener('abort', handler),
  };
}
