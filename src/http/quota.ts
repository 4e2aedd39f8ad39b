/** The per-key request rate is @fastify/rate-limit's; this is its error. */
import { ErrorCode, KataExecError } from '../errors.js';

export class RateLimitedError extends KataExecError {
  constructor(retryAfterSeconds: number) {
    super(ErrorCode.RateLimited, `too many executions for this key; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}
