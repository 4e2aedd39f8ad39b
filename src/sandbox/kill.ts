/**
 * Killing a sandbox: SIGKILL to its task through containerd (ending the ctr client would not
 * stop the task). The task may not exist yet (still being created), so the kill is retried
 * until ctr returns, one `ctr tasks kill` at a time; past a grace period the client is ended
 * too and the teardown force-deletes.
 */
import type { Logger } from './types.js';

/** After a kill, how long ctr may take to report the exit before we force-delete. */
export const KILL_GRACE_MS = 5_000;
const RETRY_MS = 250;

export class SandboxKiller {
  requested = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private grace: NodeJS.Timeout | undefined;

  constructor(
    private readonly killTask: () => Promise<void>,
    private readonly endClient: () => void,
    private readonly log: Logger,
  ) {}

  /** Starts killing (once; later calls only log nothing). */
  kill(why: string): void {
    if (this.requested) return;
    this.requested = true;
    this.log.info({ why }, 'killing sandbox');
    this.grace = setTimeout(() => {
      if (this.stopped) return;
      this.log.warn('ctr did not return after kill; ending the client and force-deleting');
      this.stop();
      this.endClient();
    }, KILL_GRACE_MS);
    void this.attempt();
  }

  private async attempt(): Promise<void> {
    await this.killTask().catch((err: unknown) => this.log.warn({ err }, 'kill failed'));
    if (this.stopped) return;
    this.retry = setTimeout(() => void this.attempt(), RETRY_MS);
  }

  /** The client returned: no more attempts. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.grace);
  }
}
