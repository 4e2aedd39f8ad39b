/**
 * The execution service's core: an ExecuteRequest becomes a SandboxSpec (language,
 * profile, limits resolved against the server's defaults and maxima), the runner runs
 * it, and its SandboxResult becomes an ExecuteResult.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { InvalidRequestError, LanguageNotAvailableError, NotSupportedError, RunnerNotConfiguredError, type FieldError, LimitExceededError, ProfileNotSupportedError, UnknownLanguageError } from '../errors.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import type { Profile } from '../schemas/common.js';
import type { EffectiveLimits, ExecuteRequest, ExecuteResult, ExecutionStatus, LimitsEnforced } from '../schemas/execute.js';
import { findLanguage, IMAGE_OF_VARIANT, type ImageLanguages, isAvailable, knownLanguages } from './languages.js';
import { decodeCapture } from '../sandbox/capture.js';
import { mibToBytes } from '../units.js';
import { parseOutValue } from './out-value.js';
import { PROFILES } from './profiles.js';
import { buildEnv, buildSources, checkArgs } from './sources.js';
import { globProblem } from '../sandbox/glob.js';
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
}

export class Executor {
  private pool: WarmRunner | null = null;

  constructor(private readonly d: ExecutorDeps) {}

  /** The pool is made from this executor's templates, so it is attached after construction. */
  usePool(pool: WarmRunner | null): void {
    this.pool = pool;
  }

  /** What a pooled sandbox of this profile is made from: its default limits, no code yet. */
  template(profile: Profile): SandboxSpec {
    return this.prepare({ language: 'bash', code: '', profile }).spec;
  }

  supportsProfile(profile: Profile): boolean {
    return PROFILES[profile].runtimes.includes(this.d.runtime.kind);
  }

  get runtime(): RuntimeTarget {
    return this.d.runtime;
  }

  /** Validates a request and builds its spec. Throws 4xx-mapped errors; runs nothing. */
  prepare(req: ExecuteRequest, id: string = newExecutionId()): Prepared {
    const lang = findLanguage(req.language);
    if (!lang) throw new UnknownLanguageError(req.language, knownLanguages());
    if (!isAvailable(lang, this.d.imageLanguages?.() ?? null)) throw new LanguageNotAvailableError(lang.name, this.d.config.image, IMAGE_OF_VARIANT[lang.image]);
    const profile: Profile = req.profile ?? 'standard';
    const def = PROFILES[profile];
    if (!def.runtimes.includes(this.d.runtime.kind)) throw new ProfileNotSupportedError(profile, this.d.runtime.kind);
    const judged = (['tests', 'compile', 'compare'] as const).filter((k) => req[k] !== undefined);
    if (req.limits?.cpuTimeMs !== undefined) judged.push('limits/cpuTimeMs' as never);
    if (judged.length > 0) {
      // Until the sandbox runs steps (issue 14): refused rather than ignored.
      throw new NotSupportedError(
        `${judged.join(', ')}: compiling and running tests are not available on this service yet`,
        judged.map((k) => ({ path: `/${k}`, message: 'not available yet' })),
      );
    }
    const limits = this.resolveLimits(req, def.defaults);
    const c = this.d.config;
    const sources = buildSources(req, lang.file);

    const spec: SandboxSpec = {
      id,
      image: c.image,
      runtime: this.d.runtime.kind,
      hypervisor: this.d.runtime.hypervisor,
      kernelPath: c.kernelPath,
      imagePath: c.imagePath,
      command: [...lang.command(`/code/${sources.entry}`), ...checkArgs(req.args)],
      workingDir: '/code',
      env: [...SANDBOX_ENV],
      programEnv: buildEnv([], req.env),
      files: sources.files,
      stdin: req.stdin !== undefined && req.stdin.length > 0 ? Buffer.from(req.stdin, 'utf8') : null,
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
      labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_EXECUTION]: id,
        [LABEL_INSTANCE]: this.d.instanceId,
        'org.kata-exec.language': lang.name,
        'org.kata-exec.profile': profile,
      },
    };
    if (req.outputFiles?.length) {
      const errs: FieldError[] = [];
      req.outputFiles.forEach((g, i) => {
        const problem = globProblem(g);
        if (problem) errs.push({ path: `/outputFiles/${i}`, message: `"${g}" ${problem}` });
      });
      if (errs.length) throw new InvalidRequestError(errs);
      spec.collect = { patterns: [...req.outputFiles], maxCount: c.outputFiles.maxCount, maxBytes: c.outputFiles.maxBytes };
    }
    return { spec, limits, profile, language: lang.name };
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
    opts: RunOptions & { queuedMs: number; startedAt: number },
    via?: (spec: SandboxSpec, opts: RunOptions) => Promise<SandboxResult>,
  ): Promise<ExecuteResult> {
    if (!this.d.runner && !via) throw new RunnerNotConfiguredError();
    const runOpts: RunOptions = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onOutput ? { onOutput: opts.onOutput } : {}) };
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
      cpuTime: false,
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
    const result: ExecuteResult = {
      id: p.spec.id,
      sandboxId: r.sandboxId ?? p.spec.id,
      status: statusOf(r),
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
    if (out.found) result.value = out.value;
    if (r.files) {
      result.outputFiles = r.files.map((f) => ({ path: f.path, size: f.content.length, contentBase64: f.content.toString('base64') }));
      result.outputFilesTruncated = r.filesTruncated ?? false;
    }
    return result;
  }
}

export function statusOf(r: SandboxResult): ExecutionStatus {
  if (r.timedOut) return 'timeout';
  if (r.outputLimitHit) return 'output_limit';
  if (r.oomKilled) return 'oom';
  if (r.exitCode === 0) return 'ok';
  if (r.signal) return 'killed';
  if (r.exitCode === null) return 'sandbox_error';
  return 'error';
}
