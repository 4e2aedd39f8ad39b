/**
 * Out of memory. A program the kernel's OOM killer ended looks like any other death by
 * SIGKILL; two reports tell them apart: containerd's /tasks/oom event and the kernel's own
 * log (src/ctr/events.ts). The result then says `oomKilled`.
 */

/** What the runner needs of the OOM reports (ContainerdEvents). */
export interface OomEvents {
  sawOom(id: string, ms: number): Promise<boolean>;
  /** Times (Date.now()) of its OOM reports at or after `since`, waiting up to `ms` for one. */
  oomTimesSince?(id: string, since: number, ms: number): Promise<number[]>;
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

/** A step of a multi-step run that a SIGKILL nobody of ours sent ended, and when it began (Date.now()). */
export interface KilledStep {
  index: number;
  startedAt: number;
}

/**
 * Which of these steps the OOM killer ended. The launcher cannot tell (the sandbox's cgroup
 * is not visible inside it); containerd's OOM reports of the sandbox can, by time: each
 * report belongs to the latest of these steps that had begun when it came (a report
 * arrives after its kill, and before the next of these steps can have begun, unless the
 * two steps were both killed within the report's delay). Waits for a report after the last
 * one's start, up to OOM_EVENT_WAIT_MS: a self-inflicted SIGKILL costs that wait.
 */
export async function oomKilledSteps(events: OomEvents | null, id: string, killed: KilledStep[]): Promise<Set<number>> {
  const out = new Set<number>();
  if (events === null || killed.length === 0) return out;
  const last = killed[killed.length - 1]!;
  let times: number[];
  if (events.oomTimesSince) {
    await events.oomTimesSince(id, last.startedAt, OOM_EVENT_WAIT_MS);
    times = await events.oomTimesSince(id, killed[0]!.startedAt, 0);
  } else {
    // A source without times: only a single killed step can be told.
    if (killed.length === 1 && (await events.sawOom(id, OOM_EVENT_WAIT_MS))) out.add(last.index);
    return out;
  }
  for (const t of times) {
    const owner = [...killed].reverse().find((k) => k.startedAt <= t);
    if (owner) out.add(owner.index);
  }
  return out;
}
