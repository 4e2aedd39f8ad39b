/**
 * One attached `ctr run` whose init is the launcher: the ctr client, the frames the
 * launcher writes on its stdout, and what ctr (and the launcher, about itself) said on
 * stderr. A cold sandbox gets its request at once; a warm one when a request takes it.
 *
 * The sandbox's stderr holds no byte of the program (its output comes in frames), so it
 * is read for ctr's own words only, and kept bounded.
 */
import { spawnStreaming, type SpawnedProcess } from '../ctr/exec.js';
import { encodeAck, FrameDecoder, LAUNCHER_HELLO, type Frame } from './launch-protocol.js';

const STDERR_KEEP = 8192;

export interface SessionExit {
  exitCode: number | null;
  signal: string | null;
  spawnError: string | null;
}

export class LauncherSession {
  private readonly proc: SpawnedProcess;
  private readonly decoder: FrameDecoder;
  private handler: ((f: Frame) => void) | null = null;
  private brokenListener: ((why: string) => void) | null = null;
  private err = '';
  /** The launcher said it is up (its ready frame). */
  readonly ready: Promise<boolean>;
  /** Settles when the ctr client ended, whatever the reason (its streams read to the end). */
  readonly exit: Promise<SessionExit>;
  exited = false;
  /** Frames that came before anyone listened, beyond the ready frame: a launcher that is not ours. */
  unexpected: string | null = null;

  /**
   * `o`: a session sandbox's attach process (session-runner.ts) speaks the session protocol:
   * its own hello, more frame types, and its client ends with the service.
   */
  constructor(ctrPath: string, argv: string[], o: { hello?: string; types?: string; maxFrame?: number; tiedToParent?: boolean } = {}) {
    const hello = o.hello ?? LAUNCHER_HELLO;
    this.proc = spawnStreaming(ctrPath, argv, { stdin: 'pipe', ...(o.tiedToParent ? { tiedToParent: true } : {}) });
    let onReady: (v: boolean) => void = () => undefined;
    this.ready = new Promise((r) => (onReady = r));
    this.decoder = new FrameDecoder((f) => {
      if (f.type === 'R') {
        if (f.payload.toString('latin1') !== hello) this.unexpected = `launcher says ${JSON.stringify(f.payload.toString('latin1'))}`;
        onReady(this.unexpected === null);
        return;
      }
      if (this.handler) this.handler(f);
      else this.unexpected ??= `frame ${f.type} before any request`;
    }, o.maxFrame, o.types);
    this.proc.stdout.on('data', (c: Buffer) => {
      const before = this.decoder.broken;
      this.decoder.write(c);
      if (!before && this.decoder.broken) this.brokenListener?.(this.decoder.broken);
    });
    this.proc.stderr.on('data', (c: Buffer) => {
      this.err = (this.err + c.toString('utf8')).slice(-STDERR_KEEP);
    });
    // ctr gone: writes to its stdin fail; the exit says what happened.
    this.proc.stdin?.on('error', () => undefined);
    const streamEnd = (st: NodeJS.ReadableStream) =>
      new Promise<void>((resolve) => {
        st.once('end', resolve);
        st.once('close', resolve);
        st.once('error', () => resolve());
      });
    const streams = Promise.all([streamEnd(this.proc.stdout), streamEnd(this.proc.stderr)]);
    this.exit = this.proc.done.then(async (e) => {
      await streams;
      this.exited = true;
      onReady(false);
      return e;
    });
  }

  /** The launcher's frames from now on (S, O, E, X); `onBroken`: the stream stopped being frames. */
  listen(handler: (f: Frame) => void, onBroken?: (why: string) => void): void {
    this.handler = handler;
    this.brokenListener = onBroken ?? null;
  }

  send(request: Buffer): void {
    this.proc.stdin?.write(request);
  }

  /** The end frame is here: the launcher may end, and nothing more goes to it. */
  acknowledge(): void {
    this.proc.stdin?.end(encodeAck());
  }

  /** Ends the client's stdin: a session's attach process then ends by itself. */
  endInput(): void {
    this.proc.stdin?.end();
  }

  /** Why the stream cannot be believed any more, or null. */
  get broken(): string | null {
    return this.decoder.broken ?? this.unexpected;
  }

  get alive(): boolean {
    return !this.exited && this.broken === null;
  }

  /** What ctr (and the launcher) wrote on stderr: the last 8 KiB. */
  get stderr(): string {
    return this.err;
  }

  /** Ends the ctr client (never the sandbox: that is killed through containerd). */
  endClient(): void {
    this.proc.kill('SIGKILL');
  }
}
