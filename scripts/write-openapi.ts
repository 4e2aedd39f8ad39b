/**
 * Writes openapi/openapi.json: the OpenAPI 3.1 document that @fastify/swagger builds from
 * the routes' TypeBox schemas. The app is built with no runner and no containerd (the
 * document depends only on the routes and the limits). test/http/openapi.test.ts keeps
 * the committed file in step with the served one. Run: npm run openapi
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Executor } from '../src/execution/executor.js';
import { Metrics } from '../src/metrics.js';
import { ExecutionService } from '../src/queue/execution-service.js';
import { gvisorDriver } from '../src/runtimes/gvisor.js';
import type { Logger } from '../src/sandbox/types.js';

const OPENAPI_FILE = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));

/** Fixed, so that the document does not depend on the machine's core count. */
const DOC_ENV = { KATA_EXEC_CONCURRENCY: '4', KATA_EXEC_QUEUE_DEPTH: '8', KATA_EXEC_CPUS_MAX: '4' };

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };

/** The document exactly as committed: 2-space JSON and a trailing newline. */
function renderOpenApi(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

async function main(): Promise<void> {
  const config = loadConfig(DOC_ENV);
  const runtime = gvisorDriver.target({
    runtime: 'gvisor',
    hypervisor: config.hypervisor,
    kataShim: config.kataShim,
    kataConfigPath: '',
    runscPath: config.runscPath,
    runscWrapperPath: '/nonexistent',
  });
  const metrics = new Metrics();
  const executor = new Executor({ config, runtime, runner: null, instanceId: 'openapi' });
  const service = new ExecutionService(executor, metrics, silent, {
    concurrency: config.concurrency,
    queueDepth: config.queueDepth,
    keyConcurrency: config.keyConcurrency,
  });
  const app = await buildApp({
    config,
    logger: false,
    service,
    health: { check: async () => ({ ok: false, checks: [] }) },
    catalog: {
      describe: async () => {
        throw new Error('no catalog when writing the OpenAPI document');
      },
    },
    metrics,
  });
  try {
    await app.ready();
    await mkdir(fileURLToPath(new URL('../openapi/', import.meta.url)), { recursive: true });
    await writeFile(OPENAPI_FILE, renderOpenApi(app.swagger()));
    process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
  } finally {
    await app.close();
  }
}

await main();
