/**
 * Process entry: load the configuration, make the logger, wire the ctr backend, build the
 * app, listen; on SIGTERM/SIGINT shut down gracefully:
 *   1. readiness turns 503 and new executions get 503 SHUTTING_DOWN with Retry-After;
 *   2. running executions finish, up to KATA_EXEC_SHUTDOWN_GRACE_MS;
 *   3. whatever remains is killed and deleted; the rootfs is unmounted;
 *   4. the process exits 0.
 */
import { randomBytes } from 'node:crypto';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { Metrics } from './metrics.js';
import { ExecutionService } from './queue/execution-service.js';
import { createCtrBackend } from './runner/create.js';
import { Executor } from './runner/executor.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kata-exec: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'kata-exec' } });
  const metrics = new Metrics({ defaultMetrics: true });
  const instanceId = randomBytes(6).toString('hex');

  let backend;
  try {
    backend = await createCtrBackend(config, logger);
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? { message: err.message, cause: String(err.cause ?? '') } : err }, 'cannot start');
    process.stderr.write(`kata-exec: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (backend.reconciled.containers) metrics.reconciled.inc({ kind: 'container' }, backend.reconciled.containers);
  if (backend.reconciled.workDirs) metrics.reconciled.inc({ kind: 'workdir' }, backend.reconciled.workDirs);
  if (backend.reconciled.clients) metrics.reconciled.inc({ kind: 'ctr-client' }, backend.reconciled.clients);

  const executor = new Executor({ config, runtime: backend.runtime, runner: backend.runner, instanceId });
  const service = new ExecutionService(executor, metrics, logger, { concurrency: config.concurrency, queueDepth: config.queueDepth });
  let draining = false;
  const app = await buildApp({ config, logger, service, health: backend.health, metrics, isDraining: () => draining });

  closeWithGrace({ delay: config.shutdownGraceMs + 20_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    logger.info({ signal }, 'draining');
    draining = true;
    const drained = service.drain();
    const graceOver = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdownGraceMs).unref());
    const outcome = await Promise.race([drained.then(() => 'drained' as const), graceOver]);
    if (outcome === 'timeout') logger.warn('grace period over: killing the remaining sandboxes');
    // Kills and deletes whatever still runs (their executions answer with an error), then unmounts.
    await backend.close();
    await app.close();
    logger.info('stopped');
  });

  await app.listen({ host: config.host, port: config.port });
  if (config.host !== '127.0.0.1' && config.host !== '::1' && config.host !== 'localhost') {
    logger.warn({ host: config.host }, 'listening beyond loopback without authentication: anyone who reaches this port can run code');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`kata-exec: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
