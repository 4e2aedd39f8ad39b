/** The Prometheus registry and every metric of the service, in one place. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly executions = new Counter({
    name: 'kata_exec_executions_total',
    help: 'Executions that ran, by runtime, language and status.',
    labelNames: ['runtime', 'language', 'status'] as const,
    registers: [this.registry],
  });

  readonly failures = new Counter({
    name: 'kata_exec_failures_total',
    help: 'Requests that ended in a service error, by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly pidsLimitKills = new Counter({
    name: 'kata_exec_pids_limit_kills_total',
    help: "Executions whose whole sandbox ended at its pids cgroup (gVisor's host backstop of limits.pids), by runtime: answered as the program's limit (killedBy pids_limit), never as sandbox_error.",
    labelNames: ['runtime'] as const,
    registers: [this.registry],
  });

  readonly startRetries = new Counter({
    name: 'kata_exec_sandbox_start_retries_total',
    help: "Cold sandboxes started again because nothing of the request ran, by runtime and reason: vm_agent_unreachable (a Kata VM's agent never answered its first check; up to 3 attempts) or lost_output (ctr lost every byte of a task that exited 0; once).",
    labelNames: ['runtime', 'reason'] as const,
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: 'kata_exec_execution_duration_seconds',
    help: 'Wall-clock duration of an execution, queue included, by runtime and status.',
    labelNames: ['runtime', 'status'] as const,
    buckets: [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly phase = new Histogram({
    name: 'kata_exec_phase_duration_seconds',
    help: 'Time spent in each phase of an execution: queued, setup, run; and teardown, which runs after the answer.',
    labelNames: ['runtime', 'phase'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 5, 30],
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'kata_exec_queue_depth',
    help: 'Executions waiting for a slot.',
    registers: [this.registry],
  });

  readonly inFlight = new Gauge({
    name: 'kata_exec_in_flight',
    help: 'Executions running now.',
    registers: [this.registry],
  });

  readonly memoryReserved = new Gauge({
    name: 'kata_exec_memory_reserved_bytes',
    help: 'Worst-case memory reserved by executions in flight and answers not yet sent (see KATA_EXEC_MEMORY_BUDGET_MB).',
    registers: [this.registry],
  });

  readonly slowClients = new Counter({
    name: 'kata_exec_slow_clients_total',
    help: 'Connections closed because the client did not take its answer within KATA_EXEC_WRITE_TIMEOUT_MS.',
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'kata_exec_auth_failures_total',
    help: 'Requests refused for authentication: 401, or 429 for an address past KATA_EXEC_AUTH_FAILURES_PER_MINUTE.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly mcpToolCalls = new Counter({
    name: 'kata_exec_mcp_tool_calls_total',
    help: 'MCP tool calls on /mcp, by tool and outcome: ok (the tool answered; a failing program is ok here, see kata_exec_executions_total) or the error code it returned.',
    labelNames: ['tool', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly reconciled = new Counter({
    name: 'kata_exec_reconciled_total',
    help: 'Leftovers of earlier processes removed at start, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly poolHits = new Counter({
    name: 'kata_exec_pool_hits_total',
    help: 'Executions served by a warm sandbox, by profile and pool class (default, compiled).',
    labelNames: ['profile', 'class'] as const,
    registers: [this.registry],
  });

  readonly poolMisses = new Counter({
    name: 'kata_exec_pool_misses_total',
    help: 'Executions of a pool class that found no warm sandbox and ran cold, by profile and class.',
    labelNames: ['profile', 'class'] as const,
    registers: [this.registry],
  });

  readonly poolUnmatched = new Counter({
    name: 'kata_exec_pool_unmatched_total',
    help: 'Executions that ran cold because their limits matched no pool class (a profile at its default limits, or at a compiled language\'s), by profile.',
    labelNames: ['profile'] as const,
    registers: [this.registry],
  });

  readonly poolLost = new Counter({
    name: 'kata_exec_pool_lost_total',
    help: 'Pooled sandboxes found dead (VM or container gone, launcher ended) before their program started, by profile and class; their request ran cold.',
    labelNames: ['profile', 'class'] as const,
    registers: [this.registry],
  });

  readonly poolReady = new Gauge({
    name: 'kata_exec_pool_ready',
    help: 'Warm sandboxes ready now.',
    registers: [this.registry],
  });

  readonly poolCreate = new Histogram({
    name: 'kata_exec_pool_create_seconds',
    help: 'Time to create and start a warm sandbox.',
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [this.registry],
  });

  readonly poolAge = new Histogram({
    name: 'kata_exec_pool_age_at_use_seconds',
    help: 'Age of a warm sandbox when an execution took it.',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers: [this.registry],
  });

  readonly sessionsActive = new Gauge({
    name: 'kata_exec_sessions_active',
    help: 'Sessions alive now (each is a running sandbox).',
    registers: [this.registry],
  });

  readonly sessionsCreated = new Counter({
    name: 'kata_exec_sessions_created_total',
    help: 'Sessions created.',
    registers: [this.registry],
  });

  readonly sessionsExpired = new Counter({
    name: 'kata_exec_sessions_expired_total',
    help: 'Sessions the reaper ended on time, by reason: idle (no call for idleTimeoutMs) or lifetime (maxLifetimeMs reached).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly sessionsReaped = new Counter({
    name: 'kata_exec_sessions_reaped_total',
    help: 'Sessions deleted without being asked, by reason: dead (their sandbox died or was killed), restart (found expired or dead by a service starting).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly sessionsAdopted = new Counter({
    name: 'kata_exec_sessions_adopted_total',
    help: 'Live sessions of an earlier process of the service, taken over at start.',
    registers: [this.registry],
  });

  readonly sessionFileBytes = new Counter({
    name: 'kata_exec_session_file_bytes_total',
    help: "Bytes of files moved through sessions' launchers, by direction: in (uploads) or out (downloads, archives).",
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kata_exec_' });
  }
}
