/**
 * The real app (routes, error handling, queue, executor, metrics) over fakes: a
 * FakeSandboxRunner instead of ctr and a FakeHealthChecker instead of containerd probes.
 * No network, no containerd; drive it with app.inject.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { RuntimeTarget } from '../../src/ctr/argv.js';
import { Metrics } from '../../src/metrics.js';
import { ExecutionService } from '../../src/queue/execution-service.js';
import { Executor } from '../../src/execution/executor.js';
import type { Logger } from '../../src/sandbox/types.js';
import { FakeCatalog } from '../fakes/fake-catalog.js';
import { FakeHealthChecker } from '../fakes/fake-health.js';
import type { RuntimesInfo } from '../../src/schemas/runtimes.js';
import { FakeSandboxRunner } from '../fakes/fake-runner.js';

export const GVISOR_TARGET: RuntimeTarget = {
  kind: 'gvisor',
  ociRuntime: 'io.containerd.runc.v2',
  runcBinary: '/x',
  runtimeConfigPath: null,
  snapshotter: null,
  hypervisor: null,
  launch: 'config',
};

export const RUNC_TARGET: RuntimeTarget = { ...GVISOR_TARGET, kind: 'runc', runcBinary: null };

export interface LogLine {
  level: 'info' | 'warn' | 'error' | 'debug';
  bindings: Record<string, unknown>;
  obj: object | string;
  msg: string | undefined;
}

/** A Logger that keeps what it is given, so tests can read the audit lines. */
export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private push(level: LogLine['level'], obj: object | string, msg?: string): void {
    this.lines.push({ level, bindings: this.bindings, obj, msg });
  }
  info(obj: object | string, msg?: string): void {
    this.push('info', obj, msg);
  }
  warn(obj: object | string, msg?: string): void {
    this.push('warn', obj, msg);
  }
  error(obj: object | string, msg?: string): void {
    this.push('error', obj, msg);
  }
  debug(obj: object | string, msg?: string): void {
    this.push('debug', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
}

export interface TestAppOptions {
  /** KATA_EXEC_* settings, as strings, e.g. { KATA_EXEC_QUEUE_DEPTH: '1' }. */
  env?: Record<string, string>;
  /** Overrides of the gvisor RuntimeTarget, e.g. RUNC_TARGET. */
  runtime?: Partial<RuntimeTarget>;
  /** A prepared runner; `null` builds the Executor without one (RUNNER_NOT_CONFIGURED). */
  runner?: FakeSandboxRunner | null;
  health?: FakeHealthChecker;
  catalog?: FakeCatalog;
  isDraining?: () => boolean;
  /** A pino logger for the app's own request logs (default: none). */
  httpLogger?: FastifyBaseLogger;
  /** The languages the fake image holds (its languages.json); absent: not known, none refused. */
  imageLanguages?: Record<string, string>;
}

export interface TestApp {
  app: FastifyInstance;
  /** The fake the executor runs (unused, and never called, when built with runner: null). */
  runner: FakeSandboxRunner;
  health: FakeHealthChecker;
  metrics: Metrics;
  service: ExecutionService;
  executor: Executor;
  config: Config;
  runtime: RuntimeTarget;
  logger: RecordingLogger;
}

/** Fixed defaults so that results do not depend on the machine's core count. */
const BASE_ENV: Record<string, string> = {
  KATA_EXEC_CONCURRENCY: '4',
  KATA_EXEC_QUEUE_DEPTH: '8',
  KATA_EXEC_CPUS_MAX: '4',
  // The queue tests fill every slot from one client address; quota tests set their own.
  KATA_EXEC_KEY_CONCURRENCY: '0',
};

export async function buildTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({ ...BASE_ENV, ...opts.env });
  const runtime: RuntimeTarget = { ...GVISOR_TARGET, ...opts.runtime };
  const runner = opts.runner ?? new FakeSandboxRunner();
  const health = opts.health ?? new FakeHealthChecker();
  const metrics = new Metrics();
  const logger = new RecordingLogger();
  const imageLanguages = opts.imageLanguages;
  const executor = new Executor({
    config,
    runtime,
    runner: opts.runner === null ? null : runner,
    instanceId: 'test-instance',
    ...(imageLanguages ? { imageLanguages: () => imageLanguages } : {}),
  });
  const service = new ExecutionService(executor, metrics, logger, {
    concurrency: config.concurrency,
    queueDepth: config.queueDepth,
    keyConcurrency: config.keyConcurrency,
    memoryBudgetBytes: config.memoryBudgetBytes,
  });
  const catalog = opts.catalog ?? new FakeCatalog(sampleRuntimes(config));
  const app = await buildApp({
    config,
    logger: opts.httpLogger ?? false,
    service,
    health,
    catalog,
    metrics,
    ...(opts.isDraining ? { isDraining: opts.isDraining } : {}),
  });
  return { app, runner, health, metrics, service, executor, config, runtime, logger };
}

/** A plausible GET /v1/runtimes answer for the fake catalog. */
export function sampleRuntimes(config: Config): RuntimesInfo {
  return {
    languages: [
      { name: 'python', aliases: ['py', 'python3'], version: '3.11.2', entryFile: 'main.py', compile: null, run: ['python3', '/code/main.py'], image: 'toolruntime-sandbox:latest', available: true },
      { name: 'javascript', aliases: ['js', 'node', 'nodejs'], version: '18.20.4', entryFile: 'main.js', compile: null, run: ['node', '/code/main.js'], image: 'toolruntime-sandbox:latest', available: true },
      { name: 'bash', aliases: ['sh', 'shell'], version: '5.2.15', entryFile: 'main.sh', compile: null, run: ['bash', '/code/main.sh'], image: 'toolruntime-sandbox:latest', available: true },
      { name: 'c', aliases: ['gcc', 'c17'], version: null, entryFile: 'main.c', compile: { command: ['gcc', '-O2', '-std=gnu17', '-o', '/code/main', '/code/main.c', '-lm'], env: [] }, run: ['/code/main'], image: 'toolruntime-sandbox-full:latest', available: false },
    ],
    runtimes: [
      { kind: 'kata', isolation: 'vm', installed: false, active: false, ociRuntime: 'io.containerd.kata-qemu.v2', hypervisors: [] },
      { kind: 'gvisor', isolation: 'gvisor', installed: true, active: true, ociRuntime: 'io.containerd.runc.v2', hypervisors: [] },
      { kind: 'runc', isolation: 'container', installed: true, active: false, ociRuntime: 'io.containerd.runc.v2', hypervisors: [] },
    ],
    image: config.image,
    limits: config.limits,
    profiles: [
      { name: 'dev', available: true, defaults: {} },
      { name: 'standard', available: true, defaults: {} },
      { name: 'hardened', available: true, defaults: { memoryMb: 128 } },
    ],
  };
}
