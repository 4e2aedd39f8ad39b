/**
 * Out of memory. A program the kernel's OOM killer ended looks like any other death by
 * SIGKILL; two reports tell them apart: containerd's /tasks/oom event and the kernel's own
 * log (src/ctr/events.ts). The result then says `oomKilled`.
 */

/** What the runner needs of the OOM reports (ContainerdEvents). */
export interface OomEvents {
  sawOom(id: string, ms: number): Promise<boolean>;
  forget(id: string): void;
  /** Called when containerd's event stream breaks, a sign that containerd went away. */
  onStreamLost?(listener: () => void): () => void;
}

/** How long to wait, after an exit by a signal that we did not send, for an OOM report. */
export const OOM_EVENT_WAIT_MS = 1000;

/**
 * Only a failure we did not cause is asked about. Exits of 128 and more wait a little for a
 * report (gVisor's whole sandbox dying under an exec answers 128); plain errors do not wait.
 */
export function wasOomKilled(
  events: OomEvents | null,
  id: string,
  o: { started: boolean; exitCode: number | null; killRequested: boolean },
): Promise<boolean> {
  if (!o.started || o.exitCode === null || o.exitCode === 0 || o.killRequested || events === null) return Promise.resolve(false);
  return events.sawOom(id, o.exitCode >= 128 ? OOM_EVENT_WAIT_MS : 0);
}
