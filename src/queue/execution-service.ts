/**
 * What the HTTP layer calls: validate and build the spec (fast, before queueing), take a
 * slot in the bounded queue, run, record metrics and one audit line per execution.
 */
import { createHash } from 'node:crypto';
import { isKataExecError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ExecuteRequest, ExecuteResult } from '../schemas/execute.js';
import type { ExecutionRunOptions, Executor, OutputListener, Prepared } from '../execution/executor.js';
import { stepCaptureBytes } from '../execution/plan.js';
import type { Logger } from '../sandbox/types.js';
import { worstCaseExecutionBytes } from '../config.js';
import { boundAnswer } from './answer-size.js';
import { KeyQuota } from './key-quota.js';
import { MemoryBudget } from './memory-budget.js';
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
  /** Each chunk of output as the program writes it (with steps: the compile's, or which test's). */
  onOutput?: OutputListener;
  /** The answer is streamed (live events as well as the result): a larger worst case. */
  streaming?: boolean;
  /**
   * Settles when the answer has been written or the client is gone. Until then the
   * execution keeps its place in the key's quota and its memory reservation.
   */
  answered?: Promise<unknown>;
}

export class ExecutionService {
  readonly queue: BoundedQueue;
  private readonly quota: KeyQuota;
  readonly memory: MemoryBudget;

  constructor(
    readonly executor: Executor,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    opts: { concurrency: number; queueDepth: number; keyConcurrency?: number; memoryBudgetBytes?: number },
  ) {
    this.quota = new KeyQuota(opts.keyConcurrency ?? 0);
    this.memory = new MemoryBudget(opts.memoryBudgetBytes ?? Number.POSITIVE_INFINITY, (b) => metrics.memoryReserved.set(b));
    this.queue = new BoundedQueue(opts.concurrency, opts.queueDepth, (s) => {
      metrics.queueDepth.set(s.waiting);
      metrics.inFlight.set(s.running);
    });
  }

  get runtimeKind(): string {
    return this.executor.runtime.kind;
  }

  async execute(req: ExecuteRequest, ctx: ExecuteContext): Promise<ExecuteResult> {
    return this.executeWith(req, ctx, () => this.executor.prepare(req), (p, o) => this.executor.run(p, o));
  }

  /**
   * The one way an execution runs, whatever runs it: a fresh sandbox (execute), or a
   * session's (sessions/): the key's quota, the memory budget, a slot of the queue, the
   * bounds of the answer, the metrics and one audit line. `audit`: more to write in it.
   */
  async executeWith<R extends ExecuteResult>(
    req: ExecuteRequest,
    ctx: ExecuteContext,
    prepare: () => Prepared,
    run: (p: Prepared, o: ExecutionRunOptions) => Promise<R>,
    extraAudit: Record<string, unknown> = {},
  ): Promise<R> {
    const startedAt = Date.now();
    const runtime = this.executor.runtime.kind;
    const audit = {
      requestId: ctx.requestId,
      language: req.language,
      codeSha256: codeDigest(req),
      runtime,
      profile: req.profile ?? 'standard',
      key: ctx.key ?? null,
      ...(req.metadata ? { metadata: req.metadata } : {}),
      ...extraAudit,
    };
    const releases: (() => void)[] = [];
    try {
      const prepared = prepare();
      releases.push(this.quota.acquire(ctx.key ?? 'anonymous'));
      // outputFiles: the bytes, their base64 and its JSON text.
      const files = prepared.spec.collect ? 4 * prepared.spec.collect.maxBytes : 0;
      // Steps (a compile, tests): the runner holds each one's captures until the end.
      const worstCase = worstCaseExecutionBytes(prepared.spec.resources.outputBytes, ctx.streaming ?? false) + files + stepCaptureBytes(prepared.spec.steps);
      this.memory.check(worstCase);
      const log = this.logger.child({ executionId: prepared.spec.id });
      const { value: result } = await this.queue.run(async () => {
        // Held from here until the answer is written or abandoned (see ctx.answered).
        releases.push(this.memory.reserve(worstCase));
        const queuedMs = Date.now() - startedAt;
        ctx.onStart?.(prepared.spec.id);
        return run(prepared, {
          queuedMs,
          startedAt,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(ctx.onOutput ? { onOutput: ctx.onOutput } : {}),
        });
      }, ctx.signal);
      boundAnswer(result, prepared.spec.resources.outputBytes);
      if (req.metadata) result.metadata = req.metadata;
      this.metrics.executions.inc({ runtime, language: result.language, status: result.status });
      if (result.killedBy === 'pids_limit') this.metrics.pidsLimitKills.inc({ runtime });
      this.metrics.duration.observe({ runtime, status: result.status }, result.durationMs / 1000);
      for (const [phase, v] of Object.entries(result.timing)) this.metrics.phase.observe({ runtime, phase: phase.replace(/Ms$/, '') }, v / 1000);
      log.info(
        {
          audit: {
            ...audit,
            executionId: result.id,
            status: result.status,
            ...(result.killedBy ? { killedBy: result.killedBy } : {}),
            exitCode: result.exitCode,
            durationMs: result.durationMs,
            limits: result.limits,
          },
        },
        'execution',
      );
      return result;
    } catch (err) {
      const code = isKataExecError(err) ? err.code : 'INTERNAL';
      this.metrics.failures.inc({ code });
      this.logger.info({ audit: { ...audit, error: code, durationMs: Date.now() - startedAt } }, 'execution refused or failed');
      throw err;
    } finally {
      const releaseAll = () => {
        for (const r of releases) r();
      };
      if (ctx.answered && releases.length > 0) void ctx.answered.then(releaseAll, releaseAll);
      else releaseAll();
    }
  }

  /** Stops taking work; resolves when running executions are done. */
  async drain(): Promise<void> {
    this.queue.close();
    await this.queue.idle();
  }
}
