/**
 * Sessions: one sandbox that stays up for many calls, owned by one key. What the HTTP
 * layer (and MCP's session tools) call. It keeps the live sessions, checks the owner (another
 * key's session is "not found"), the per-key and total limits, runs one call at a time per
 * session, and reaps: a session ends at its idle deadline or at the end of its maximum
 * lifetime, whichever comes first, never in the middle of a call.
 *
 * A session's owner, limits and expiry are in its container's labels (labels.ts), so a
 * restarted service adopts the live ones (host/reconcile.ts keeps them) and reaps only
 * the expired. A call runs through the ExecutionService like any execution (the queue, the
 * key's quota, the memory budget, the audit line), in the session's sandbox.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import type { CtrClient } from '../ctr/client.js';
import {
  DiskFullError,
  ErrorCode,
  FileNotFoundError,
  FileTooLargeError,
  InvalidRequestError,
  KataExecError,
  LanguageNotAvailableError,
  NotAFileError,
  PathNotAllowedError,
  ProfileNotSupportedError,
  SessionBusyError,
  SessionGoneError,
  SessionLimitError,
  SessionNotFoundError,
  ShuttingDownError,
  VmExecutionFailedError,
  LimitExceededError,
  type FieldError,
} from '../errors.js';
import { LABEL_EXECUTION, LABEL_INSTANCE, LABEL_MANAGED, type Executor } from '../execution/executor.js';
import { buildEnv, buildSources, checkArgs, pathProblem } from '../execution/sources.js';
import { findLanguage, IMAGE_OF_VARIANT, type ImageLanguages, isAvailable, knownLanguages } from '../execution/languages.js';
import { isolationOf } from '../runtimes/registry.js';
import type { Metrics } from '../metrics.js';
import type { ExecuteContext, ExecutionService } from '../queue/execution-service.js';
import type { Profile } from '../schemas/common.js';
import type {
  BackgroundProcess,
  CreateSessionRequest,
  EffectiveSessionLimits,
  FileEntry,
  Session,
  SessionExecuteRequest,
  SessionExecuteResult,
  SessionRef,
  StartProcessRequest,
} from '../schemas/sessions.js';
import { parseListing, parseProcesses, type OpAnswer } from '../sandbox/session-protocol.js';
import type { CtrSessionRunner, SessionSandbox } from '../sandbox/session-runner.js';
import type { Logger, SandboxSpec } from '../sandbox/types.js';
import { expiredBecause, expiresAt, LABEL_LAST_USED, sessionLabels, type SessionState } from './labels.js';

/** How long past the service's deadlines a session's launcher ends it by itself. */
export const LAUNCHER_GRACE_MS = 60_000;
/** Calls that may wait for a session's running one; more get 409 SESSION_BUSY. */
export const MAX_WAITING_CALLS = 8;
const REAP_EVERY_MS = 1000;
/** How long a session that died is remembered, so that its owner's next request is 410 SESSION_GONE, not 404. */
export const GONE_KEEP_MS = 15 * 60_000;
/** At most this many are remembered (the oldest is forgotten first). */
export const GONE_KEEP_MAX = 1000;

/**
 * Where a background process's `code` goes: a hidden file of its own in /code (the same
 * directory as the language's main file, so its imports resolve alike).
 */
export function processEntryFile(mainFile: string): string {
  return `.process-${randomBytes(4).toString('hex')}-${mainFile}`;
}

export function newSessionId(): string {
  return `kx-s-${randomBytes(10).toString("hex")}`;
}

interface Record_ {
  state: SessionState;
  sandbox: SessionSandbox;
  /** The tail of its call chain (one call at a time), and how many calls wait on it. */
  chain: Promise<void>;
  waiting: number;
  busy: boolean;
  ending: boolean;
}

export interface SessionServiceDeps {
  config: Pick<Config, 'sessions' | 'limits' | 'outputFiles'>;
  executor: Executor;
  /** The running image and the languages it holds (a background process's language is checked). */
  image?: { ref: string; languages: ImageLanguages };
  executions: ExecutionService;
  runner: CtrSessionRunner | null;
  ctr: Pick<CtrClient, 'setLabels'> | null;
  metrics: Metrics;
  logger: Logger;
  instanceId: string;
}

export class SessionService {
  private readonly sessions = new Map<string, Record_>();
  /** The sessions whose sandbox died, by id: their owner and when (GONE_KEEP_MS, GONE_KEEP_MAX). */
  private readonly gone = new Map<string, { owner: string; at: number }>();
  private reaper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly d: SessionServiceDeps) {}

  start(): void {
    this.reaper = setInterval(() => void this.reap(), REAP_EVERY_MS);
    this.reaper.unref();
  }

  get count(): number {
    return this.sessions.size;
  }

  private gauge(): void {
    this.d.metrics.sessionsActive.set(this.sessions.size);
  }

  private audit(event: string, r: { state: SessionState }, more: Record<string, unknown> = {}): void {
    this.d.logger.info({ audit: { event, sessionId: r.state.id, key: r.state.owner, ...more } }, 'session');
  }

  view(r: Record_): Session {
    const s = r.state;
    const rt = this.d.executor.runtime;
    return {
      id: s.id,
      profile: s.profile,
      limits: s.limits,
      createdAt: new Date(s.createdAt).toISOString(),
      lastUsedAt: new Date(s.lastUsedAt).toISOString(),
      expiresAt: new Date(expiresAt(s)).toISOString(),
      idleExpiresAt: new Date(s.lastUsedAt + s.idleTimeoutMs).toISOString(),
      maxExpiresAt: new Date(s.maxExpiresAt).toISOString(),
      idleTimeoutMs: s.idleTimeoutMs,
      maxLifetimeMs: s.maxExpiresAt - s.createdAt,
      backend: { kind: rt.kind, ociRuntime: rt.ociRuntime, hypervisor: rt.hypervisor, isolation: isolationOf(rt.kind), profile: s.profile },
    };
  }

  ref(r: Record_): SessionRef {
    return { id: r.state.id, expiresAt: new Date(expiresAt(r.state)).toISOString() };
  }

  /** The session of this id for this key; another key's is not found. */
  private find(id: string, key: string): Record_ {
    const r = this.sessions.get(id);
    if (!r || r.state.owner !== key || r.ending) {
      // Its sandbox died: the owner is told so (410); anyone else is not told it existed.
      const g = this.gone.get(id);
      if (g && g.owner === key && Date.now() - g.at < GONE_KEEP_MS) throw new SessionGoneError(id);
      throw new SessionNotFoundError(id);
    }
    return r;
  }

  private retryAfter(list: Record_[]): number {
    const soonest = Math.min(...list.map((r) => expiresAt(r.state)));
    return Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - Date.now()) / 1000)) : 60;
  }

  /** The sandbox spec of a session: its profile, its limits, its labels; no program. */
  private sandboxSpec(state: SessionState): SandboxSpec {
    const p = this.d.executor.prepare({ language: 'bash', code: '', profile: state.profile, limits: state.limits }, state.id);
    return {
      ...p.spec,
      labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_EXECUTION]: state.id,
        [LABEL_INSTANCE]: this.d.instanceId,
        ...sessionLabels(state),
      },
    };
  }

  private resolve(req: CreateSessionRequest): { profile: Profile; limits: EffectiveSessionLimits; idleMs: number; lifetimeMs: number } {
    const profile: Profile = req.profile ?? 'standard';
    if (!this.d.executor.supportsProfile(profile)) throw new ProfileNotSupportedError(profile, this.d.executor.runtime.kind);
    // The executor's own rules (defaults, profile defaults, maxima, field errors).
    const limits = this.d.executor.prepare({ language: 'bash', code: '', profile, ...(req.limits ? { limits: req.limits } : {}) }).limits;
    const c = this.d.config.sessions;
    const errs: FieldError[] = [];
    if (req.idleTimeoutMs !== undefined && req.idleTimeoutMs > c.idleMs.max) errs.push({ path: '/idleTimeoutMs', message: `must be at most ${c.idleMs.max} (server maximum)` });
    if (req.maxLifetimeMs !== undefined && req.maxLifetimeMs > c.lifetimeMs.max) errs.push({ path: '/maxLifetimeMs', message: `must be at most ${c.lifetimeMs.max} (server maximum)` });
    if (errs.length) throw new LimitExceededError(errs);
    return {
      profile,
      limits: { memoryMb: limits.memoryMb, cpus: limits.cpus, pids: limits.pids, diskMb: limits.diskMb, openFiles: limits.openFiles },
      idleMs: req.idleTimeoutMs ?? c.idleMs.default,
      lifetimeMs: req.maxLifetimeMs ?? c.lifetimeMs.default,
    };
  }

  async create(req: CreateSessionRequest, key: string, requestId: string): Promise<Session> {
    if (this.closed) throw new ShuttingDownError();
    const runner = this.d.runner;
    if (!runner) throw new KataExecError(ErrorCode.RunnerNotConfigured, 'sessions need a sandbox runner');
    const r0 = this.resolve(req);
    const c = this.d.config.sessions;
    const mine = [...this.sessions.values()].filter((r) => r.state.owner === key);
    if (c.perKey === 0 || c.max === 0) throw new SessionLimitError('sessions are turned off on this server (KATA_EXEC_SESSIONS_PER_KEY or KATA_EXEC_SESSIONS_MAX is 0)', 3600);
    if (mine.length >= c.perKey) throw new SessionLimitError(`this key already has ${mine.length} sessions (at most ${c.perKey}): delete one first`, this.retryAfter(mine));
    if (this.sessions.size >= c.max) throw new SessionLimitError(`the server already runs ${this.sessions.size} sessions (at most ${c.max})`, this.retryAfter([...this.sessions.values()]));
    const now = Date.now();
    const state: SessionState = {
      id: newSessionId(),
      owner: key,
      profile: r0.profile,
      limits: r0.limits,
      createdAt: now,
      maxExpiresAt: now + r0.lifetimeMs,
      idleTimeoutMs: r0.idleMs,
      lastUsedAt: now,
    };
    // Counted before the sandbox exists, so that two creations at once cannot pass the limits.
    const placeholder = { state, sandbox: null as unknown as SessionSandbox, chain: Promise.resolve(), waiting: 0, busy: true, ending: false };
    this.sessions.set(state.id, placeholder);
    try {
      // Its launcher ends it by itself a little past the service's own deadlines: a session
      // outlives no service's absence (the service's reaper acts first when it is there).
      placeholder.sandbox = await runner.create(this.sandboxSpec(state), { at: state.maxExpiresAt + LAUNCHER_GRACE_MS, idleMs: state.idleTimeoutMs + LAUNCHER_GRACE_MS });
    } catch (err) {
      this.sessions.delete(state.id);
      this.d.logger.info({ audit: { event: 'session.create_failed', key, requestId, error: err instanceof KataExecError ? err.code : 'INTERNAL' } }, 'session');
      throw err;
    }
    // Its clocks start when it is ready.
    state.lastUsedAt = Date.now();
    placeholder.busy = false;
    this.d.metrics.sessionsCreated.inc();
    this.gauge();
    this.audit('session.created', placeholder, { requestId, profile: state.profile, limits: state.limits, idleTimeoutMs: state.idleTimeoutMs, maxExpiresAt: new Date(state.maxExpiresAt).toISOString() });
    return this.view(placeholder);
  }

  /** Sessions a restarted service found running and not expired (host/reconcile.ts). */
  adopt(states: readonly SessionState[]): void {
    if (!this.d.runner) return;
    for (const state of states) {
      if (this.sessions.has(state.id)) continue;
      const r: Record_ = { state, sandbox: this.d.runner.adopt(this.sandboxSpec(state)), chain: Promise.resolve(), waiting: 0, busy: false, ending: false };
      this.sessions.set(state.id, r);
      this.audit('session.adopted', r);
    }
    this.d.metrics.sessionsAdopted.inc(states.length);
    this.gauge();
  }

  list(key: string): Session[] {
    return [...this.sessions.values()].filter((r) => r.state.owner === key && !r.ending && r.sandbox).map((r) => this.view(r));
  }

  get(id: string, key: string): Session {
    return this.view(this.find(id, key));
  }

  async remove(id: string, key: string, requestId: string): Promise<void> {
    const r = this.find(id, key);
    await this.end(r, 'deleted', { requestId });
  }

  /** Ends a session: waits for its running call, then deletes its sandbox. */
  private async end(r: Record_, why: 'deleted' | 'idle' | 'lifetime' | 'dead' | 'shutdown', more: Record<string, unknown> = {}): Promise<void> {
    if (r.ending) return;
    r.ending = true;
    if (why === 'dead') this.rememberGone(r.state, Date.now());
    await r.chain.catch(() => undefined);
    this.sessions.delete(r.state.id);
    this.gauge();
    if (why === 'idle' || why === 'lifetime') this.d.metrics.sessionsExpired.inc({ reason: why });
    if (why === 'dead') this.d.metrics.sessionsReaped.inc({ reason: 'dead' });
    const event = why === 'idle' || why === 'lifetime' ? 'session.expired' : why === 'dead' ? 'session.reaped' : 'session.deleted';
    this.audit(event, r, { reason: why, ...more });
    await this.d.runner?.destroy(r.sandbox).catch((err: unknown) => this.d.logger.error({ err, sessionId: r.state.id }, 'deleting a session sandbox failed'));
  }

  private rememberGone(state: SessionState, at: number): void {
    this.gone.delete(state.id);
    this.gone.set(state.id, { owner: state.owner, at });
    for (const [id, g] of this.gone) {
      if (this.gone.size <= GONE_KEEP_MAX && at - g.at < GONE_KEEP_MS) break;
      this.gone.delete(id);
    }
  }

  /** Runs `fn` when the session's earlier calls are done; the session's clocks count from its start and end. */
  private async serialized<T>(r: Record_, fn: () => Promise<T>): Promise<T> {
    if (r.waiting >= MAX_WAITING_CALLS) throw new SessionBusyError(r.waiting);
    r.waiting++;
    const prev = r.chain;
    let release: () => void = () => undefined;
    r.chain = new Promise<void>((res) => (release = res));
    await prev.catch(() => undefined);
    r.waiting--;
    try {
      if (r.ending) throw new SessionNotFoundError(r.state.id);
      if (this.closed) throw new ShuttingDownError();
      r.busy = true;
      r.state.lastUsedAt = Date.now();
      return await fn();
    } catch (err) {
      if (r.sandbox.dead) {
        void this.end(r, 'dead', { cause: r.sandbox.dead });
        if (err instanceof VmExecutionFailedError) throw new SessionGoneError(r.state.id, err);
      }
      throw err;
    } finally {
      r.busy = false;
      r.state.lastUsedAt = Date.now();
      this.noteUse(r);
      release();
    }
  }

  /** The last use, in the labels, for a restarted service's idle clock (best effort, in the background). */
  private noteUse(r: Record_): void {
    void this.d.ctr?.setLabels(r.state.id, { [LABEL_LAST_USED]: String(r.state.lastUsedAt) }).catch(() => undefined);
  }

  async execute(id: string, key: string, req: SessionExecuteRequest, ctx: ExecuteContext): Promise<SessionExecuteResult> {
    const r = this.find(id, key);
    const runner = this.d.runner!;
    return this.serialized(r, async () => {
      const result = await this.d.executions.executeWith(
        { ...req, profile: r.state.profile },
        ctx,
        () =>
          this.d.executor.prepare(
            { ...req, profile: r.state.profile, limits: { ...r.state.limits, ...req.limits } },
            undefined,
            // A compile's and the tests' limits must fit in the session's sandbox as it is.
            { memoryMb: r.state.limits.memoryMb },
          ),
        (p, o) => this.d.executor.run(p, o, (spec, opts) => runner.run(r.sandbox, spec, opts)),
        { sessionId: r.state.id },
      );
      if (r.sandbox.dead) {
        void this.end(r, 'dead', { cause: r.sandbox.dead });
        return { ...result, session: { ...this.ref(r), ended: true as const } };
      }
      r.state.lastUsedAt = Date.now();
      return { ...result, session: this.ref(r) };
    });
  }

  private checkPath(path: string, allowRoot: boolean): string {
    const p = path.replace(/\/+$/, '');
    if (allowRoot && (p === '' || p === '.')) return '';
    const problem = pathProblem(p);
    if (problem) throw new PathNotAllowedError(`the path ${JSON.stringify(path)} ${problem}`);
    return p;
  }

  /** A refusal of the launcher as the API's error. */
  private opError(a: Extract<OpAnswer, { ok: false }>, path: string): KataExecError {
    switch (a.errno) {
      case 'ENOENT':
        return new FileNotFoundError(path);
      case 'ELOOP':
        return new PathNotAllowedError(`the way to ${JSON.stringify(path)} goes through a symbolic link, which is never followed`);
      case 'EACCES':
        return new PathNotAllowedError(`the session's user may not access ${JSON.stringify(path)}`);
      case 'ENOTDIR':
        return new NotAFileError(`${JSON.stringify(path)} (or a directory on its way) is not a directory`);
      case 'EISDIR':
        return new NotAFileError(`${JSON.stringify(path)} is a directory`);
      case 'EINVAL':
        return new NotAFileError(`${JSON.stringify(path)} is not a regular file or directory`);
      case 'EFBIG':
        return new FileTooLargeError(this.d.config.sessions.fileMaxBytes);
      case 'ENOSPC':
        return new DiskFullError();
      case 'E2BIG':
        return new SessionLimitError(`the session already has as many background processes as it may (${a.message})`, 5);
      default:
        return new VmExecutionFailedError(`the session could not do it: ${a.errno}`, { cause: a.message });
    }
  }

  private async op(r: Record_, ...args: Parameters<CtrSessionRunner['op']> extends [SessionSandbox, ...infer A] ? A : never) {
    return this.serialized(r, () => this.d.runner!.op(r.sandbox, ...args));
  }

  async putFile(id: string, key: string, path: string, data: Buffer): Promise<{ path: string; size: number; session: SessionRef }> {
    const r = this.find(id, key);
    const p = this.checkPath(path, false);
    if (data.length > this.d.config.sessions.fileMaxBytes) throw new FileTooLargeError(this.d.config.sessions.fileMaxBytes);
    const { answer } = await this.op(r, 'put', { path: p, data }, 0);
    if (!answer.ok) throw this.opError(answer, p);
    this.d.metrics.sessionFileBytes.inc({ direction: 'in' }, data.length);
    this.audit('session.file_written', r, { path: p, bytes: data.length });
    return { path: p, size: data.length, session: this.ref(r) };
  }

  /**
   * Holds a download's worst case (the bytes, and their copy on the way out) against the
   * memory budget until its answer is written: release it then. MEMORY_BUDGET_FULL past it.
   */
  reserveDownload(): () => void {
    return this.d.executions.memory.reserve(2 * this.d.config.sessions.fileMaxBytes);
  }

  /** A file's bytes, or a directory as a tar archive. */
  async getFile(id: string, key: string, path: string, asTar = false): Promise<{ kind: 'file' | 'dir'; data: Buffer; session: SessionRef }> {
    const r = this.find(id, key);
    const p = this.checkPath(path, true);
    const max = this.d.config.sessions.fileMaxBytes;
    const { answer, data } = await this.op(r, asTar ? 'tar' : 'get', { path: p, max }, max);
    if (!answer.ok) throw this.opError(answer, p);
    this.d.metrics.sessionFileBytes.inc({ direction: 'out' }, data.length);
    this.audit('session.file_read', r, { path: p, bytes: data.length });
    return { kind: answer.info === 'dir' ? 'dir' : 'file', data, session: this.ref(r) };
  }

  async listFiles(id: string, key: string, path: string, recursive = false): Promise<{ path: string; entries: FileEntry[]; truncated: boolean; session: SessionRef }> {
    const r = this.find(id, key);
    const p = this.checkPath(path, true);
    const { answer } = await this.op(r, 'list', { path: p, recursive }, 0);
    if (!answer.ok) throw this.opError(answer, p);
    const truncated = answer.info.trim() === '1';
    const entries = parseListing(answer.body).map((e) => ({
      path: p ? `${p}/${e.path}` : e.path,
      type: e.type,
      size: e.size,
      modifiedAt: new Date(e.mtimeMs).toISOString(),
    }));
    entries.sort((a, b) => a.path.localeCompare(b.path));
    return { path: p, entries, truncated, session: this.ref(r) };
  }

  async deleteFile(id: string, key: string, path: string): Promise<{ deleted: string; session: SessionRef }> {
    const r = this.find(id, key);
    const p = this.checkPath(path, false);
    const { answer } = await this.op(r, 'delete', { path: p }, 0);
    if (!answer.ok) throw this.opError(answer, p);
    this.audit('session.file_deleted', r, { path: p });
    return { deleted: p, session: this.ref(r) };
  }

  async startProcess(id: string, key: string, req: StartProcessRequest): Promise<BackgroundProcess & { session: SessionRef }> {
    const r = this.find(id, key);
    const lang = findLanguage(req.language);
    if (!lang) throw new InvalidRequestError([{ path: '/language', message: `must be one of ${knownLanguages().join(', ')}` }]);
    if (this.d.image && !isAvailable(lang, this.d.image.languages())) throw new LanguageNotAvailableError(lang.name, this.d.image.ref, IMAGE_OF_VARIANT[lang.image]);
    // `code` goes to a file of this process's own, never the language's main file: the next
    // call's `code` overwrites that one, and an interpreter that reads its script as it goes
    // (bash) or has not opened it yet would run the next call's program instead.
    const sources = buildSources(req, processEntryFile(lang.file));
    const args = [...lang.command(`/code/${sources.entry}`), ...checkArgs(req.args)];
    const env = buildEnv([], req.env);
    if (req.logFile) this.checkPath(req.logFile, false);
    return this.serialized(r, async () => {
      const runner = this.d.runner!;
      for (const f of sources.files) {
        const { answer } = await runner.op(r.sandbox, 'put', { path: f.path, data: f.content }, 0);
        if (!answer.ok) throw this.opError(answer, f.path);
      }
      const { answer } = await runner.op(r.sandbox, 'bg', { args, env, ...(req.logFile ? { logFile: req.logFile } : {}) }, 0);
      if (!answer.ok) throw this.opError(answer, req.logFile ?? '');
      const [pid_id, pid] = answer.info.split(' ').map(Number);
      this.audit('session.process_started', r, { processId: pid_id, language: lang.name });
      return { id: pid_id!, pid: pid!, running: true, exitCode: null, session: this.ref(r) };
    });
  }

  async listProcesses(id: string, key: string): Promise<{ processes: BackgroundProcess[]; session: SessionRef }> {
    const r = this.find(id, key);
    const { answer } = await this.op(r, 'bglist', {}, 0);
    if (!answer.ok) throw this.opError(answer, '');
    return { processes: parseProcesses(answer.body), session: this.ref(r) };
  }

  async stopProcess(id: string, key: string, processId: number): Promise<{ deleted: string; session: SessionRef }> {
    const r = this.find(id, key);
    const { answer } = await this.op(r, 'bgstop', { path: String(processId) }, 0);
    if (!answer.ok) {
      if (answer.errno === 'ENOENT') throw new KataExecError(ErrorCode.NotFound, `no background process ${processId} in this session`);
      throw this.opError(answer, '');
    }
    this.audit('session.process_stopped', r, { processId });
    return { deleted: String(processId), session: this.ref(r) };
  }

  /** Ends the sessions whose time is up (never one in a call: it ends after). */
  async reap(now = Date.now()): Promise<void> {
    for (const r of [...this.sessions.values()]) {
      if (r.busy || r.waiting > 0 || r.ending || !r.sandbox) continue;
      const why = r.sandbox.dead ? 'dead' : expiredBecause(r.state, now);
      if (why) await this.end(r, why);
    }
  }

  /** The service stops: no new calls; the sessions live on in containerd for the next process. */
  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    await Promise.allSettled([...this.sessions.values()].map((r) => r.chain));
    for (const r of this.sessions.values()) if (r.sandbox) this.d.runner?.detach(r.sandbox);
  }

  /** Deletes every session (tests, and an operator who wants none to outlive the service). */
  async deleteAll(): Promise<void> {
    await Promise.allSettled([...this.sessions.values()].map((r) => this.end(r, 'shutdown')));
  }
}
