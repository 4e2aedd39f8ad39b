/**
 * The benchmark of issue 4: what one execution costs through the service, against the raw
 * `ctr run --rm` that it wraps, on the same runtime, program and containerd, in one run.
 * docs/performance.md has the figures of a real run and how to read them.
 *
 *   npm run bench [-- --quick] [-- --requests 60 --runtimes runc,gvisor --concurrency 1,2,4,8]
 *
 * As root, after `bash scripts/setup.sh deps` built /var/lib/kata-exec/images/sandbox.oci.tar.
 * It starts everything it needs and stops and removes it at the end (also on Ctrl-C):
 *   - a private containerd in a temporary directory (scripts/containerd.sh), the image
 *     imported into it (`ctr images import --base-name toolruntime-sandbox`), once for the
 *     raw runs and once per service (each service owns its namespace);
 *   - the service as separate processes (`node --import tsx src/server.ts`): one cold
 *     (KATA_EXEC_POOL_SIZE=0), one warm (KATA_EXEC_POOL_SIZE=N), side by side.
 *
 * Lines, per runtime (runc, gvisor) and per concurrency (1, 2, 4, 8):
 *   raw config   `ctr run --rm --config spec.json ID`, the invocation the service makes: the
 *                same OCI spec (buildOciSpec, the same limits and seccomp profile) over the
 *                image rootfs mounted once with `ctr images mount`, the program written to a
 *                per-execution /code; for gvisor --runc-binary is the same runsc wrapper.
 *                With python (`python3 -u /code/main.py`, print(6*7)) and with /bin/true.
 *   raw image    plain `ctr run --rm IMAGE ID python3 -c 'print(6*7)'` (a snapshot per run).
 *   cold         POST /v1/execute {"language":"python","code":"print(6*7)"}, no warm pool.
 *   warm         the same with the warm pool on ("n/a (no pool)" when the service has none).
 * Each cell is measured in rounds in which the lines take turns, so that all lines see the
 * same background load. Every response must be 200 with stdout "42\n" (every raw run exit 0
 * with "42\n", or nothing for /bin/true); failures are counted, shown, and make the exit
 * status 1. Then the service's VmRSS around three sets of executions (cold, runc, c=4),
 * under tsx and compiled, and a breakdown of one execution (ctr client start, sandbox
 * start, program, teardown; the warm pool's exec path by hand).
 *
 * Timing figures only: nothing here is a test, and no test asserts a time.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ConfigSchema, loadConfig } from '../src/config.js';
import {
  execInTaskArgv,
  globalArgs,
  importImageArgv,
  mountImageArgv,
  runtimeArgs,
  runWithConfigArgv,
  unmountImageArgv,
  versionArgv,
  type CtrTarget,
  type RuntimeTarget,
} from '../src/ctr/argv.js';
import { CtrClient } from '../src/ctr/client.js';
import { buildOciSpec, type OciSeccomp } from '../src/ctr/oci-spec.js';
import { runscWrapperScript } from '../src/runtimes/gvisor.js';
import { driverFor } from '../src/runtimes/registry.js';
import { ociSpecInput, programInit } from '../src/sandbox/ctr-spec.js';
import { executionDir, makeExecutionDir, removeExecutionDir, type ExecutionDir } from '../src/sandbox/files.js';
import { Executor } from '../src/execution/executor.js';
import { newNonce } from '../src/sandbox/marker.js';
import type { SandboxSpec } from '../src/sandbox/types.js';
import { kataBench, kataTable, type KataFigures } from './bench-kata.js';
import { inMountNamespaceArgv } from '../src/ctr/host.js';
import { findContainerdPid } from '../src/host/containerd-ns.js';

// ---------------------------------------------------------------------------------------
// Options

type Runtime = 'runc' | 'gvisor';
const LINES = ['raw-config', 'raw-true', 'raw-image', 'cold', 'warm'] as const;
type Line = (typeof LINES)[number];
const LINE_LABEL: Record<Line, string> = {
  'raw-config': 'raw ctr run --config (python)',
  'raw-true': 'raw ctr run --config (/bin/true)',
  'raw-image': 'raw ctr run IMAGE (python -c)',
  cold: 'service cold (pool 0)',
  warm: 'service warm (pool N)',
};

const USAGE = `usage: npm run bench -- [options]
  --requests N            measured requests per cell (default 60)
  --warmup N              warm-up requests before each cell, not measured (default 5)
  --runtimes LIST         runc,gvisor (default both)
  --concurrency LIST      1,2,4,8 (default)
  --lines LIST            ${LINES.join(',')} (default all)
  --pool-size N           warm pool size for the warm line (default 4)
  --memory-executions N   executions per memory set, 3 sets (default 1000; 0 skips)
  --rate-requests N       requests at a steady 1 request/s against the default pool (2), for its hit rate (default 60; 0 skips)
  --memory-runtime R      runtime of the memory sets (default runc)
  --breakdown N           samples of the per-phase breakdown (default 20; 0 skips)
  --rounds N              each cell in N chunks, the lines taking turns (default 3)
  --raw-marker            wrap the raw --config runs in the service's start-marker shell (/bin/sh printf; exec)
  --no-compiled           skip the memory sets of the compiled service (tsc output, node without tsx)
  --rss-tolerance-mb N    growth between sets 2 and 3 still called "no growth" (default 4)
  --json FILE             also write every figure as JSON
  --markdown FILE         also write the tables as Markdown
  --kata N                runs of each Kata line (raw ctr run, service cold, service warm) through
                          the Kata kit when it is installed (default 3; 0 skips)
  --quick                 12 requests, 2 warm-ups, 100 executions per memory set, 5 breakdown samples
  --verbose               print progress details`;

interface Options {
  requests: number;
  warmup: number;
  runtimes: Runtime[];
  concurrency: number[];
  lines: Line[];
  poolSize: number;
  memoryExecutions: number;
  rateRequests: number;
  memoryRuntime: Runtime;
  breakdown: number;
  rounds: number;
  compiled: boolean;
  rawMarker: boolean;
  rssToleranceMb: number;
  json: string | null;
  markdown: string | null;
  verbose: boolean;
  kata: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      warmup: { type: 'string' },
      runtimes: { type: 'string' },
      concurrency: { type: 'string' },
      lines: { type: 'string' },
      'pool-size': { type: 'string' },
      'memory-executions': { type: 'string' },
      'rate-requests': { type: 'string' },
      'memory-runtime': { type: 'string' },
      breakdown: { type: 'string' },
      rounds: { type: 'string' },
      'no-compiled': { type: 'boolean', default: false },
      'raw-marker': { type: 'boolean', default: false },
      'rss-tolerance-mb': { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      quick: { type: 'boolean', default: false },
      kata: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (name: string, v: string | undefined, def: number, min: number): number => {
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return Number(v);
  };
  const list = <T extends string>(name: string, v: string | undefined, allowed: readonly T[], def: T[]): T[] => {
    if (v === undefined) return def;
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const i of items) if (!allowed.includes(i as T)) throw new Error(`--${name}: ${i} is not one of ${allowed.join(', ')}`);
    return items as T[];
  };
  const concurrency = (values.concurrency ?? '1,2,4,8').split(',').map((s) => {
    if (!/^\d+$/.test(s.trim()) || Number(s) < 1) throw new Error('--concurrency must be positive integers, e.g. 1,2,4,8');
    return Number(s);
  });
  const requests = int('requests', values.requests, quick ? 12 : 60, 1);
  const o: Options = {
    requests,
    warmup: int('warmup', values.warmup, quick ? 2 : 5, 0),
    runtimes: list('runtimes', values.runtimes, ['runc', 'gvisor'] as const, ['runc', 'gvisor']),
    concurrency,
    lines: list('lines', values.lines, LINES, [...LINES]),
    poolSize: int('pool-size', values['pool-size'], 4, 1),
    memoryExecutions: int('memory-executions', values['memory-executions'], quick ? 100 : 1000, 0),
    rateRequests: int('rate-requests', values['rate-requests'], quick ? 10 : 60, 0),
    memoryRuntime: list('memory-runtime', values['memory-runtime'], ['runc', 'gvisor'] as const, ['runc'])[0]!,
    breakdown: int('breakdown', values.breakdown, quick ? 5 : 20, 0),
    rounds: int('rounds', values.rounds, 3, 1),
    compiled: !(values['no-compiled'] ?? false),
    rawMarker: values['raw-marker'] ?? false,
    rssToleranceMb: int('rss-tolerance-mb', values['rss-tolerance-mb'], 4, 0),
    json: values.json ?? null,
    markdown: values.markdown ?? null,
    verbose: values.verbose ?? false,
    kata: int('kata', values.kata, 3, 0),
  };
  if (Math.max(...o.concurrency) > o.requests) throw new Error('--requests must be at least the largest concurrency');
  return o;
}

// ---------------------------------------------------------------------------------------
// Small helpers

const repo = path.resolve(import.meta.dirname, '..');
const IMAGE = 'toolruntime-sandbox:latest';
const NAMESPACE = 'kata-exec-bench';
const PROGRAM = 'print(6*7)';
const EXPECTED = '42\n';
const BENCH_LABEL = { 'org.kata-exec.bench': 'raw' };

let verbose = false;
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const debug = (msg: string) => {
  if (verbose) log(msg);
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Linear interpolation between closest ranks (numpy's default). With 60 samples, p99 is
  // within the two largest values.
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const newId = (tag: string) => `kxb-${tag}-${randomBytes(6).toString('hex')}`;

/** `argv` in containerd's mount namespace (nsenter), or in ours when it has none of its own. */
function shIn(nsPid: number | null, argv: string[]): string {
  const [cmd, ...args] = inMountNamespaceArgv(nsPid, argv);
  return sh(cmd!, args);
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function trySh(cmd: string, args: string[]): string {
  try {
    return sh(cmd, args).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || 'not available';
  }
}
function which(bin: string): string | null {
  try {
    return sh('sh', ['-c', `command -v ${bin}`]).trim() || null;
  } catch {
    return null;
  }
}

/** Children we started (raw ctr runs, the service): ended on Ctrl-C. */
const children = new Set<ChildProcess>();

interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** ms from spawn: first stdout chunk that contains `mark`, when asked; stdout EOF; exit. */
  markAt: number | null;
  stdoutEndAt: number | null;
  exitAt: number;
  /** ms from spawn to the first stdout chunk containing `second`. */
  secondAt: number | null;
}

function runProc(file: string, args: string[], marks: { mark?: string; second?: string } = {}): Promise<ProcResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let markAt: number | null = null;
    let secondAt: number | null = null;
    let stdoutEndAt: number | null = null;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      stdout += c;
      const now = performance.now() - t0;
      if (marks.mark && markAt === null && stdout.includes(marks.mark)) markAt = now;
      if (marks.second && secondAt === null && stdout.includes(marks.second)) secondAt = now;
    });
    child.stdout.on('end', () => {
      stdoutEndAt = performance.now() - t0;
    });
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 8192) stderr += c;
    });
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr, markAt, secondAt, stdoutEndAt, exitAt: performance.now() - t0 });
    });
  });
}

function loadAvg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** Other engineers' test runs on this machine: containerd processes and vitest runs that are not ours. */
function foreignActivity(ourRoot: string): string {
  let containerds = 0;
  let vitests = 0;
  for (const pid of readdirSafe('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (/^containerd --config/.test(cmd) && !cmd.includes(ourRoot)) containerds++;
    if (/node .*vitest/.test(cmd)) vitests++;
  }
  return `${containerds} other containerd, ${vitests} vitest process(es)`;
}
function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------
// Results

interface Timing {
  queuedMs: number[];
  setupMs: number[];
  runMs: number[];
  teardownMs: number[];
  durationMs: number[];
  /** Per answer: it ran in a warm sandbox (its sandboxId is not its id). */
  hit: boolean[];
}

interface Cell {
  runtime: Runtime;
  line: Line;
  concurrency: number;
  requests: number;
  ok: number;
  failures: number;
  failureSamples: string[];
  /** Latencies of the successful requests (ms). */
  latencies: number[];
  p50: number;
  p95: number;
  p99: number;
  execPerSec: number;
  wallMs: number;
  load: string;
  timing: Timing | null;
  na: string | null;
}

function finishCell(c: Omit<Cell, 'p50' | 'p95' | 'p99' | 'execPerSec'>): Cell {
  const s = [...c.latencies].sort((a, b) => a - b);
  return {
    ...c,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    // Completed executions (ok or not) per second of wall time for the whole cell.
    execPerSec: c.wallMs > 0 ? (c.requests / c.wallMs) * 1000 : NaN,
  };
}

function naCell(runtime: Runtime, line: Line, concurrency: number, why: string): Cell {
  return finishCell({
    runtime,
    line,
    concurrency,
    requests: 0,
    ok: 0,
    failures: 0,
    failureSamples: [],
    latencies: [],
    wallMs: 0,
    load: '',
    timing: null,
    na: why,
  });
}

// ---------------------------------------------------------------------------------------
// The environment: temp dir, containerd, image, rootfs mount

interface Env {
  root: string;
  containerdEnv: NodeJS.ProcessEnv;
  target: CtrTarget;
  ctrPath: string;
  runscPath: string | null;
  ctr: CtrClient;
  rawRootfs: string | null;
  /** containerd's pid when its mount namespace is its own (the raw rootfs is mounted there). */
  containerdPid: number | null;
  rawWork: string;
  runscWrapper: string;
  seccomp: OciSeccomp | null;
  services: Set<ServiceProc>;
  archive: string;
  /** containerd namespaces the image was imported into: the raw runs' and one per service line. */
  namespaces: Set<string>;
  compiledDir: string | null;
}

let env: Env | null = null;

async function startEnvironment(o: Options): Promise<Env> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root (containerd, mounts)');
  const archive = path.join(process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec', 'images', 'sandbox.oci.tar');
  if (!existsSync(archive)) throw new Error(`${archive} is missing: run bash scripts/setup.sh deps first (it builds the image archive)`);
  for (const bin of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (!which(bin)) throw new Error(`${bin} is missing: apt-get install containerd runc`);
  }
  const runscPath = which('runsc');
  if (o.runtimes.includes('gvisor') && !runscPath) throw new Error('runsc is missing: apt-get install runsc (or --runtimes runc)');
  const ctrPath = which('ctr')!;

  const root = mkdtempSync('/tmp/kx-bench-');
  const e: Env = {
    root,
    containerdEnv: { KATA_EXEC_STATE_DIR: path.join(root, 'state'), KATA_EXEC_RUN_DIR: path.join(root, 'run') },
    target: { address: path.join(root, 'run', 'containerd', 'containerd.sock'), namespace: NAMESPACE },
    ctrPath,
    runscPath,
    ctr: null as unknown as CtrClient,
    rawRootfs: null,
    containerdPid: null,
    rawWork: path.join(root, 'raw', 'work'),
    runscWrapper: path.join(root, 'raw', 'bin', 'runsc-bench'),
    seccomp: null,
    services: new Set(),
    archive,
    namespaces: new Set(),
    compiledDir: null,
  };
  env = e;
  e.ctr = new CtrClient(ctrPath, e.target);
  log(`temporary directory ${root}`);
  sh('bash', [path.join(repo, 'scripts/containerd.sh'), 'start'], e.containerdEnv);
  importInto(e, NAMESPACE);

  await mkdir(e.rawWork, { recursive: true, mode: 0o711 });
  await mkdir(path.dirname(e.runscWrapper), { recursive: true, mode: 0o711 });
  if (runscPath) {
    // The very wrapper the service writes: exec runsc --network=none "$@".
    await writeFile(e.runscWrapper, runscWrapperScript(runscPath), { mode: 0o755 });
    await chmod(e.runscWrapper, 0o755);
  }
  const rootfs = path.join(root, 'raw', 'rootfs');
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  // In containerd's own mount namespace (scripts/containerd.sh gives it one, as the Kata
  // kit needs), where its shims look for the spec's root, as the service mounts its rootfs.
  e.containerdPid = await findContainerdPid(e.target.address);
  shIn(e.containerdPid, [ctrPath, ...mountImageArgv(e.target, IMAGE, rootfs)]);
  e.rawRootfs = rootfs;
  // containerd's default seccomp profile, read the way the service reads it.
  const probe = await e.ctr.defaultSeccompProfile(IMAGE, newId('seccomp'), BENCH_LABEL);
  e.seccomp = probe as OciSeccomp;
  return e;
}

/** `ctr images import --base-name toolruntime-sandbox` into a namespace, once. */
function importInto(e: Env, namespace: string): void {
  if (e.namespaces.has(namespace)) return;
  const t0 = performance.now();
  e.namespaces.add(namespace);
  sh(e.ctrPath, importImageArgv({ ...e.target, namespace }, e.archive, 'toolruntime-sandbox'));
  log(`image imported into ${namespace} in ${fmt((performance.now() - t0) / 1000)} s`);
}

let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    const e = env;
    for (const s of e?.services ?? []) await s.stop().catch(() => undefined);
    for (const c of children) c.kill('SIGKILL');
    if (!e) return;
    log('cleaning up');
    // Whatever a run left: kill and delete every container of our namespaces.
    for (const namespace of e.namespaces) {
      const ctr = new CtrClient(e.ctrPath, { ...e.target, namespace });
      try {
        for (const id of await ctr.listContainers()) {
          await ctr.killTask(id).catch(() => undefined);
          await ctr.removeContainer(id).catch(() => undefined);
        }
      } catch {
        // containerd already gone
      }
    }
    if (e.compiledDir) rmSync(e.compiledDir, { recursive: true, force: true });
    if (e.rawRootfs) {
      try {
        shIn(e.containerdPid, [e.ctrPath, ...unmountImageArgv(e.target, e.rawRootfs)]);
      } catch {
        // unmounted below
      }
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(e.root + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        sh('umount', ['--lazy', m]);
      } catch {
        // already gone
      }
    }
    try {
      sh('bash', [path.join(repo, 'scripts/containerd.sh'), 'stop'], e.containerdEnv);
    } catch (err) {
      log(`containerd stop: ${String(err)}`);
    }
    // Shims (and their runsc) of our containerd outlive it when a task was still there.
    for (const pid of readdirSafe('/proc')) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes('containerd-shim') && cmd.includes(e.target.address)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    // The services' logs (warn and above) outlive the run when they say anything.
    const logs = readdirSafe(e.root)
      .filter((d) => d.startsWith('svc-'))
      .map((d) => path.join(e.root, d, 'service.log'))
      .filter((f) => existsSync(f) && readFileSync(f, 'utf8').trim() !== '');
    if (logs.length) {
      const keep = `${e.root}-logs`;
      mkdirSync(keep, { recursive: true });
      for (const f of logs) copyFileSync(f, path.join(keep, `${path.basename(path.dirname(f))}.log`));
      log(`the service logged warnings or errors: kept in ${keep}`);
    }
    rmSync(e.root, { recursive: true, force: true });
    log('cleaned up');
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------
// Raw ctr runs

function runtimeTarget(e: Env, rt: Runtime): RuntimeTarget {
  return driverFor(rt).target({
    runtime: rt,
    hypervisor: 'qemu',
    kataShim: 'per-hypervisor',
    kataConfigPath: '',
    runscPath: 'runsc',
    runscWrapperPath: e.runscWrapper,
  });
}

/** The SandboxSpec the service builds for POST {"language":"python","code":"print(6*7)"}. */
const executors = new Map<string, Executor>();
function serviceSpec(rt: RuntimeTarget, id: string): SandboxSpec {
  let ex = executors.get(rt.kind);
  if (!ex) {
    const config = loadConfig({ KATA_EXEC_NAMESPACE: NAMESPACE });
    ex = new Executor({ config, runtime: rt, runner: null, instanceId: 'bench' });
    executors.set(rt.kind, ex);
  }
  return ex.prepare({ language: 'python', code: PROGRAM }, id).spec;
}

/** The OCI spec the service writes (sandbox/ctr-spec.ts) for the spec, with `command` as the process. */
function ociSpecFor(e: Env, rt: RuntimeTarget, spec: SandboxSpec, dir: ExecutionDir, command: string[]): Record<string, unknown> {
  return buildOciSpec(
    ociSpecInput(spec, rt, { rootfs: e.rawRootfs!, namespace: e.target.namespace, init: programInit(spec, command), seccomp: e.seccomp }),
  );
}

interface Sample {
  ms: number;
  ok: boolean;
  detail: string;
  proc?: ProcResult;
}

/** A raw run's directory, made by the service's own layout (sandbox/files.ts: spec.json), and its spec. */
async function rawExecutionDir(e: Env, target: RuntimeTarget, id: string): Promise<{ dir: ExecutionDir; specPath: string; spec: SandboxSpec }> {
  const dir = executionDir(e.rawWork, id);
  await makeExecutionDir(dir);
  return { dir, specPath: dir.specPath, spec: serviceSpec(target, id) };
}

/** The start-marker shell of the service before its launcher: printf the nonce, then exec. */
function wrapWithMarker(nonce: string, command: string[]): string[] {
  return ['/bin/sh', '-c', `printf '%s\\n' ${nonce} && exec "$@"`, 'sh', ...command];
}

/** The raw line's program: the service's python, given inline (a raw sandbox's /code is an empty tmpfs). */
const RAW_PYTHON = ['python3', '-c', PROGRAM];

/**
 * One raw execution the way the service makes it: per-execution directory with /code and
 * spec.json, `ctr run --rm --config`, directory removed. Timed from the first mkdir to
 * the removal, as the service's own work is.
 */
async function rawConfigOnce(e: Env, rt: Runtime, program: 'python' | 'true', marker = false): Promise<Sample & { nonce: string }> {
  const target = runtimeTarget(e, rt);
  const id = newId(rt);
  const t0 = performance.now();
  const { dir, specPath, spec } = await rawExecutionDir(e, target, id);
  const nonce = newNonce();
  let command = program === 'python' ? RAW_PYTHON : ['/bin/true'];
  if (marker) command = wrapWithMarker(nonce, command);
  await writeFile(specPath, JSON.stringify(ociSpecFor(e, target, spec, dir, command)), { mode: 0o600 });
  const argv = runWithConfigArgv(e.target, target, { id, specPath, labels: BENCH_LABEL });
  const r = await runProc(e.ctrPath, argv, marker ? { mark: nonce, second: '42' } : {});
  await removeExecutionDir(dir);
  const ms = performance.now() - t0;
  const want = program === 'python' ? EXPECTED : '';
  const out = marker ? r.stdout.replace(`${nonce}\n`, '') : r.stdout;
  const ok = r.code === 0 && out === want && (!marker || r.stdout.startsWith(`${nonce}\n`));
  return { ms, ok, nonce, proc: r, detail: ok ? '' : `exit ${r.code ?? r.signal}, stdout ${JSON.stringify(out.slice(0, 80))}, stderr ${JSON.stringify(r.stderr.trim().slice(-300))}` };
}

/** Plain `ctr run --rm IMAGE ID python3 -c 'print(6*7)'`: ctr's own defaults, a snapshot per run. */
async function rawImageOnce(e: Env, rt: Runtime): Promise<Sample> {
  const target = runtimeTarget(e, rt);
  const id = newId(`${rt}-img`);
  const t0 = performance.now();
  const argv = [...globalArgs(e.target), 'run', '--rm', ...runtimeArgs(target), '--label', 'org.kata-exec.bench=raw', IMAGE, id, 'python3', '-c', PROGRAM];
  const r = await runProc(e.ctrPath, argv);
  const ms = performance.now() - t0;
  const ok = r.code === 0 && r.stdout === EXPECTED;
  return { ms, ok, detail: ok ? '' : `exit ${r.code ?? r.signal}, stdout ${JSON.stringify(r.stdout.slice(0, 80))}, stderr ${JSON.stringify(r.stderr.trim().slice(-300))}` };
}

/** n runs of fn at concurrency c (c workers taking the next run). */
async function runParallel(n: number, c: number, fn: () => Promise<Sample>): Promise<{ samples: Sample[]; wallMs: number }> {
  const samples: Sample[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n && !stopping) {
      next++;
      samples.push(await fn());
    }
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
  return { samples, wallMs: performance.now() - t0 };
}

/** What one chunk of a cell measured; a cell is its chunks put together. */
interface Chunk {
  requests: number;
  ok: number;
  failures: number;
  failureSamples: string[];
  latencies: number[];
  wallMs: number;
  timing: Timing | null;
}

async function rawChunk(e: Env, rt: Runtime, line: Line, n: number, c: number, marker: boolean): Promise<Chunk> {
  const fn =
    line === 'raw-image' ? () => rawImageOnce(e, rt) : () => rawConfigOnce(e, rt, line === 'raw-true' ? 'true' : 'python', marker);
  const { samples, wallMs } = await runParallel(n, c, fn);
  const good = samples.filter((x) => x.ok);
  return {
    requests: samples.length,
    ok: good.length,
    failures: samples.length - good.length,
    failureSamples: samples.filter((x) => !x.ok).slice(0, 3).map((x) => x.detail),
    latencies: good.map((x) => x.ms),
    wallMs,
    timing: null,
  };
}

/** The chunks of one cell (and its warm-up, whose failures count too) as the cell. */
function mergeChunks(rt: Runtime, line: Line, c: number, chunks: Chunk[], warmup: Chunk | null, load: string): Cell {
  const all = warmup ? [warmup, ...chunks] : chunks;
  const timing = chunks.some((x) => x.timing)
    ? {
        queuedMs: chunks.flatMap((x) => x.timing?.queuedMs ?? []),
        setupMs: chunks.flatMap((x) => x.timing?.setupMs ?? []),
        runMs: chunks.flatMap((x) => x.timing?.runMs ?? []),
        teardownMs: chunks.flatMap((x) => x.timing?.teardownMs ?? []),
        durationMs: chunks.flatMap((x) => x.timing?.durationMs ?? []),
        hit: chunks.flatMap((x) => x.timing?.hit ?? []),
      }
    : null;
  return finishCell({
    runtime: rt,
    line,
    concurrency: c,
    requests: chunks.reduce((a, x) => a + x.requests, 0),
    ok: chunks.reduce((a, x) => a + x.ok, 0),
    failures: all.reduce((a, x) => a + x.failures, 0),
    failureSamples: all.flatMap((x) => x.failureSamples).slice(0, 3),
    latencies: chunks.flatMap((x) => x.latencies),
    wallMs: chunks.reduce((a, x) => a + x.wallMs, 0),
    load,
    timing,
    na: null,
  });
}

// ---------------------------------------------------------------------------------------
// The service as a process

class PoolMissingError extends Error {}

interface ServiceProc {
  pid: number;
  url: string;
  logPath: string;
  stop(): Promise<void>;
}

/** The TCP port a process listens on, from its socket inodes and /proc/<pid>/net/tcp. */
async function listeningPort(pid: number): Promise<number | null> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      return parseInt(f[1]!.split(':')[1]!, 16);
    }
  }
  return null;
}

let serviceCount = 0;

/** The service as a process: `node --import tsx src/server.ts` (entry 'tsx') or node on a compiled entry file. */
async function startService(e: Env, rt: Runtime, concurrency: number, poolSize: number, namespace: string, entry: string): Promise<ServiceProc> {
  importInto(e, namespace);
  const n = ++serviceCount;
  const dir = path.join(e.root, `svc-${n}`);
  await mkdir(dir, { recursive: true });
  const logPath = path.join(dir, 'service.log');
  const fd = openSync(logPath, 'a');
  const poolKnown = 'KATA_EXEC_POOL_SIZE' in (ConfigSchema.properties as Record<string, unknown>);
  const svcEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    KATA_EXEC_HOST: '127.0.0.1',
    KATA_EXEC_PORT: '0',
    KATA_EXEC_LOG_LEVEL: 'warn',
    KATA_EXEC_RUNTIME: rt,
    KATA_EXEC_CONTAINERD_ADDRESS: e.target.address,
    KATA_EXEC_NAMESPACE: namespace,
    KATA_EXEC_STATE_DIR: path.join(dir, 'state'),
    KATA_EXEC_RUN_DIR: path.join(dir, 'run'),
    KATA_EXEC_CONCURRENCY: String(concurrency),
    KATA_EXEC_QUEUE_DEPTH: '100000',
    // One client, no key: its share must be the whole service, or c=8 meets 429s (QUOTA_EXCEEDED).
    KATA_EXEC_KEY_CONCURRENCY: String(concurrency),
    // Nor may a rate limit (600 a minute by default) turn fast cells into 429s.
    KATA_EXEC_RATE_LIMIT_PER_MINUTE: '0',
    KATA_EXEC_SHUTDOWN_GRACE_MS: '5000',
  };
  if (poolSize > 0) {
    svcEnv.KATA_EXEC_POOL_SIZE = String(poolSize);
    svcEnv.KATA_EXEC_POOL_PROFILES = 'standard';
  } else if (poolKnown) {
    svcEnv.KATA_EXEC_POOL_SIZE = '0';
  }
  const args = entry === 'tsx' ? ['--import', 'tsx', path.join(repo, 'src/server.ts')] : [entry];
  const child = spawn(process.execPath, args, {
    cwd: repo,
    env: svcEnv,
    // Its own process group: Ctrl-C reaches the benchmark, which stops the service itself.
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  children.add(child);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitP = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve();
    }),
  );
  const pid = child.pid!;
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const done = await Promise.race([exitP.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
      await exitP;
    }
    e.services.delete(svc);
  };
  const svc: ServiceProc = { pid, url: '', logPath, stop };
  e.services.add(svc);

  const deadline = Date.now() + 90_000;
  let port: number | null = null;
  while (Date.now() < deadline && !exited && !stopping) {
    port = await listeningPort(pid);
    if (port) break;
    await sleep(100);
  }
  if (!port) {
    await stop();
    const text = readFileSync(logPath, 'utf8');
    if (/KATA_EXEC_POOL_SIZE is not a setting/.test(text)) throw new PoolMissingError('the service has no warm pool (KATA_EXEC_POOL_SIZE is not a setting)');
    throw new Error(`the service did not start (${JSON.stringify(exited)}); its log:\n${text.slice(-3000)}`);
  }
  svc.url = `http://127.0.0.1:${port}`;
  while (Date.now() < deadline && !stopping) {
    const ok = await fetch(`${svc.url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return svc;
    await sleep(200);
  }
  await stop();
  throw new Error(`the service never became ready; its log:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
}

function rssKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

/** Pool gauges from /metrics (any kata_exec_pool* sample), for the warm line's settling. */
async function poolGauges(url: string): Promise<Record<string, number>> {
  const text = await fetch(`${url}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(kata_exec_pool\w*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Waits until a pool gauge that looks like "ready sandboxes" reaches the pool size (or 20 s). */
interface HitRate {
  runtime: Runtime;
  requests: number;
  ok: number;
  hits: number;
  misses: number;
  unmatched: number;
  lost: number;
  p50: number;
}

function poolCount(m: Record<string, number>, name: string): number {
  return Object.entries(m)
    .filter(([k]) => k === name || k.startsWith(`${name}{`))
    .reduce((a, [, v]) => a + v, 0);
}

/**
 * The warm pool's hit rate at a steady 1 request/s: a service with the default pool (2
 * sandboxes of \`standard\`), one request sent each second whatever the previous did, and
 * the pool's own counters read before and after.
 */
async function hitRateRun(e: Env, rt: Runtime, n: number): Promise<HitRate> {
  const svc = await startService(e, rt, 2, 2, `${NAMESPACE}-rate`, 'tsx');
  try {
    log(`${rt} rate: ${await waitPoolFull(svc.url, 2)}`);
    const before = await poolGauges(svc.url);
    const t0 = performance.now();
    const latencies: number[] = [];
    let ok = 0;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n && !stopping; i++) {
      const wait = t0 + i * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const ts = performance.now();
      pending.push(
        fetch(`${svc.url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY })
          .then(async (res) => {
            const j = (await res.json()) as { stdout?: string; status?: string };
            if (res.status === 200 && j.stdout === EXPECTED && j.status === 'ok') ok++;
            latencies.push(performance.now() - ts);
          })
          .catch(() => undefined),
      );
    }
    await Promise.all(pending);
    const after = await poolGauges(svc.url);
    const d = (name: string) => poolCount(after, name) - poolCount(before, name);
    return {
      runtime: rt,
      requests: n,
      ok,
      hits: d('kata_exec_pool_hits_total'),
      misses: d('kata_exec_pool_misses_total'),
      unmatched: d('kata_exec_pool_unmatched_total'),
      lost: d('kata_exec_pool_lost_total'),
      p50: median(latencies),
    };
  } finally {
    await svc.stop();
  }
}

async function waitPoolFull(url: string, size: number): Promise<string> {
  const t0 = Date.now();
  let last: Record<string, number> = {};
  while (Date.now() - t0 < 20_000 && !stopping) {
    last = await poolGauges(url);
    const ready = Object.entries(last).filter(([k]) => /(idle|ready|available|warm)/.test(k) && !/_total|_bucket|_sum|_count/.test(k));
    if (ready.length && ready.reduce((a, [, v]) => a + v, 0) >= size) return `pool full after ${Date.now() - t0} ms`;
    if (!Object.keys(last).length && Date.now() - t0 > 5000) return 'no pool gauge in /metrics: waited 5 s';
    await sleep(100);
  }
  return `pool not full after 20 s: ${JSON.stringify(last)}`;
}

interface HttpRun {
  latencies: number[];
  ok: number;
  failures: number;
  failureSamples: string[];
  wallMs: number;
  timing: Timing;
  sent: number;
}

const BODY = JSON.stringify({ language: 'python', code: PROGRAM });

/** n POST /v1/execute with autocannon, c connections; every answer is checked. */
async function httpRun(url: string, n: number, c: number): Promise<HttpRun> {
  const r: HttpRun = {
    latencies: [],
    ok: 0,
    failures: 0,
    failureSamples: [],
    wallMs: 0,
    sent: n,
    timing: { queuedMs: [], setupMs: [], runMs: [], teardownMs: [], durationMs: [], hit: [] },
  };
  let lastOk = false;
  const t0 = performance.now();
  let finish: (v: { err: unknown; res: autocannon.Result | undefined }) => void = () => undefined;
  const finished = new Promise<{ err: unknown; res: autocannon.Result | undefined }>((resolve) => (finish = resolve));
  const inst = autocannon(
    {
      url,
      connections: Math.min(c, n),
      amount: n,
      timeout: 120,
      requests: [
        {
          method: 'POST',
          path: '/v1/execute',
          headers: { 'content-type': 'application/json' },
          body: BODY,
          onResponse: (status: number, body: string) => {
            lastOk = false;
            try {
              const j = JSON.parse(body) as { id?: string; sandboxId?: string; stdout?: string; status?: string; timing?: Record<string, number>; durationMs?: number };
              if (status === 200 && j.stdout === EXPECTED && j.status === 'ok') {
                lastOk = true;
                r.ok++;
                if (j.timing) {
                  r.timing.queuedMs.push(j.timing.queuedMs ?? NaN);
                  r.timing.setupMs.push(j.timing.setupMs ?? NaN);
                  r.timing.runMs.push(j.timing.runMs ?? NaN);
                  // No longer in the answer: the sandbox is deleted after it (the teardown metric).
                  r.timing.teardownMs.push(j.timing.teardownMs ?? 0);
                }
                if (typeof j.durationMs === 'number') {
                  r.timing.durationMs.push(j.durationMs);
                  r.timing.hit.push(typeof j.sandboxId === 'string' && j.sandboxId !== j.id);
                }
                return;
              }
            } catch {
              // not JSON: a failure below
            }
            r.failures++;
            if (r.failureSamples.length < 3) r.failureSamples.push(`HTTP ${status}: ${body.slice(0, 300)}`);
          },
        },
      ],
    },
    (err, res) => finish({ err, res }),
  );
  let tLast = 0;
  inst.on('response', (_client, _status, _bytes, responseTime) => {
    tLast = performance.now();
    if (lastOk) r.latencies.push(responseTime);
  });
  const stopOnSignal = () => inst.stop();
  stopHooks.add(stopOnSignal);
  const { err, res } = await finished;
  stopHooks.delete(stopOnSignal);
  if (err) throw err instanceof Error ? err : new Error(String(err));
  // From the call to the last answer: autocannon's own wind-down after it is not the service's.
  r.wallMs = (tLast || performance.now()) - t0;
  const lost = n - r.ok - r.failures;
  if (lost > 0) {
    r.failures += lost;
    r.failureSamples.push(`${lost} request(s) without an answer (errors ${res?.errors}, timeouts ${res?.timeouts})`);
  }
  return r;
}

async function serviceChunk(svc: ServiceProc, n: number, c: number): Promise<Chunk> {
  const h = await httpRun(svc.url, n, c);
  return { requests: h.sent, ok: h.ok, failures: h.failures, failureSamples: h.failureSamples, latencies: h.latencies, wallMs: h.wallMs, timing: h.timing };
}

// ---------------------------------------------------------------------------------------
// Breakdown of one execution

interface Breakdown {
  runtime: Runtime;
  samples: number;
  ctrHelpMs: number;
  ctrVersionMs: number;
  toMarkerMs: number;
  markerTo42Ms: number;
  afterOutputMs: number;
  stdoutEofToExitMs: number;
  totalMs: number;
  trueTotalMs: number;
  hostPythonMs: number;
  /** The warm path by hand, with nothing else running: `ctr run --detach` of an idle sandbox, `ctr tasks exec` of the program in it, kill + delete. */
  detachStartMs: number;
  execMs: number;
  execFailures: number;
  destroyMs: number;
}

/**
 * The warm pool's path, by hand and alone: a sandbox started with `sleep infinity`
 * (`ctr run --detach --config`), the program written to its /code afterwards and run with
 * `ctr tasks exec`, then the sandbox killed and deleted. Returns the three times (ms).
 */
async function warmPathOnce(e: Env, rt: Runtime): Promise<{ start: number; exec: number; destroy: number; ok: boolean; detail: string }> {
  const target = runtimeTarget(e, rt);
  const id = newId(`${rt}-exec`);
  const { dir, specPath, spec } = await rawExecutionDir(e, target, id);
  await writeFile(specPath, JSON.stringify(ociSpecFor(e, target, spec, dir, ['sleep', 'infinity'])), { mode: 0o600 });
  const runArgv = runWithConfigArgv(e.target, target, { id, specPath, labels: BENCH_LABEL, detach: true });
  const started = await runProc(e.ctrPath, runArgv);
  let exec: ProcResult | null = null;
  if (started.code === 0) {
    const execArgv = execInTaskArgv(e.target, id, { execId: 'run', cwd: spec.workingDir, command: RAW_PYTHON });
    exec = await runProc(e.ctrPath, execArgv);
  }
  const t0 = performance.now();
  await e.ctr.killTask(id).catch(() => undefined);
  await e.ctr.removeContainer(id).catch(() => undefined);
  const destroy = performance.now() - t0;
  await removeExecutionDir(dir);
  const ok = started.code === 0 && exec !== null && exec.code === 0 && exec.stdout === EXPECTED;
  const detail = ok ? '' : `run --detach exit ${started.code} ${started.stderr.trim().slice(-200)}; exec exit ${exec?.code} stdout ${JSON.stringify(exec?.stdout ?? '')} ${exec?.stderr.trim().slice(-200) ?? ''}`;
  return { start: started.exitAt, exec: exec?.exitAt ?? NaN, destroy, ok, detail };
}

async function breakdown(e: Env, rt: Runtime, n: number): Promise<Breakdown> {
  const help: number[] = [];
  const version: number[] = [];
  const toMarker: number[] = [];
  const markerTo42: number[] = [];
  const after: number[] = [];
  const eofToExit: number[] = [];
  const total: number[] = [];
  const trueTotal: number[] = [];
  const hostPython: number[] = [];
  const detachStart: number[] = [];
  const execs: number[] = [];
  const destroys: number[] = [];
  let execFailures = 0;
  let failures = 0;
  for (let i = 0; i < n && !stopping; i++) {
    help.push((await runProc(e.ctrPath, ['--help'])).exitAt);
    const v = await runProc(e.ctrPath, versionArgv(e.target));
    version.push(v.exitAt);
    const s = await rawConfigOnce(e, rt, 'python', true);
    const p = s.proc!;
    if (!s.ok || p.markAt === null || p.secondAt === null) {
      failures++;
      log(`breakdown run failed: ${s.detail}`);
      continue;
    }
    toMarker.push(p.markAt);
    markerTo42.push(p.secondAt - p.markAt);
    after.push(p.exitAt - p.secondAt);
    eofToExit.push(p.exitAt - (p.stdoutEndAt ?? p.exitAt));
    total.push(p.exitAt);
    const t = await rawConfigOnce(e, rt, 'true');
    if (t.ok) trueTotal.push(t.proc!.exitAt);
    // The image's own python straight on the host (chroot into the mounted rootfs): the
    // program without any sandbox.
    const hp = await runProc('chroot', [e.containerdPid ? `/proc/${e.containerdPid}/root${e.rawRootfs!}` : e.rawRootfs!, '/usr/bin/python3', '-c', PROGRAM]);
    if (hp.code === 0) hostPython.push(hp.exitAt);
    const w = await warmPathOnce(e, rt);
    if (w.ok) {
      detachStart.push(w.start);
      execs.push(w.exec);
      destroys.push(w.destroy);
    } else {
      execFailures++;
      log(`breakdown: warm path by hand failed: ${w.detail}`);
    }
  }
  if (failures) log(`${failures} breakdown run(s) failed`);
  return {
    runtime: rt,
    samples: total.length,
    ctrHelpMs: median(help),
    ctrVersionMs: median(version),
    toMarkerMs: median(toMarker),
    markerTo42Ms: median(markerTo42),
    afterOutputMs: median(after),
    stdoutEofToExitMs: median(eofToExit),
    totalMs: median(total),
    trueTotalMs: median(trueTotal),
    hostPythonMs: median(hostPython),
    detachStartMs: median(detachStart),
    execMs: median(execs),
    execFailures,
    destroyMs: median(destroys),
  };
}

// ---------------------------------------------------------------------------------------
// Memory

interface MemoryResult {
  /** How the service ran: `node --import tsx src/server.ts` (as briefed) or tsc's output under plain node. */
  variant: 'tsx' | 'compiled';
  runtime: Runtime;
  perSet: number;
  concurrency: number;
  rssMb: number[];
  hwmMb: number;
  failures: number;
  failureSamples: string[];
  setSeconds: number[];
  /** VmRSS of an idle `node` and an idle `node --import tsx` on an empty script: what the loader alone costs. */
  idleNodeMb: number;
  idleTsxMb: number;
}

/** VmRSS of a process that runs an empty script (with `pre` before it), 2 s after its start. */
async function idleRss(e: Env, pre: string[], ext: string): Promise<number> {
  const file = path.join(e.root, `idle.${ext}`);
  writeFileSync(file, 'setInterval(() => undefined, 1000);\n');
  const child = spawn(process.execPath, [...pre, file], { cwd: repo, stdio: 'ignore' });
  children.add(child);
  try {
    await sleep(2000);
    return rssKb(child.pid!).rss / 1024;
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
  }
}

async function memoryRun(e: Env, o: Options, variant: 'tsx' | 'compiled', entry: string): Promise<MemoryResult> {
  const c = 4;
  const svc = await startService(e, o.memoryRuntime, Math.max(c, ...o.concurrency), 0, `${NAMESPACE}-cold`, entry);
  const m: MemoryResult = {
    variant,
    runtime: o.memoryRuntime,
    perSet: o.memoryExecutions,
    concurrency: c,
    rssMb: [],
    hwmMb: NaN,
    failures: 0,
    failureSamples: [],
    setSeconds: [],
    idleNodeMb: await idleRss(e, [], 'mjs'),
    idleTsxMb: await idleRss(e, ['--import', 'tsx'], 'ts'),
  };
  try {
    const settle = async () => {
      await sleep(1000);
      return rssKb(svc.pid).rss / 1024;
    };
    m.rssMb.push(await settle());
    log(`memory (${variant}): VmRSS before set 1: ${fmt(m.rssMb[0]!)} MB`);
    for (let set = 1; set <= 3 && !stopping; set++) {
      // In chunks so that progress shows and a Ctrl-C stops soon.
      let left = o.memoryExecutions;
      const t0 = performance.now();
      while (left > 0 && !stopping) {
        const chunk = Math.min(left, 200);
        const h = await httpRun(svc.url, chunk, Math.min(c, chunk));
        m.failures += h.failures;
        for (const f of h.failureSamples) if (m.failureSamples.length < 3) m.failureSamples.push(f);
        left -= chunk;
      }
      m.setSeconds.push((performance.now() - t0) / 1000);
      m.rssMb.push(await settle());
      log(`memory (${variant}): VmRSS after set ${set} (${o.memoryExecutions} executions, ${fmt(m.setSeconds.at(-1)!)} s): ${fmt(m.rssMb.at(-1)!)} MB`);
    }
    m.hwmMb = rssKb(svc.pid).hwm / 1024;
  } finally {
    await svc.stop();
  }
  return m;
}

/**
 * The service as production runs it (`npm start`: node on tsc's output), compiled into a
 * directory under node_modules/.cache so that its imports resolve; removed at the end.
 * Returns the entry file, or null when src/ does not compile right now.
 */
function compileService(e: Env): string | null {
  const out = path.join(repo, 'node_modules', '.cache', `kx-bench-${path.basename(e.root)}`);
  e.compiledDir = out;
  try {
    sh(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.build.json'), '--outDir', out, '--sourceMap', 'false']);
  } catch (err) {
    const x = err as { stdout?: string };
    log(`src/ does not compile now, so no compiled-service memory sets: ${(x.stdout ?? String(err)).slice(0, 500)}`);
    return null;
  }
  return path.join(out, 'server.js');
}

// ---------------------------------------------------------------------------------------
// Report

interface Report {
  date: string;
  command: string;
  options: Options;
  machine: Record<string, string>;
  cells: Cell[];
  breakdowns: Breakdown[];
  memory: MemoryResult[];
  hitRates: HitRate[];
  poolAvailable: boolean | null;
  loadStart: string;
  loadEnd: string;
  activityStart: string;
  activityEnd: string;
  /** The Kata lines (scripts/bench-kata.ts), null without the kit. */
  kata: KataFigures | null;
}

/** The commit and whether src/ differs from it: the service measured is the working tree's. */
function sourceState(): string {
  const head = trySh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']);
  const dirty = trySh('git', ['-C', repo, 'status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length;
  return dirty ? `${head} + uncommitted changes in ${dirty} src/ file(s)` : head;
}

function machineInfo(): Record<string, string> {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return {
    nproc: trySh('nproc', []),
    cpu,
    memory: `${fmt(os.totalmem() / 1024 ** 3)} GiB`,
    kernel: trySh('uname', ['-r']),
    os: trySh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
    node: process.version,
    containerd: trySh('containerd', ['--version']),
    runc: trySh('runc', ['--version']).split('\n')[0] ?? '',
    runsc: trySh('runsc', ['--version']).split('\n')[0] ?? '',
    source: sourceState(),
    autocannon: JSON.parse(readFileSync(path.join(repo, 'node_modules/autocannon/package.json'), 'utf8')).version as string,
  };
}

function find(cells: Cell[], rt: Runtime, line: Line, c: number): Cell | undefined {
  return cells.find((x) => x.runtime === rt && x.line === line && x.concurrency === c && !x.na);
}

interface Ratio {
  runtime: Runtime;
  name: string;
  value: number;
}
interface Target {
  name: string;
  detail: string;
  met: boolean | null;
}

function ratios(r: Report): Ratio[] {
  const out: Ratio[] = [];
  for (const rt of r.options.runtimes) {
    for (const c of r.options.concurrency) {
      const raw = find(r.cells, rt, 'raw-config', c);
      const cold = find(r.cells, rt, 'cold', c);
      const warm = find(r.cells, rt, 'warm', c);
      if (raw && cold) out.push({ runtime: rt, name: `cold p50 / raw p50, c=${c}`, value: cold.p50 / raw.p50 });
      if (raw && warm) out.push({ runtime: rt, name: `warm p50 / raw p50, c=${c}`, value: warm.p50 / raw.p50 });
    }
    const raw4 = find(r.cells, rt, 'raw-config', 4);
    const img4 = find(r.cells, rt, 'raw-image', 4);
    for (const line of ['cold', 'warm'] as const) {
      const s4 = find(r.cells, rt, line, 4);
      if (raw4 && s4) out.push({ runtime: rt, name: `${line} exec/s / raw exec/s, c=4`, value: s4.execPerSec / raw4.execPerSec });
      const s8 = find(r.cells, rt, line, 8);
      if (s8) out.push({ runtime: rt, name: `${line} p99 / p50, c=8`, value: s8.p99 / s8.p50 });
    }
    const raw8 = find(r.cells, rt, 'raw-config', 8);
    if (raw8) out.push({ runtime: rt, name: 'raw p99 / p50, c=8', value: raw8.p99 / raw8.p50 });
    const raw1 = find(r.cells, rt, 'raw-config', 1);
    const img1 = find(r.cells, rt, 'raw-image', 1);
    if (raw1 && img1) out.push({ runtime: rt, name: 'raw image p50 / raw config p50, c=1', value: img1.p50 / raw1.p50 });
    if (raw4 && img4) out.push({ runtime: rt, name: 'raw image exec/s / raw config exec/s, c=4', value: img4.execPerSec / raw4.execPerSec });
  }
  return out;
}

function targets(r: Report): Target[] {
  const t: Target[] = [];
  const x = (v: number) => `${fmt(v, 2)}x`;
  for (const rt of r.options.runtimes) {
    const raw1 = find(r.cells, rt, 'raw-config', 1);
    const cold1 = find(r.cells, rt, 'cold', 1);
    t.push(
      raw1 && cold1
        ? { name: `${rt}: cold p50 <= 1.10x raw ctr run --rm (c=1)`, detail: `${fmt(cold1.p50)} / ${fmt(raw1.p50)} ms = ${x(cold1.p50 / raw1.p50)}`, met: cold1.p50 <= 1.1 * raw1.p50 }
        : { name: `${rt}: cold p50 <= 1.10x raw ctr run --rm (c=1)`, detail: 'not measured', met: null },
    );
    const warm1 = find(r.cells, rt, 'warm', 1);
    // Issue 12's targets: runc 0.20x, gVisor 0.30x (Kata's 0.25x is bench-kata.ts's).
    const limit = rt === 'runc' ? 0.2 : 0.3;
    const wName = `${rt}: warm p50 <= ${limit}x raw (c=1)`;
    t.push(
      raw1 && warm1
        ? { name: wName, detail: `${fmt(warm1.p50)} / ${fmt(raw1.p50)} ms = ${x(warm1.p50 / raw1.p50)}`, met: warm1.p50 <= limit * raw1.p50 }
        : { name: wName, detail: r.poolAvailable === false ? 'n/a (no pool)' : 'not measured', met: null },
    );
    const raw4 = find(r.cells, rt, 'raw-config', 4);
    for (const line of ['cold', 'warm'] as const) {
      const s4 = find(r.cells, rt, line, 4);
      const want = line === 'warm' ? 1.0 : 0.9;
      const name = `${rt}: ${line} exec/s >= ${want.toFixed(1)}x raw parallel (c=4)`;
      t.push(
        raw4 && s4
          ? { name, detail: `${fmt(s4.execPerSec, 2)} / ${fmt(raw4.execPerSec, 2)} exec/s = ${x(s4.execPerSec / raw4.execPerSec)}`, met: s4.execPerSec >= want * raw4.execPerSec }
          : { name, detail: line === 'warm' && r.poolAvailable === false ? 'n/a (no pool)' : 'not measured', met: null },
      );
      const s8 = find(r.cells, rt, line, 8);
      const name8 = `${rt}: ${line} p99 <= 3x p50 (c=8)`;
      t.push(
        s8
          ? { name: name8, detail: `${fmt(s8.p99)} / ${fmt(s8.p50)} ms = ${x(s8.p99 / s8.p50)}`, met: s8.p99 <= 3 * s8.p50 }
          : { name: name8, detail: line === 'warm' && r.poolAvailable === false ? 'n/a (no pool)' : 'not measured', met: null },
      );
    }
  }
  for (const h of r.hitRates) {
    const asked = h.hits + h.misses;
    t.push({
      name: `${h.runtime}: warm hit rate >= 95% at 1 request/s (default pool)`,
      detail: `${h.hits} hits / ${asked} pooled requests (${h.misses} misses, ${h.lost} lost, ${h.ok}/${h.requests} ok, p50 ${fmt(h.p50)} ms)`,
      met: asked > 0 && h.ok === h.requests && h.hits / asked >= 0.95,
    });
  }
  for (const m of r.memory) {
    if (m.rssMb.length !== 4) continue;
    const [, a1, a2, a3] = m.rssMb as [number, number, number, number];
    const how = m.variant === 'tsx' ? 'node --import tsx' : 'compiled, plain node';
    t.push({ name: `RSS after ${m.perSet} executions <= 150 MB (${m.runtime}, ${how})`, detail: `${fmt(a1)} MB (after 3 sets: ${fmt(a3)} MB, peak ${fmt(m.hwmMb)} MB)`, met: a1 <= 150 });
    const growth = a3 - a2;
    t.push({
      name: `no RSS growth between sets 2 and 3 (${how}; tolerance ${r.options.rssToleranceMb} MB)`,
      detail: `${fmt(a2)} -> ${fmt(a3)} MB (${growth >= 0 ? '+' : ''}${fmt(growth)} MB)`,
      met: growth <= r.options.rssToleranceMb,
    });
  }
  if (!r.memory.some((m) => m.rssMb.length === 4)) t.push({ name: 'RSS after 1,000 executions <= 150 MB', detail: 'not measured', met: null });
  return t;
}

const verdict = (m: boolean | null) => (m === null ? 'n/a' : m ? 'MET' : 'NOT MET');

function pad(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i <= 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

function cellRow(c: Cell): string[] {
  if (c.na) return [c.runtime, LINE_LABEL[c.line].replace('N', ''), String(c.concurrency), '', c.na, '', '', '', ''];
  return [
    c.runtime,
    c.line === 'warm' ? LINE_LABEL.warm.replace('N', '') : LINE_LABEL[c.line],
    String(c.concurrency),
    String(c.requests),
    fmt(c.p50),
    fmt(c.p95),
    fmt(c.p99),
    fmt(c.execPerSec, 2),
    String(c.failures),
  ];
}

function textReport(r: Report): string {
  const lines: string[] = [];
  const header = ['runtime', 'line', 'c', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'exec/s', 'fail'];
  const poolN = r.options.poolSize;
  const rows = r.cells.map((c) => cellRow(c).map((v, i) => (i === 1 && c.line === 'warm' ? `service warm (pool ${poolN})` : v)));
  lines.push(pad([header, ...rows]));
  lines.push('', 'ratios:');
  lines.push(pad([['runtime', 'ratio', 'value'], ...ratios(r).map((x) => [x.runtime, x.name, fmt(x.value, 2)])]));
  if (r.breakdowns.length) {
    lines.push('', 'one execution, sequential (medians, ms):');
    lines.push(breakdownTable(r, false));
  }
  const timing = timingRows(r);
  if (timing.length) {
    lines.push('', "the service's own timing field (medians over each cell, ms):");
    lines.push(pad([['runtime', 'line', 'c', 'queued', 'setup', 'run', 'teardown', 'sum', 'durationMs', 'client p50', 'warm hits', 'hits: durationMs', 'misses: durationMs'], ...timing]));
  }
  for (const m of r.memory) {
    lines.push('', `service VmRSS (${m.variant}, ${m.runtime}, cold, c=${m.concurrency}, ${m.perSet} executions per set): before ${m.rssMb.map((v) => fmt(v)).join(' -> ')} MB; peak (VmHWM) ${fmt(m.hwmMb)} MB; failures ${m.failures}`);
  }
  if (r.memory[0]) lines.push(`  for scale: an idle node on an empty script ${fmt(r.memory[0].idleNodeMb)} MB, the same under --import tsx ${fmt(r.memory[0].idleTsxMb)} MB`);
  lines.push('', 'targets:');
  lines.push(pad([['target', 'figures', 'verdict'], ...targets(r).map((t) => [t.name, t.detail, verdict(t.met)])]));
  const fails = r.cells.filter((c) => c.failures > 0);
  const memFails = r.memory.reduce((a, m) => a + m.failures, 0);
  lines.push('', `failures: ${fails.reduce((a, c) => a + c.failures, 0) + memFails} (every response must be 200 with stdout "42\\n")`);
  for (const c of fails) for (const s of c.failureSamples) lines.push(`  ${c.runtime} ${c.line} c=${c.concurrency}: ${s}`);
  for (const m of r.memory) for (const s of m.failureSamples) lines.push(`  memory (${m.variant}): ${s}`);
  lines.push(`load average: ${r.loadStart} at the start, ${r.loadEnd} at the end; at the start ${r.activityStart}, at the end ${r.activityEnd}`);
  return lines.join('\n');
}

function timingRows(r: Report): string[][] {
  const rows: string[][] = [];
  for (const c of r.cells) {
    if (!c.timing || !c.timing.setupMs.length) continue;
    const t = c.timing;
    const sum = median(t.queuedMs.map((q, i) => q + t.setupMs[i]! + t.runMs[i]! + t.teardownMs[i]!));
    rows.push([
      c.runtime,
      c.line,
      String(c.concurrency),
      fmt(median(t.queuedMs)),
      fmt(median(t.setupMs)),
      fmt(median(t.runMs)),
      fmt(median(t.teardownMs)),
      fmt(sum),
      fmt(median(t.durationMs)),
      fmt(c.p50),
      `${t.hit.filter(Boolean).length}/${t.hit.length}`,
      fmt(median(t.durationMs.filter((_, i) => t.hit[i]))),
      fmt(median(t.durationMs.filter((_, i) => !t.hit[i]))),
    ]);
  }
  return rows;
}

function breakdownTable(r: Report, md: boolean): string {
  const head = ['runtime', 'n', 'ctr --help', 'ctr version', 'spawn -> marker', 'marker -> "42"', '"42" -> ctr exit', 'stdout EOF -> exit', 'total (python)', 'total (/bin/true)', 'python on host (chroot)'];
  const rows = r.breakdowns.map((b) => [
    b.runtime,
    String(b.samples),
    fmt(b.ctrHelpMs),
    fmt(b.ctrVersionMs),
    fmt(b.toMarkerMs),
    fmt(b.markerTo42Ms),
    fmt(b.afterOutputMs),
    fmt(b.stdoutEofToExitMs),
    fmt(b.totalMs),
    fmt(b.trueTotalMs),
    fmt(b.hostPythonMs),
  ]);
  const head2 = ['runtime', 'n', 'ctr run --detach (idle sandbox)', 'ctr tasks exec (python)', 'kill + delete', 'exec failures'];
  const rows2 = r.breakdowns.map((b) => [b.runtime, String(b.samples), fmt(b.detachStartMs), fmt(b.execMs), fmt(b.destroyMs), String(b.execFailures)]);
  return md ? `${mdTable(head, rows)}\n\n${mdTable(head2, rows2)}` : `${pad([head, ...rows])}\n\n${pad([head2, ...rows2])}`;
}

function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i <= 1 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function markdownReport(r: Report): string {
  const out: string[] = [];
  const poolN = r.options.poolSize;
  const head = ['runtime', 'line', 'c', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'exec/s', 'failures'];
  out.push(mdTable(head, r.cells.map((c) => cellRow(c).map((v, i) => (i === 1 && c.line === 'warm' ? `service warm (pool ${poolN})` : v)))));
  out.push('', mdTable(['runtime', 'ratio', 'value'], ratios(r).map((x) => [x.runtime, x.name, fmt(x.value, 2)])));
  if (r.breakdowns.length) out.push('', breakdownTable(r, true));
  const timing = timingRows(r);
  if (timing.length) out.push('', mdTable(['runtime', 'line', 'c', 'queuedMs', 'setupMs', 'runMs', 'teardownMs', 'sum', 'durationMs', 'client p50', 'warm hits', 'hits: durationMs', 'misses: durationMs'], timing));
  if (r.memory.length) {
    const m0 = r.memory[0]!;
    const rows: string[][] = [
      ['idle node, empty script', fmt(m0.idleNodeMb)],
      ['idle node --import tsx, empty script', fmt(m0.idleTsxMb)],
    ];
    for (const m of r.memory) {
      const how = m.variant === 'tsx' ? 'service (node --import tsx)' : 'service (compiled, plain node)';
      rows.push([`${how}, before set 1`, fmt(m.rssMb[0] ?? NaN)]);
      m.rssMb.slice(1).forEach((v, i) => rows.push([`${how}, after set ${i + 1} (${m.perSet} executions, ${fmt(m.setSeconds[i] ?? NaN)} s)`, fmt(v)]));
      rows.push([`${how}, peak (VmHWM); ${m.failures} failed execution(s) in the 3 sets`, fmt(m.hwmMb)]);
    }
    out.push('', mdTable(['VmRSS', 'MB'], rows));
  }
  out.push('', mdTable(['target', 'figures', 'verdict'], targets(r).map((t) => [t.name, t.detail, verdict(t.met)])));
  if (r.kata) {
    out.push('', `Kata through the kit (${r.kata.kit}, QEMU ${r.kata.accel.toUpperCase()}), python print(6*7), one at a time:`, '');
    out.push(
      mdTable(
        ['line', 'median (s)', 'ok runs', 'failed'],
        r.kata.lines.map((l) => [l.line, l.medianMs === null ? 'n/a' : fmt(l.medianMs / 1000), String(l.runs - l.failures), String(l.failures)]),
      ),
    );
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Main

let stopping = false;
const stopHooks = new Set<() => void>();

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  verbose = o.verbose;
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      // Ctrl-C reaches the whole process group and tsx relays it once more: a second signal
      // within 3 s is that echo. A later one means "now".
      if (Date.now() - firstSignalAt < 3000) return;
      log(`${sig} again: exiting now (cleanup may be incomplete; look under /tmp/kx-bench-*)`);
      process.exit(130);
    }
    stopping = true;
    firstSignalAt = Date.now();
    log(`${sig}: stopping and cleaning up`);
    for (const h of stopHooks) h();
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const report: Report = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    options: o,
    machine: machineInfo(),
    cells: [],
    breakdowns: [],
    memory: [],
    hitRates: [],
    poolAvailable: null,
    loadStart: loadAvg(),
    loadEnd: '',
    activityStart: '',
    activityEnd: '',
    kata: null,
  };
  const e = await startEnvironment(o);
  report.activityStart = foreignActivity(e.root);
  log(`machine: ${report.machine.nproc} cores, load ${report.loadStart}, ${report.activityStart}`);
  const maxC = Math.max(...o.concurrency);
  const t0 = performance.now();
  const add = (c: Cell) => {
    report.cells.push(c);
    const s = c.na ?? `p50 ${fmt(c.p50)} p95 ${fmt(c.p95)} p99 ${fmt(c.p99)} ms, ${fmt(c.execPerSec, 2)} exec/s, ${c.failures} failure(s), load ${c.load}`;
    log(`${c.runtime} ${c.line} c=${c.concurrency}: ${s}`);
    for (const f of c.failureSamples) log(`  failure: ${f}`);
  };

  for (const rt of o.runtimes) {
    if (stopping) break;
    if (o.breakdown > 0) {
      log(`${rt}: breakdown (${o.breakdown} sequential runs)`);
      report.breakdowns.push(await breakdown(e, rt, o.breakdown));
    }
    // Both services run side by side (each in its own containerd namespace) while the lines
    // take turns in rounds: every line sees the same background load, which on a shared
    // machine moves by the minute.
    const services: Partial<Record<'cold' | 'warm', ServiceProc>> = {};
    try {
      if (o.lines.includes('cold')) services.cold = await startService(e, rt, maxC, 0, `${NAMESPACE}-cold`, 'tsx');
      if (o.lines.includes('warm') && !stopping) {
        try {
          services.warm = await startService(e, rt, maxC, o.poolSize, `${NAMESPACE}-warm`, 'tsx');
          report.poolAvailable = true;
          log(`${rt} warm: ${await waitPoolFull(services.warm.url, o.poolSize)}`);
        } catch (err) {
          if (!(err instanceof PoolMissingError)) throw err;
          report.poolAvailable = false;
          log(`${rt}: warm rows n/a: ${err.message}`);
        }
      }
      for (const c of o.concurrency) {
        if (stopping) break;
        const lines = o.lines.filter((l) => (l === 'cold' || l === 'warm' ? services[l] !== undefined : true));
        const runChunk = async (line: Line, n: number): Promise<Chunk> => {
          if (line !== 'cold' && line !== 'warm') return rawChunk(e, rt, line, n, c, o.rawMarker);
          const svc = services[line]!;
          if (line === 'warm') debug(`${rt} warm c=${c} before: ${await waitPoolFull(svc.url, o.poolSize)}`);
          const chunk = await serviceChunk(svc, n, c);
          if (line === 'warm') {
            // Let the pool refill (and its used sandboxes go) before the next line runs.
            debug(`${rt} warm c=${c} after: ${await waitPoolFull(svc.url, o.poolSize)}`);
            await sleep(500);
          }
          return chunk;
        };
        const warmups = new Map<Line, Chunk>();
        if (o.warmup > 0) for (const line of lines) if (!stopping) warmups.set(line, await runChunk(line, o.warmup));
        const load = loadAvg();
        const rounds = Math.max(1, Math.min(o.rounds, Math.floor(o.requests / c)));
        const sizes = Array.from({ length: rounds }, (_, i) => Math.floor(o.requests / rounds) + (i < o.requests % rounds ? 1 : 0));
        const chunks = new Map<Line, Chunk[]>(lines.map((l) => [l, []]));
        for (let r = 0; r < rounds && !stopping; r++) {
          // Each round starts with another line, so that no line always follows the same one.
          const order = lines.map((_, i) => lines[(i + r) % lines.length]!);
          for (const line of order) if (!stopping) chunks.get(line)!.push(await runChunk(line, sizes[r]!));
        }
        if (stopping) break;
        for (const line of lines) add(mergeChunks(rt, line, c, chunks.get(line)!, warmups.get(line) ?? null, load));
        if (o.lines.includes('warm') && !services.warm) add(naCell(rt, 'warm', c, 'n/a (no pool)'));
      }
    } finally {
      // The warm service first: a service that stops removes what it owns in its namespace.
      await services.warm?.stop();
      await services.cold?.stop();
    }
    if (o.rateRequests > 0 && o.lines.includes('warm') && !stopping) {
      log(`${rt}: warm hit rate, ${o.rateRequests} requests at 1/s, default pool`);
      const h = await hitRateRun(e, rt, o.rateRequests);
      report.hitRates.push(h);
      log(`${rt} rate: ${h.hits} hits, ${h.misses} misses, ${h.lost} lost of ${h.requests} requests at 1/s; ${h.ok} ok; p50 ${fmt(h.p50)} ms`);
    }
  }
  if (o.memoryExecutions > 0 && !stopping) {
    log(`memory: 3 sets of ${o.memoryExecutions} executions, ${o.memoryRuntime}, cold, c=4`);
    report.memory.push(await memoryRun(e, o, 'tsx', 'tsx'));
    const compiled = o.compiled && !stopping ? compileService(e) : null;
    if (compiled && !stopping) report.memory.push(await memoryRun(e, o, 'compiled', compiled));
  }
  if (stopping) return;
  await cleanup();
  // Kata through the kit, where it is installed: a containerd of its own, VMs one at a time.
  if (o.kata > 0 && !stopping) {
    log(`kata: ${o.kata} run(s) of each line through the Kata kit (if installed)`);
    report.kata = await kataBench(o.kata, log);
    if (!report.kata) log('kata: no kit installed (KATA_EXEC_KATA_KIT or /opt/kata-kit): no Kata lines');
  }
  report.loadEnd = loadAvg();
  report.activityEnd = foreignActivity(e.root);
  log(`done in ${fmt((performance.now() - t0) / 60_000)} min`);

  console.log(`\nkata-exec benchmark, ${report.date}`);
  console.log(`${report.command}; ${Object.entries(report.machine).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  console.log(
    `${o.requests} measured requests per cell (in up to ${o.rounds} interleaved rounds) after ${o.warmup} warm-up(s); latency in ms per execution; exec/s = requests / wall time of the cell\n`,
  );
  console.log(textReport(report));
  if (report.kata) console.log(`\n${kataTable(report.kata)}`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ ...report, ratios: ratios(report), targets: targets(report) }, null, 2));
  if (o.markdown) writeFileSync(o.markdown, markdownReport(report));
  const failures =
    report.cells.reduce((a, c) => a + c.failures, 0) + report.memory.reduce((a, m) => a + m.failures, 0) + (report.kata?.lines.reduce((a, l) => a + l.failures, 0) ?? 0);
  if (failures > 0) {
    console.log(`\n${failures} execution(s) failed: these figures are not a valid benchmark`);
    process.exitCode = 1;
  }
}

main().catch(async (err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await cleanup().catch(() => undefined);
  process.exit(1);
});
