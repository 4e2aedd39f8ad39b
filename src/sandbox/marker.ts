/**
 * The start marker. The sandbox's command is wrapped so that its first stdout line is a
 * random nonce, printed by /bin/sh inside the sandbox just before it execs the program.
 * Seeing it proves that the sandbox started and the program is about to run: a non-zero
 * exit without it is a failure of the sandbox (ctr's own error), never of the program.
 *
 * Nothing of the request runs or applies before the marker: the wrapper's own environment
 * is the sandbox's fixed one, and the request's variables (LD_PRELOAD...) are handed to
 * `env`, which sets them for the program only as it execs it. The nonce lives only in the
 * script text, which exec replaces, so the program cannot read or forge it; sh's own
 * error messages name "sh" ($0), never the nonce.
 */
import { randomBytes } from 'node:crypto';
import { STDIN_IN_SANDBOX } from '../ctr/oci-spec.js';

export function newNonce(): string {
  return `kx-start-${randomBytes(16).toString('hex')}`;
}

function checkNonce(nonce: string): string {
  // Goes into a script: only what newNonce makes.
  if (!/^kx-start-[0-9a-f]+$/.test(nonce)) throw new Error('not a start nonce');
  return nonce;
}

/** `env -- NAME=value... command...`: the program's own variables, set only for it. */
function programArgv(command: readonly string[], programEnv: readonly string[]): string[] {
  return ['env', '--', ...programEnv, ...command];
}

export function wrapWithMarker(nonce: string, command: readonly string[], programEnv: readonly string[] = []): string[] {
  return ['/bin/sh', '-c', `printf '%s\\n' ${checkNonce(nonce)} && exec "$@" <${STDIN_IN_SANDBOX}`, 'sh', ...programArgv(command, programEnv)];
}

/**
 * For `ctr task exec` into a warm sandbox: the program is not init, so its exit does not
 * end the sandbox's other processes. The wrapper waits for it, then SIGKILLs every other
 * process but init, and exits with the program's status. (Not `kill -1`: gVisor's includes
 * init, which ends the sandbox under the exec.)
 */
export function reapScript(nonce: string): string {
  return (
    `printf '%s\\n' ${checkNonce(nonce)} && "$@" <` +
    STDIN_IN_SANDBOX +
    '; c=$?; for p in /proc/[0-9]*; do p=${p#/proc/}; [ "$p" = 1 ] || [ "$p" = $$ ] || kill -9 "$p" 2>/dev/null; done; exit $c'
  );
}

export function wrapWithMarkerAndReap(nonce: string, command: readonly string[], programEnv: readonly string[] = []): string[] {
  return ['/bin/sh', '-c', reapScript(nonce), 'sh', ...programArgv(command, programEnv)];
}

/** Strips the marker line from the head of stdout and tells when it was seen. */
export class MarkerGate {
  private pending: Buffer | null = Buffer.alloc(0);
  private readonly expected: Buffer;
  seen = false;

  constructor(
    nonce: string,
    private readonly onStart: () => void,
    private readonly sink: (chunk: Buffer) => void,
  ) {
    this.expected = Buffer.from(`${nonce}\n`);
  }

  write(chunk: Buffer): void {
    if (this.pending === null) {
      this.sink(chunk);
      return;
    }
    const buf = Buffer.concat([this.pending, chunk]);
    if (buf.length < this.expected.length && this.expected.subarray(0, buf.length).equals(buf)) {
      this.pending = buf;
      return;
    }
    this.pending = null;
    if (buf.subarray(0, this.expected.length).equals(this.expected)) {
      this.seen = true;
      this.onStart();
      const rest = buf.subarray(this.expected.length);
      if (rest.length) this.sink(rest);
    } else {
      // Not our marker: pass it all through (cannot happen with a working image).
      this.sink(buf);
    }
  }

  /** At end of stream: anything held back was not the marker. */
  end(): void {
    if (this.pending && this.pending.length) this.sink(this.pending);
    this.pending = null;
  }
}
