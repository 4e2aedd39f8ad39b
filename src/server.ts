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
import { loadConfig } from './config.js';
import { Metrics } from './metrics.js';
import { createService } from './service.js';
import { ConfigError } from './errors.js';

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

  let svc;
  try {
    svc = await createService(config, logger, metrics, instanceId);
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? { message: err.message, cause: String(err.cause ?? '') } : err }, 'cannot start');
    process.stderr.write(`kata-exec: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  let draining = false;
  const app = await buildApp({ config, logger, service: svc.service, sessions: svc.sessions, health: svc.backend.health, catalog: svc.catalog, metrics, isDraining: () => draining });

  closeWithGrace({ delay: config.shutdownGraceMs + 20_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    logger.info({ signal }, 'draining');
    draining = true;
    const outcome = await svc.shutdown(config.shutdownGraceMs);
    if (outcome === 'timeout') logger.warn('the grace period ended: the remaining sandboxes were killed');
    await app.close();
    logger.info('stopped');
  });

  await app.listen({ host: config.host, port: config.port });
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.host);
  if (config.apiKeys.length === 0) {
    logger.warn(
      { host: config.host },
      loopback
        ? 'AUTHENTICATION IS OFF (no KATA_EXEC_API_KEYS): listening on loopback only'
        : 'AUTHENTICATION IS OFF (no KATA_EXEC_API_KEYS) and listening beyond loopback: anyone who reaches this port can run code',
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`kata-exec: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
