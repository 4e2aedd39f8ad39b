/**
 * The execution's deadline: where `timeoutMs` is enforced. When it passes, the watcher
 * kills the sandbox (kill.ts) and the result says `timedOut`.
 */
export interface Deadline {
  readonly expired: boolean;
  clear(): void;
}

export function startDeadline(timeoutMs: number, onExpire: () => void): Deadline {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    onExpire();
  }, timeoutMs);
  return {
    get expired() {
      return expired;
    },
    clear: () => clearTimeout(timer),
  };
}
