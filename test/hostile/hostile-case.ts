/**
 * Shared pieces of the hostile suite: one real service per describe, and the checks that
 * follow every hostile case (the service still answers an ordinary request, nothing
 * of ours is left behind, and the test process — which hosts the service — did not
 * balloon).
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { NO_LEAKS, execute, settledLeaks, useService, type RealService } from '../helpers/real-service.js';

/** How much the test process (the service runs in it) may grow over one hostile case. */
export const MAX_RSS_GROWTH_BYTES = 200 * 1024 * 1024;

/** One real service per describe: see useService in test/helpers/real-service.ts. */
export { useService };

/** (2)-(4): the next ordinary request works, nothing leaked, the process did not balloon. */
export async function expectServiceHealthy(svc: RealService, rssBefore: number): Promise<void> {
  const next = await execute(svc, { language: 'python', code: 'print(6*7)' });
  expect(next, 'the next ordinary request').toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n' });
  expect(await settledLeaks(svc.runDir), 'leftovers').toEqual(NO_LEAKS);
  const growth = process.memoryUsage().rss - rssBefore;
  expect(growth, `rss grew by ${Math.round(growth / 1048576)} MiB`).toBeLessThan(MAX_RSS_GROWTH_BYTES);
}

/**
 * Runs one hostile attack, then the common checks. Returns what the attack returned, so
 * the case can assert on it (the checks run first: a sandbox that took the host or the
 * service down is the worst outcome, whatever the answer said).
 */
export async function hostile<T>(svc: RealService, attack: () => Promise<T>): Promise<T> {
  const rssBefore = process.memoryUsage().rss;
  const result = await attack();
  await expectServiceHealthy(svc, rssBefore);
  return result;
}

/** The host's process list, one `args` per line. */
export function hostProcesses(): string[] {
  return execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
