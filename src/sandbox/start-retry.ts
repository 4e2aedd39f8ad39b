/**
 * When a cold sandbox is started again: only after a start failure that leaves nothing of
 * the request run, never after the program's own failure, which is a result.
 * - `lost_output`: `ctr` 1.6 now and then loses every byte a task writes at the very instant
 *   it starts, and exits 0 (the benchmark saw 2 in 600 raw runs on a loaded host). With the
 *   start marker lost nobody can tell what ran: run again, once. Nothing of the first can
 *   have survived it (no network, nothing kept), so running twice is invisible but for the
 *   time.
 * - `vm_agent_unreachable`: a Kata VM whose agent never answered its first check ("Failed to
 *   check if grpc server is working"); the shim gave up before the program existed. Emulated
 *   VMs miss that window in bursts while the host is busy (CI saw two misses in a row, 20 s
 *   apart), so up to VM_START_ATTEMPTS attempts, each after a pause that grows and is
 *   jittered, so that two sandboxes that failed side by side do not boot side by side again.
 * What an attempt after the first gets of the timeout (`spec.retryTimeout`):
 * - 'left', a deadline the caller set: what is left of it, not a new one. It counts from
 *   the request, whatever the sandbox cost to start, and no attempt is made without
 *   MIN_RETRY_LEFT_MS left after the pause.
 * - 'whole', a deadline the service set: all of it again. The failed start was the
 *   service's, and a judged run cut short by it would get the wrong verdict.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LostOutputError, VmAgentUnreachableError } from '../errors.js';
import type { RunOptions, SandboxSpec } from './types.js';

/** Attempts at a cold sandbox whose Kata VM's agent never answered. */
export const VM_START_ATTEMPTS = 3;
/** Attempts at a sandbox whose output ctr lost. */
export const LOST_OUTPUT_ATTEMPTS = 2;
/** Another VM start is made only with at least this much of the request's timeout left after its pause. */
export const MIN_RETRY_LEFT_MS = 1_000;

/** Why a cold sandbox was started again (the label of kata_exec_sandbox_start_retries_total). */
export type StartRetryReason = 'lost_output' | 'vm_agent_unreachable';

/** The pause before attempt `attempt + 1` after a VM that did not answer: 1-2 s, then 3-6 s. */
export function startRetryPauseMs(attempt: number, random: () => number = Math.random): number {
  const base = attempt <= 1 ? 1_000 : 3_000;
  return Math.round(base * (1 + random()));
}

export interface StartRetryHooks {
  /** Told of each attempt about to be made again (after `attempt` failed), before its pause. */
  onRetry?: (reason: StartRetryReason, attempt: number, pauseMs: number, err: Error) => void;
  /** The pause's source of jitter (tests). */
  random?: () => number;
}

/** Runs `once` and runs it again after a start failure that left nothing of the request run. */
export async function withStartRetries<T>(spec: SandboxSpec, opts: RunOptions, once: (spec: SandboxSpec) => Promise<T>, hooks: StartRetryHooks = {}): Promise<T> {
  const started = performance.now();
  const whole = spec.retryTimeout === 'whole';
  const leftMs = () => spec.timeoutMs - (performance.now() - started);
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(attempt === 1 || whole ? spec : { ...spec, timeoutMs: Math.max(1, Math.floor(leftMs())) });
    } catch (err) {
      const reason = retryReason(err);
      if (reason === null || opts.signal?.aborted) throw err;
      if (attempt >= (reason === 'lost_output' ? LOST_OUTPUT_ATTEMPTS : VM_START_ATTEMPTS)) throw err;
      const pause = reason === 'vm_agent_unreachable' ? startRetryPauseMs(attempt, hooks.random) : 0;
      // No time left of the caller's deadline for another VM start: the start failure is the answer.
      if (reason === 'vm_agent_unreachable' && !whole && leftMs() - pause < MIN_RETRY_LEFT_MS) throw err;
      hooks.onRetry?.(reason, attempt, pause, err as Error);
      // A caller that goes away during the pause gets the start failure, and no new sandbox.
      if (pause > 0) await sleep(pause, undefined, { signal: opts.signal }).catch(() => Promise.reject(err));
    }
  }
}

function retryReason(err: unknown): StartRetryReason | null {
  if (err instanceof LostOutputError) return 'lost_output';
  if (err instanceof VmAgentUnreachableError) return 'vm_agent_unreachable';
  return null;
}

