/**
 * The execution service's core: an ExecuteRequest becomes a SandboxSpec (language,
 * profile, limits resolved against the server's defaults and maxima), the runner runs
 * it, and its SandboxResult becomes an ExecuteResult.
 */
import { randomBytes } from 'node:crypto';
import type { Config, PoolClass } from '../config.js';
import { InvalidRequestError, LanguageNotAvailableError, RunnerNotConfiguredError, type FieldError, LimitExceededError, ProfileNotSupportedError, UnknownLanguageError } from '../errors.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import type { Profile } from '../schemas/common.js';
import type { EffectiveLimits, ExecuteRequest, ExecuteResult, ExecutionStatus, LimitsEnforced } from '../schemas/execute.js';
import { findLanguage, IMAGE_OF_VARIANT, type ImageLanguages, isAvailable, knownLanguages, LANGUAGES } from './languages.js';
import { decodeCapture } from '../sandbox/capture.js';
import { mibToBytes } from '../units.js';
import { parseOutValue } from './out-value.js';
import { PROFILES } from './profiles.js';
import { buildEnv, buildSources, checkArgs } from './sources.js';
import { globProblem } from '../sandbox/glob.js';
import { compileLimits, needsSteps, planSteps, sandboxMemoryMb, stepsWorstCaseBytes, type StepPlan } from './plan.js';
import { judgeSteps } from './judged-result.js';
import { driverFor, isolationOf } from '../runtimes/registry.js';
import type { RunOptions, SandboxResult, SandboxRunner, SandboxSpec } from '../sandbox/types.js';

export const LABEL_MANAGED = 'org.kata-exec.managed';
export const LABEL_EXECUTION = 'org.kata-exec.execution';
export const LABEL_INSTANCE = 'org.kata-exec.instance';

/** The sandbox's own environment; a request's `env` comes on top (never the service's). */
export const SANDBOX_ENV = ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8', 'HOME=/tmp', 'TMPDIR=/tmp', 'PYTHONDONTWRITEBYTECODE=1'];

export function newExecutionId(): string {
  return `kx-${randomBytes(10).toString('hex')}`;
}

/** The warm pool as the executor sees it: a warm run, or null for the cold path. */
export interface WarmRunner {
  tryRun(spec: SandboxSpec, opts: RunOptions): Promise<SandboxResult> | null;
}

export interface ExecutorDeps {
  config: Config;
  runtime: RuntimeTarget;
  runner: SandboxRunner | null;
  instanceId: string;
  /** Runs an execution that asks for outputFiles (sandbox/session-runner.ts); absent: refused. */
  collector?: { runCollecting(spec: SandboxSpec, opts: RunOptions): Promise<SandboxResult> } | null;
  /** The languages the running image holds; absent or null: not known, nothing refused. */
  imageLanguages?: ImageLanguages;
}

export interface Prepared {
  spec: SandboxSpec;
  limits: EffectiveLimits;
  profile: Profile;
  language: string;
  /** A compile, tests or a CPU-time limit: the spec's steps and how to judge them; null: one program. */
  plan: StepPlan | null;
}

export class Executor {
  private pool: WarmRunner | null = null;

  constructor(private readonly d: ExecutorDeps) {}

  /** The pool is made from this executor's templates, so it is attached after construction. */
  usePool(pool: WarmRunner | null): void {
    this.pool = pool;
  }

  /**
   * What a pooled sandbox of a class is made from, no code yet: the profile at its default
   * limits, or ('compiled') with the memory a compiled language's request at those defaults
   * gets (the compile's, when larger): the same sandbox such a request gets cold.
   */
  template(c: PoolClass): SandboxSpec {
    const base = { language: 'bash', code: '', profile: c.profile };
    if (c.kind === 'default') return this.prepare(base).spec;
    const runMb = this.prepare(base).limits.memoryMb;
    return this.prepare({ ...base, limits: { memoryMb: sandboxMemoryMb(runMb, compileLimits(undefined, this.d.config), null) } }).spec;
  }

  /** Whether the running image holds a compiled language; null while its languages are not known. */
  imageHasCompiledLanguage(): boolean | null {
    const inImage = this.d.imageLanguages?.() ?? null;
    if (inImage === null) return null;
    return LANGUAGES.some((l) => l.compile !== undefined && isAvailable(l, inImage));
  }

  supportsProfile(profile: Profile): boolean {
    return PROFILES[profile].runtimes.includes(this.d.runtime.kind);
  }

  get runtime(): RuntimeTarget {
    return this.d.runtime;
  }

  /**
   * Validates a request and builds its spec. Throws 4xx-mapped errors; runs nothing.
   * `inSandbox`: the sandbox is made already (a session's), with this memory: a compile's and
   * the tests' limits must fit in it.
   */
  prepare(req: ExecuteRequest, id: string = newExecutionId(), inSandbox?: { memoryMb: number }): Prepared {
    const lang = findLanguage(req.language);
    if (!lang) throw new UnknownLanguageError(req.language, knownLanguages());
    if (!isAvailable(lang, this.d.imageLanguages?.() ?? null)) throw new LanguageNotAvailableError(lang.name, this.d.config.image, IMAGE_OF_VARIANT[lang.image]);
    const profile: Profile = req.profile ?? 'standard';
    const def = PROFILES[profile];
    if (!def.runtimes.includes(this.d.runtime.kind)) throw new ProfileNotSupportedError(profile, this.d.runtime.kind);
    const limits = this.resolveLimits(req, def.defaults);
    const c = this.d.config;
    const sources = buildSources(req, lang.file);
    const entryPath = `/code/${sources.entry}`;
    const args = checkArgs(req.args);
    const plan = needsSteps(req, lang)
      ? planSteps({
          req,
          lang,
          entryPath,
          args,
          memoryMb: limits.memoryMb,
          outputBytes: limits.outputBytes,
          timeoutMs: limits.timeoutMs,
          config: c,
          runtime: this.d.runtime.kind,
          ...(inSandbox ? { fixedMemoryMb: inSandbox.memoryMb } : {}),
        })
      : null;
    if (plan) {
      limits.memoryMb = plan.memoryMb;
      limits.timeoutMs = plan.timeoutMs;
      if (plan.cpuTimeMs !== null) limits.cpuTimeMs = plan.cpuTimeMs;
      if (plan.compile) limits.compile = { ...plan.compile };
      this.checkMemoryBudget(plan, limits.outputBytes);
    }

    const spec: SandboxSpec = {
      id,
      image: c.image,
      runtime: this.d.runtime.kind,
      hypervisor: this.d.runtime.hypervisor,
      kernelPath: c.kernelPath,
      imagePath: c.imagePath,
      command: [...lang.command(entryPath), ...args],
      workingDir: '/code',
      env: [...SANDBOX_ENV],
      programEnv: buildEnv([], req.env),
      files: sources.files,
      // With steps each has its own stdin; the launcher runs them instead of `command`.
      stdin: !plan && req.stdin !== undefined && req.stdin.length > 0 ? Buffer.from(req.stdin, 'utf8') : null,
      resources: {
        memoryBytes: mibToBytes(limits.memoryMb),
        cpuMillis: Math.round(limits.cpus * 1000),
        pids: limits.pids,
        tmpfsBytes: mibToBytes(limits.diskMb),
        openFiles: limits.openFiles,
        outputBytes: limits.outputBytes,
      },
      security: { ...def.security },
      timeoutMs: limits.timeoutMs,
      // The caller's timeoutMs counts from the request; the service's own deadline is given
      // whole to a start made again (start-retry.ts).
      retryTimeout: req.timeoutMs === undefined ? 'whole' : 'left',
      labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_EXECUTION]: id,
        [LABEL_INSTANCE]: this.d.instanceId,
        'org.kata-exec.language': lang.name,
        'org.kata-exec.profile': profile,
      },
    };
    if (plan) spec.steps = plan.steps;
    if (req.outputFiles?.length) {
      const errs: FieldError[] = [];
      req.outputFiles.forEach((g, i) => {
        const problem = globProblem(g);
        if (problem) errs.push({ path: `/outputFiles/${i}`, message: `"${g}" ${problem}` });
      });
      if (errs.length) throw new InvalidRequestError(errs);
      spec.collect = { patterns: [...req.outputFiles], maxCount: c.outputFiles.maxCount, maxBytes: c.outputFiles.maxBytes };
    }
    return { spec, limits, profile, language: lang.name, plan };
  }

  /**
   * A request whose steps' captures alone could never fit in the memory budget is refused
   * here (400), not left to wait for a budget that cannot hold it (503).
   */
  private checkMemoryBudget(plan: StepPlan, outputBytes: number): void {
    const worst = stepsWorstCaseBytes(outputBytes, plan.steps);
    const budget = this.d.config.memoryBudgetBytes;
    if (worst <= budget) return;
    const runs = plan.tests?.length ?? 1;
    throw new LimitExceededError([
      {
        path: '/limits/outputBytes',
        message: `with ${runs} run(s) of ${outputBytes} bytes of output each, an execution could hold ${Math.ceil(worst / 1048576)} MiB, more than the service's memory budget (KATA_EXEC_MEMORY_BUDGET_MB): ask for a smaller limits.outputBytes or fewer tests`,
      },
    ]);
  }

  private resolveLimits(req: ExecuteRequest, profileDefaults: (typeof PROFILES)[Profile]['defaults']): EffectiveLimits {
    const b = this.d.config.limits;
    const r = req.limits ?? {};
    const errs: FieldError[] = [];
    const pick = (path: string, asked: number | undefined, bounds: { default: number; max: number }, pdef?: number): number => {
      if (asked !== undefined && asked > bounds.max) {
        errs.push({ path, message: `must be at most ${bounds.max} (server maximum)` });
      }
      return asked ?? Math.min(pdef ?? bounds.default, bounds.max);
    };
    const limits: EffectiveLimits = {
      timeoutMs: pick('/timeoutMs', req.timeoutMs, b.timeoutMs),
      memoryMb: pick('/limits/memoryMb', r.memoryMb, b.memoryMb, profileDefaults.memoryMb),
      cpus: pick('/limits/cpus', r.cpus, b.cpus, profileDefaults.cpus),
      pids: pick('/limits/pids', r.pids, b.pids, profileDefaults.pids),
      diskMb: pick('/limits/diskMb', r.diskMb, b.diskMb, profileDefaults.diskMb),
      outputBytes: pick('/limits/outputBytes', r.outputBytes, b.outputBytes),
      openFiles: pick('/limits/openFiles', r.openFiles, b.openFiles, profileDefaults.openFiles),
    };
    if (errs.length) throw new LimitExceededError(errs);
    return limits;
  }

  /** `via`: where the spec runs instead of a fresh sandbox (a session's, sessions/). */
  async run(
    p: Prepared,
    opts: ExecutionRunOptions,
    via?: (spec: SandboxSpec, opts: RunOptions) => Promise<SandboxResult>,
  ): Promise<ExecuteResult> {
    if (!this.d.runner && !via) throw new RunnerNotConfiguredError();
    const onOutput = opts.onOutput;
    const plan = p.plan;
    const runOpts: RunOptions = {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(onOutput ? { onOutput: plan ? (s, c, step) => onOutput(s, c, phaseOf(plan, step)) : (s, c) => onOutput(s, c) } : {}),
    };
    if (!via && p.spec.collect) {
      // outputFiles: a sandbox of its own that the files are read back from (never the pool).
      const collector = this.d.collector;
      if (!collector) throw new RunnerNotConfiguredError('this service cannot return outputFiles');
      via = (spec, o) => collector.runCollecting(spec, o);
    }
    const r = await (via ? via(p.spec, runOpts) : (this.pool?.tryRun(p.spec, runOpts) ?? this.d.runner!.run(p.spec, runOpts)));
    return this.toResult(p, r, opts.queuedMs, opts.startedAt);
  }

  limitsEnforced(p: Prepared): LimitsEnforced {
    const runtime = driverFor(this.d.runtime.kind).limitsEnforced(this.d.runtime);
    return {
      ...runtime,
      // The launcher enforces a step's CPU-time limit itself, from rusage, on every runtime.
      cpuTime: (p.spec.steps ?? []).some((s) => s.cpuMs !== null),
      network: p.spec.security.networkMode === 'none',
      readOnlyRootfs: p.spec.security.readOnlyRootfs,
      seccomp: runtime.seccomp && p.spec.security.seccompProfile !== 'unconfined',
    };
  }

  toResult(p: Prepared, r: SandboxResult, queuedMs: number, startedAt: number): ExecuteResult {
    const stdout = decodeCapture(r.stdout, p.spec.resources.outputBytes);
    const stderr = decodeCapture(r.stderr, p.spec.resources.outputBytes);
    const out = parseOutValue(stdout);
    const rt = this.d.runtime;
    const judged = p.plan ? judgeSteps(p.plan, r, p.spec.resources.outputBytes) : null;
    const result: ExecuteResult = {
      id: p.spec.id,
      sandboxId: r.sandboxId ?? p.spec.id,
      status: judged ? judged.status : statusOf(r),
      exitCode: r.exitCode,
      signal: r.timedOut ? 'SIGKILL' : r.signal,
      stdout,
      stderr,
      truncated: r.stdout.droppedBytes > 0 || r.stderr.droppedBytes > 0,
      droppedBytes: { stdout: r.stdout.droppedBytes, stderr: r.stderr.droppedBytes },
      durationMs: Math.round(Date.now() - startedAt),
      timing: { queuedMs, setupMs: r.timing.setupMs, runMs: r.timing.runMs },
      usage: r.usage,
      language: p.language,
      backend: { kind: rt.kind, ociRuntime: rt.ociRuntime, hypervisor: rt.hypervisor, isolation: isolationOf(rt.kind), profile: p.profile },
      limits: p.limits,
      limitsEnforced: this.limitsEnforced(p),
    };
    if (r.pidsLimitHit) result.killedBy = 'pids_limit';
    if (out.found && judged?.status !== 'compile_error') result.value = out.value;
    if (judged) {
      if (judged.compile) result.compile = judged.compile;
      if (judged.tests) result.tests = judged.tests;
      if (judged.verdict) result.verdict = judged.verdict;
      if (judged.summary) result.summary = judged.summary;
    }
    if (r.files) {
      result.outputFiles = r.files.map((f) => ({ path: f.path, size: f.content.length, contentBase64: f.content.toString('base64') }));
      result.outputFilesTruncated = r.filesTruncated ?? false;
    }
    return result;
  }
}

/** Where a chunk of streamed output came from: the compile, a test (its index), or the one run. */
export type OutputPhase = { phase: 'compile' } | { phase: 'test'; test: number } | { phase: 'run' };
export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Buffer, where?: OutputPhase) => void;

/** What Executor.run takes from the queue: the client's signal and live output, the times so far. */
export interface ExecutionRunOptions {
  signal?: AbortSignal;
  onOutput?: OutputListener;
  queuedMs: number;
  startedAt: number;
}

function phaseOf(plan: StepPlan, step: number | undefined): OutputPhase {
  const i = (step ?? 0) - (plan.compile ? 1 : 0);
  if (i < 0) return { phase: 'compile' };
  return plan.tests ? { phase: 'test', test: i } : { phase: 'run' };
}

export function statusOf(r: SandboxResult): ExecutionStatus {
  if (r.timedOut) return 'timeout';
  if (r.outputLimitHit) return 'output_limit';
  if (r.oomKilled) return 'oom';
  if (r.pidsLimitHit) return 'killed';
  if (r.exitCode === 0) return 'ok';
  if (r.signal) return 'killed';
  if (r.exitCode === null) return 'sandbox_error';
  return 'error';
}
