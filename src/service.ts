/**
 * Wires the running service from its configuration: the ctr backend, the executor, the
 * bounded queue and the warm pool. server.ts and the integration tests both use it, so the
 * tests run exactly what production runs.
 */
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import { ExecutionService } from './queue/execution-service.js';
import { HostCatalog } from './host/catalog.js';
import { createCtrBackend, type BackendOptions, type CtrBackend } from './host/backend.js';
import { Executor } from './execution/executor.js';
import { WarmPool } from './sandbox/pool.js';
import { SessionService } from './sessions/session-service.js';
import type { Logger } from './sandbox/types.js';

export interface Service {
  backend: CtrBackend;
  executor: Executor;
  service: ExecutionService;
  pool: WarmPool;
  sessions: SessionService;
  catalog: HostCatalog;
  /**
   * Stops taking work, waits for running executions (up to graceMs), then deletes everything
   * but the live sessions, which the next process adopts.
   */
  shutdown(graceMs: number): Promise<'drained' | 'timeout'>;
}

export async function createService(config: Config, logger: Logger, metrics: Metrics, instanceId: string, opts: BackendOptions = {}): Promise<Service> {
  const backend = await createCtrBackend(config, logger, opts);
  if (backend.reconciled.containers) metrics.reconciled.inc({ kind: 'container' }, backend.reconciled.containers);
  if (backend.reconciled.workDirs) metrics.reconciled.inc({ kind: 'workdir' }, backend.reconciled.workDirs);
  if (backend.reconciled.clients) metrics.reconciled.inc({ kind: 'process' }, backend.reconciled.clients);

  // The languages the image holds: read from its rootfs each time it is resolved (now, and
  // with every sandbox made); until then nothing is refused on that ground.
  const imageLanguages = () => backend.images.languagesOf(config.image);
  void backend.images.resolve(config.image).catch(() => undefined);
  const executor = new Executor({ config, runtime: backend.runtime, runner: backend.runner, instanceId, collector: backend.sessionRunner, imageLanguages });
  const service = new ExecutionService(executor, metrics, logger, {
    concurrency: config.concurrency,
    queueDepth: config.queueDepth,
    keyConcurrency: config.keyConcurrency,
    memoryBudgetBytes: config.memoryBudgetBytes,
  });
  // A cold sandbox started again after a start failure (start-retry.ts) is counted here.
  backend.runner.observeStartRetries((reason) => metrics.startRetries.inc({ runtime: backend.runtime.kind, reason }));
  // Deleting a sandbox happens after its answer: its time is observed here.
  backend.runner.observeTeardowns((ms) => metrics.phase.observe({ runtime: backend.runtime.kind, phase: 'teardown' }, ms / 1000));
  // A pooled sandbox runs its program as a cold one does (under the launcher, its init, and
  // init's seccomp filter), so every runtime has a pool.
  const classes = config.pool.classes.filter((c) => {
    if (executor.supportsProfile(c.profile)) return true;
    logger.warn({ profile: c.profile, runtime: backend.runtime.kind }, 'not pooling a profile this runtime cannot run');
    return false;
  });
  const pool = new WarmPool(
    { size: config.pool.size, classes, maxAgeMs: config.pool.maxAgeMs },
    {
      runner: backend.runner,
      template: (c) => executor.template(c),
      // A compiled class only once the image is known to hold a compiled language.
      wanted: (c) => c.kind === 'default' || executor.imageHasCompiledLanguage() === true,
      canRefill: () => {
        const s = service.queue.stats();
        return s.waiting === 0 && s.running < service.queue.concurrency;
      },
      metrics,
      logger,
    },
  );
  executor.usePool(pool);
  pool.start();
  const sessions = new SessionService({
    config,
    executor,
    image: { ref: config.image, languages: imageLanguages },
    executions: service,
    runner: backend.sessionRunner,
    ctr: backend.ctr,
    metrics,
    logger,
    instanceId,
  });
  sessions.adopt(backend.reconciled.sessions);
  if (backend.reconciled.sessionsReaped) metrics.sessionsReaped.inc({ reason: 'restart' }, backend.reconciled.sessionsReaped);
  sessions.start();
  const catalog = new HostCatalog(config, backend.runtime, async () => backend.images.view((await backend.images.resolve(config.image)).rootfsPath), backend.detect);

  return {
    backend,
    executor,
    service,
    pool,
    sessions,
    catalog,
    shutdown: async (graceMs) => {
      const drained = Promise.all([service.drain(), sessions.shutdown()]);
      const graceOver = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      const outcome = await Promise.race([drained.then(() => 'drained' as const), graceOver]);
      await pool.drain();
      // Kills and deletes whatever still runs (those executions answer with an error), then unmounts.
      await backend.close();
      return outcome;
    },
  };
}
