/**
 * What the HTTP layer calls: validate and build the spec (fast, before queueing), take a
 * slot in the bounded queue, run, record metrics and one audit line per execution.
 */
import { createHash } from 'node:crypto';
import { isKataExecError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ExecuteRequest, ExecuteResult } from '../schemas/execute.js';
import type { Executor } from '../execution/executor.js';
import type { Logger } from '../sandbox/types.js';
import { KeyQuota } from './key-quota.js';
import { BoundedQueue } from './queue.js';

/**
 * SHA-256 of the program, for logs that must never hold the code: of `code` itself when
 * that is all (so a client can match it), else over every file with its path.
 */
export function codeDigest(req: ExecuteRequest): string {
  if (!req.files?.length) return createHash('sha256').update(req.code ?? '').digest('hex');
  const h = createHash('sha256');
  if (req.code !== undefined) h.update('code\0').update(req.code);
  for (const f of req.files ?? []) h.update(`\0${f.path}\0${f.encoding ?? 'utf8'}\0`).update(f.content);
  return h.digest('hex');
}

export interface ExecuteContext {
  requestId: string;
  /** The API key's name, or the client address without keys: what quotas count by. */
  key?: string;
  signal?: AbortSignal;
  /** Called when the execution leaves the queue and its sandbox is being made. */
  onStart?: (executionId: string) => void;
  /** Each chunk of output as the program writes it. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export class ExecutionService {
  readonly queue: BoundedQueue;
  private readonly quota: KeyQuota;

  constructor(
    private readonly executor: Executor,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    opts: { concurrency: number; queueDepth: number; keyConcurrency?: number },
  ) {
    this.quota = new KeyQuota(opts.keyConcurrency ?? 0);
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
      codeSha256: codeDigest(req),
      runtime,
      profile: req.profile ?? 'standard',
      key: ctx.key ?? null,
    };
    let release: (() => void) | undefined;
    try {
      const prepared = this.executor.prepare(req);
      release = this.quota.acquire(ctx.key ?? 'anonymous');
      const log = this.logger.child({ executionId: prepared.spec.id });
      const { value: result } = await this.queue.run(async () => {
        const queuedMs = Date.now() - startedAt;
        ctx.onStart?.(prepared.spec.id);
        return this.executor.run(prepared, {
          queuedMs,
          startedAt,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(ctx.onOutput ? { onOutput: ctx.onOutput } : {}),
        });
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
    } finally {
      release?.();
    }
  }

  /** Stops taking work; resolves when running executions are done. */
  async drain(): Promise<void> {
    this.queue.close();
    await this.queue.idle();
  }
}
