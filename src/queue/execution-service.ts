/**
 * What the HTTP layer calls: validate and build the spec (fast, before queueing), take a
 * slot in the bounded queue, run, record metrics and one audit line per execution.
 */
import { createHash } from 'node:crypto';
import { isKataExecError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ExecuteRequest, ExecuteResult } from '../schemas/execute.js';
import type { Executor } from '../runner/executor.js';
import type { Logger } from '../runner/types.js';
import { BoundedQueue } from './queue.js';

export interface ExecuteContext {
  requestId: string;
  signal?: AbortSignal;
}

export class ExecutionService {
  readonly queue: BoundedQueue;

  constructor(
    private readonly executor: Executor,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    opts: { concurrency: number; queueDepth: number },
  ) {
    this.queue = new BoundedQueue(opts.concurrency, opts.queueDepth, (s) => {
      metrics.queueDepth.set(s.waiting);
      metrics.inFlight.set(s.running);
    });
  }

  get runtimeKind(): string {
    return this.executor.runtime.kind;
  }

  async execute(req: ExecuteRequest, ctx: ExecuteContext): Promise<ExecuteResult> {
    const startedAt = Date.now();
    const runtime = this.executor.runtime.kind;
    const audit = {
      requestId: ctx.requestId,
      language: req.language,
      codeSha256: createHash('sha256').update(req.code).digest('hex'),
      runtime,
      profile: req.profile ?? 'standard',
    };
    try {
      const prepared = this.executor.prepare(req);
      const log = this.logger.child({ executionId: prepared.spec.id });
      const { value: result } = await this.queue.run(async () => {
        const queuedMs = Date.now() - startedAt;
        return this.executor.run(prepared, { queuedMs, startedAt, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      }, ctx.signal);
      if (req.metadata) result.metadata = req.metadata;
      this.metrics.executions.inc({ runtime, language: result.language, status: result.status });
      this.metrics.duration.observe({ runtime, status: result.status }, result.durationMs / 1000);
      for (const [phase, v] of Object.entries(result.timing)) this.metrics.phase.observe({ runtime, phase: phase.replace(/Ms$/, '') }, v / 1000);
      log.info(
        { audit: { ...audit, executionId: result.id, status: result.status, exitCode: result.exitCode, durationMs: result.durationMs, limits: result.limits } },
        'execution',
      );
      return result;
    } catch (err) {
      const code = isKataExecError(err) ? err.code : 'INTERNAL';
      this.metrics.failures.inc({ code });
      this.logger.info({ audit: { ...audit, error: code, durationMs: Date.now() - startedAt } }, 'execution refused or failed');
      throw err;
    }
  }

  /** Stops taking work; resolves when running executions are done. */
  async drain(): Promise<void> {
    this.queue.close();
    await this.queue.idle();
  }
}
