import { describe, expect, it } from 'vitest';
import { ErrorCode, QuotaExceededError } from '../../src/errors.js';
import { KeyQuota } from '../../src/queue/key-quota.js';

describe('KeyQuota', () => {
  it('lets `limit` executions of a key in, refuses one more with QUOTA_EXCEEDED and Retry-After', () => {
    const q = new KeyQuota(2);
    q.acquire('alice');
    q.acquire('alice');
    let err: unknown;
    try {
      q.acquire('alice');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect((err as QuotaExceededError).code).toBe(ErrorCode.QuotaExceeded);
    expect((err as QuotaExceededError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((err as Error).message).toContain('2');
  });

  it('counts each key on its own', () => {
    const q = new KeyQuota(1);
    q.acquire('alice');
    expect(() => q.acquire('bob')).not.toThrow();
    expect(() => q.acquire('alice')).toThrow(QuotaExceededError);
    expect(() => q.acquire('bob')).toThrow(QuotaExceededError);
  });

  it('a release gives the place back', () => {
    const q = new KeyQuota(1);
    const release = q.acquire('alice');
    expect(() => q.acquire('alice')).toThrow(QuotaExceededError);
    release();
    expect(() => q.acquire('alice')).not.toThrow();
  });

  it('a release is idempotent: calling it twice frees one place only', () => {
    const q = new KeyQuota(2);
    const r1 = q.acquire('alice');
    q.acquire('alice');
    r1();
    r1();
    q.acquire('alice');
    expect(() => q.acquire('alice')).toThrow(QuotaExceededError);
  });

  it('forgets a key once all its executions ended (no growth with many keys)', () => {
    const q = new KeyQuota(1);
    for (let i = 0; i < 1000; i++) q.acquire(`k${i}`)();
    expect((q as unknown as { inFlight: Map<string, number> }).inFlight.size).toBe(0);
  });

  it('0 (or less) means no quota', () => {
    for (const limit of [0, -1]) {
      const q = new KeyQuota(limit);
      for (let i = 0; i < 100; i++) q.acquire('alice');
    }
  });
});
