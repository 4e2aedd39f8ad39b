/**
 * The real service, over the real containerd that global-setup started: the same wiring
 * as src/server.ts (createCtrBackend, Executor, ExecutionService, buildApp), listening on
 * a loopback port. No fake anywhere.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';
import type { ExecutionService } from '../../src/queue/execution-service.js';
import type { CtrBackend } from '../../src/host/backend.js';
import type { WarmPool } from '../../src/sandbox/pool.js';
import type { SessionService } from '../../src/sessions/session-service.js';
import { createService } from '../../src/service.js';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import { testLogger } from './service-logs.js';
import { parseTaskList } from '../../src/ctr/parse.js';
import { mountPointsSeenBy } from '../../scripts/lib/private-containerd.js';

export interface RealService {
  app: FastifyInstance;
  url: string;
  config: Config;
  backend: CtrBackend;
  service: ExecutionService;
  pool: WarmPool;
  sessions: SessionService;
  metrics: Metrics;
  runDir: string;
  close(): Promise<void>;
}

export function testContainerd() {
  return inject('containerd');
}

export function testRuntimes(): string[] {
  return inject('containerd').runtimes;
}

/** The profiles a runtime accepts: runc refuses dev (root there is the host's) and hardened. */
export function profilesOf(runtime: string): ('dev' | 'standard' | 'hardened')[] {
  return runtime === 'runc' ? ['standard'] : ['dev', 'standard', 'hardened'];
}

/** The test runtimes with a warm pool: every one (a pooled program runs under the launcher, init, with its filter). */
export function pooledRuntimes(): string[] {
  return testRuntimes();
}

/** The test runtimes that accept the dev profile. */
export function devRuntimes(): string[] {
  return testRuntimes().filter((r) => profilesOf(r).includes('dev'));
}

/**
 * `extraPath`: directories searched before PATH for the runtimes' binaries, by this service
 * only (process.env.PATH is never changed).
 */
export async function startRealService(runtime: string, env: Record<string, string> = {}, extraPath: string[] = []): Promise<RealService> {
  const c = inject('containerd');
  // A given KATA_EXEC_RUN_DIR: a restarted service in the place of an earlier one (sessions).
  const runDir = env.KATA_EXEC_RUN_DIR ?? path.join(c.root, `svc-${runtime}-${randomBytes(3).toString('hex')}`);
  const config = loadConfig({
    KATA_EXEC_CONTAINERD_ADDRESS: c.address,
    KATA_EXEC_NAMESPACE: c.namespace,
    KATA_EXEC_RUNTIME: runtime,
    KATA_EXEC_RUN_DIR: runDir,
    KATA_EXEC_STATE_DIR: path.join(c.root, 'state'),
    KATA_EXEC_IMAGE: c.image,
    KATA_EXEC_PORT: '0',
    // No warm pool unless a test asks for one: pooled sandboxes would be counted as leaks.
    KATA_EXEC_POOL_SIZE: '0',
    // Every test request comes from 127.0.0.1, one client address: no per-key quota unless a test asks.
    KATA_EXEC_KEY_CONCURRENCY: '0',
    ...env,
  });
  // The kit's shim (when containerd runs the Kata kit) must be found by a Kata service's own
  // detection too, as containerd finds it.
  const searchPath = [...extraPath, ...(c.kataKit ? [path.join(c.kataKit, 'bin')] : []), process.env.PATH ?? ''].join(':');
  const logger = testLogger();
  const metrics = new Metrics();
  const { backend, service, pool, sessions, catalog, shutdown } = await createService(config, logger, metrics, 'test', { searchPath });
  const app = await buildApp({ config, logger, service, sessions, health: backend.health, catalog, metrics });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return {
    app,
    url: `http://127.0.0.1:${addr.port}`,
    config,
    backend,
    service,
    pool,
    sessions,
    metrics,
    runDir,
    close: async () => {
      await shutdown(config.shutdownGraceMs);
      await app.close();
    },
  };
}

/**
 * One real service for the enclosing describe (hostile and Kata tiers): started before its
 * tests, closed after them, and closing must leave nothing behind. Call it at the top of a
 * describe; use the getter in the tests. Closing twice (a test that closes it itself, then
 * afterAll) closes once.
 */
export interface UseServiceOptions {
  /** After each test: nothing of its executions is left (each test's own leak check, not only the describe's). */
  leaksEach?: boolean;
  /** After each test: its sessions are deleted (a failed test leaves none to the next one's limits). */
  sessionsEach?: boolean;
}

/**
 * One real service for a describe: started before its tests, and at the end its sessions
 * deleted (a stopping service keeps them for the next one), closed, and nothing of it left.
 */
export function useService(runtime: string, env: Record<string, string> = {}, o: UseServiceOptions = {}): () => RealService {
  let svc: RealService | undefined;
  beforeAll(async () => {
    const started = await startRealService(runtime, env);
    let closing: Promise<void> | null = null;
    const close = started.close;
    svc = { ...started, close: () => (closing ??= close()) };
  });
  if (o.leaksEach || o.sessionsEach) {
    afterEach(async () => {
      if (!svc) return;
      if (o.sessionsEach) await svc.sessions.deleteAll();
      if (o.leaksEach) expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
    });
  }
  afterAll(async () => {
    if (!svc) return;
    await svc.sessions.deleteAll();
    await svc.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });
  return () => {
    if (!svc) throw new Error('the service did not start (see beforeAll)');
    return svc;
  };
}

/** The sum of a metric's samples whose line holds `labels` (every sample when empty). */
export async function counter(svc: RealService, name: string, labels = ''): Promise<number> {
  const m = await svc.metrics.registry.getSingleMetricAsString(name);
  return m
    .split('\n')
    .filter((l) => l.startsWith(name) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export async function post(svc: RealService, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const res = await request(`${svc.url}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) };
}

export async function execute(svc: RealService, body: Record<string, unknown>): Promise<ExecuteResult> {
  const r = await post(svc, body);
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json as ExecuteResult;
}

export function ctr(args: string[]): string {
  const c = inject('containerd');
  return execFileSync('ctr', ['--address', c.address, '-n', c.namespace, ...args], { encoding: 'utf8' });
}

export function containerIds(): string[] {
  return ctr(['containers', 'list', '-q']).split('\n').filter(Boolean);
}

/** The ids of the tasks that run now (ctr tasks list, status RUNNING). */
export function runningTaskIds(): string[] {
  return parseTaskList(ctr(['tasks', 'list'])).filter((t) => t.status === 'RUNNING').map((t) => t.id);
}

export interface Leaks {
  containers: string[];
  tasks: string[];
  snapshots: string[];
  workDirs: string[];
  processes: string[];
  /** Mounts under the service's work directory, in containerd's mount namespace or ours. */
  mounts: string[];
  /** Hypervisor processes (qemu) in containerd's mount namespace: Kata VMs still alive. */
  vms: string[];
}

function containerdPid(): number | null {
  try {
    return Number(readFileSync(inject('containerd').pidFile, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

/**
 * qemu processes of this run's Kata VMs. In the kit's mode they live in containerd's own
 * mount namespace; on a Kata host, their command line names a sandbox of ours (kx-...). A run
 * that tests no Kata has none: another run's VMs on the same host (a Kata tier beside an
 * integration run) are not its leaks.
 */
export function vmProcesses(): string[] {
  if (!testRuntimes().includes('kata')) return [];
  const pid = containerdPid();
  let ns: string | null = null;
  try {
    ns = pid ? readlinkSync(`/proc/${pid}/ns/mnt`) : null;
  } catch {
    ns = null;
  }
  const self = readlinkSync('/proc/self/ns/mnt');
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      if (!/qemu-system|qemu-kata/.test(cmd)) continue;
      const pns = readlinkSync(`/proc/${p}/ns/mnt`);
      if ((ns && ns !== self && pns === ns) || / -name sandbox-kx-/.test(cmd)) out.push(`${p} ${cmd.slice(0, 120)}`);
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Everything of ours that could outlive an execution: containers, tasks, snapshots other
 * than the image's own layers and our rootfs views, work directories, and host processes
 * (shims, runsc) of this test namespace.
 */
export function findLeaks(runDir?: string): Leaks {
  const c = inject('containerd');
  const containers = containerIds().filter((id) => id.startsWith('kx-'));
  const tasks = ctr(['tasks', 'list', '-q']).split('\n').filter(Boolean);
  const snapshots = ctr(['snapshots', 'list'])
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols[0] && cols[cols.length - 1] !== 'Committed' && !cols[0].startsWith(c.root))
    .map((cols) => cols[0]!);
  const workDir = runDir ? path.join(runDir, 'work') : null;
  const workDirs = workDir && existsSync(workDir) ? readdirSync(workDir) : [];
  const processes = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    // A live service's own `ctr events` subscription (a child of this process) is not a leak.
    .filter((l) => !(/ ctr .* events$/.test(l) && Number(l.trim().split(/\s+/)[1]) === process.pid))
    .map((l) => l.trim().split(/\s+/).filter((_, i) => i !== 1).join(' '))
    // This run's only: shims and ctr clients name our socket, which lives under c.root.
    .filter((l) => l.includes(c.root) && (l.includes('containerd-shim') || / ctr /.test(` ${l.trim().split(/\s+/).slice(1).join(' ')}`)))
    .concat(runscProcesses(c.root));
  const mounts = workDir ? mountPointsSeenBy(['self', containerdPid() ?? 0], workDir) : [];
  return { containers, tasks, snapshots, workDirs, processes, mounts, vms: vmProcesses() };
}

/** runsc processes of our sandboxes: their --root is under this run's containerd state. */
function runscProcesses(root: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('runsc') && l.includes(root));
}

/** Polls briefly (shims exit just after their container is deleted), then returns what is left. */
export async function settledLeaks(runDir?: string): Promise<Leaks> {
  let leaks = findLeaks(runDir);
  for (let i = 0; i < 100 && Object.values(leaks).some((v) => v.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
    leaks = findLeaks(runDir);
  }
  return leaks;
}

export const NO_LEAKS: Leaks = { containers: [], tasks: [], snapshots: [], workDirs: [], processes: [], mounts: [], vms: [] };
