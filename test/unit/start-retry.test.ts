import { describe, expect, it } from 'vitest';
import { LostOutputError, VmAgentUnreachableError, VmCreationFailedError } from '../../src/errors.js';
import { startRetryPauseMs, VM_START_ATTEMPTS, withStartRetries, type StartRetryReason } from '../../src/sandbox/start-retry.js';
import type { SandboxSpec } from '../../src/sandbox/types.js';

const spec = (timeoutMs: number, retryTimeout?: SandboxSpec['retryTimeout']) => ({ id: 'kx-00000000000000000000', timeoutMs, ...(retryTimeout ? { retryTimeout } : {}) }) as unknown as SandboxSpec;
/** No jitter: the shortest pause of each step (1 s, then 3 s). */
const noJitter = () => 0;

/** A sandbox start that fails with the given errors, in order, then answers 'ran'. */
function starts(...failures: Error[]) {
  const timeouts: number[] = [];
  const once = async (s: SandboxSpec) => {
    timeouts.push(s.timeoutMs);
    const f = failures.shift();
    if (f) throw f;
    return 'ran';
  };
  return { once, timeouts };
}

describe('withStartRetries: a sandbox started again only when nothing of the request ran', () => {
  it('a VM whose agent never answered is created again, up to 3 attempts, each told, with what is left of the timeout', async () => {
    const told: [StartRetryReason, number, number][] = [];
    const s = starts(new VmAgentUnreachableError('Failed to check if grpc server is working'), new VmAgentUnreachableError('again'));
    const t0 = Date.now();
    await expect(withStartRetries(spec(60_000), {}, s.once, { random: noJitter, onRetry: (r, a, p) => told.push([r, a, p]) })).resolves.toBe('ran');
    expect(told).toEqual([
      ['vm_agent_unreachable', 1, 1_000],
      ['vm_agent_unreachable', 2, 3_000],
    ]);
    // The pauses were taken, and each attempt after the first had less than the whole timeout.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3_900);
    expect(s.timeouts[0]).toBe(60_000);
    expect(s.timeouts[1]).toBeLessThanOrEqual(59_000);
    expect(s.timeouts[2]).toBeLessThanOrEqual(56_000);
  });

  it("the service's own deadline ('whole') is given whole to each attempt: a failed start never shortens the runs", async () => {
    const s = starts(new VmAgentUnreachableError('first'), new VmAgentUnreachableError('second'));
    await expect(withStartRetries(spec(60_000, 'whole'), {}, s.once, { random: noJitter })).resolves.toBe('ran');
    expect(s.timeouts).toEqual([60_000, 60_000, 60_000]);
  });

  it("a deadline too short for another VM start stops the retries only when it is the caller's", async () => {
    const miss = () => new VmAgentUnreachableError('miss');
    const left = starts(miss());
    await expect(withStartRetries(spec(1_500, 'left'), {}, left.once, { random: noJitter })).rejects.toBeInstanceOf(VmAgentUnreachableError);
    expect(left.timeouts).toEqual([1_500]);
    const whole = starts(miss());
    await expect(withStartRetries(spec(1_500, 'whole'), {}, whole.once, { random: noJitter })).resolves.toBe('ran');
    expect(whole.timeouts).toEqual([1_500, 1_500]);
  });

  it('the third miss is the answer: VM_START_ATTEMPTS attempts, no more', async () => {
    const last = new VmAgentUnreachableError('third');
    const s = starts(new VmAgentUnreachableError('first'), new VmAgentUnreachableError('second'), last, new VmAgentUnreachableError('never tried'));
    await expect(withStartRetries(spec(60_000), {}, s.once, { random: noJitter })).rejects.toBe(last);
    expect(s.timeouts).toHaveLength(VM_START_ATTEMPTS);
  });

  it('lost output is run again once only, at once', async () => {
    const second = new LostOutputError('again');
    const s = starts(new LostOutputError('lost'), second);
    const told: [StartRetryReason, number, number][] = [];
    await expect(withStartRetries(spec(60_000), {}, s.once, { onRetry: (r, a, p) => told.push([r, a, p]) })).rejects.toBe(second);
    expect(s.timeouts).toHaveLength(2);
    // At once: no pause (said, not timed: a busy host may delay anything).
    expect(told).toEqual([['lost_output', 1, 0]]);
  });

  it("the program's own failure and any other start failure are answered, never retried", async () => {
    for (const err of [new VmCreationFailedError('the runtime is not installed'), new Error('a bug')]) {
      const s = starts(err);
      await expect(withStartRetries(spec(60_000), {}, s.once)).rejects.toBe(err);
      expect(s.timeouts).toHaveLength(1);
    }
  });

  it('no retry without time left for one: the start failure is the answer', async () => {
    const err = new VmAgentUnreachableError('late');
    const s = starts(err);
    // 1.5 s of timeout: a 1 s pause would leave less than MIN_RETRY_LEFT_MS.
    await expect(withStartRetries(spec(1_500), {}, s.once, { random: noJitter })).rejects.toBe(err);
    expect(s.timeouts).toHaveLength(1);
  });

  it('a caller that went away during the pause gets the start failure, and no new VM is started', async () => {
    const ac = new AbortController();
    const err = new VmAgentUnreachableError('miss');
    const s = starts(err);
    const p = withStartRetries(spec(60_000), { signal: ac.signal }, s.once, { random: noJitter });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toBe(err);
    expect(s.timeouts).toHaveLength(1);
  });

  it('the pauses grow and are jittered: 1-2 s, then 3-6 s', () => {
    expect([startRetryPauseMs(1, () => 0), startRetryPauseMs(1, () => 0.999)]).toEqual([1_000, 1_999]);
    expect([startRetryPauseMs(2, () => 0), startRetryPauseMs(2, () => 0.5)]).toEqual([3_000, 4_500]);
  });
});
