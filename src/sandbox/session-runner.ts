/**
 * A session's sandbox: one sandbox that stays up for many calls. Its init is the launcher
 * in session mode (launcher/kx-session.c), which serves requests on a unix socket inside
 * the sandbox; the service reaches it through one `ctr tasks exec ... kx-launch --attach`
 * per service lifetime (its stdin and stdout are the socket's two directions). The sandbox
 * itself runs detached (`ctr run --detach --null-io`): no client of ours holds it, so a
 * service that restarts finds it running and attaches again (the newest attach wins).
 *
 *   create   prepare (as a cold sandbox: spec, rootfs), `ctr run --detach --null-io`, attach
 *   run      a program, through watch.ts as any run; the deadline, the output cap and the
 *            caller's abort kill the call's processes through the launcher (K), and the
 *            whole sandbox when the launcher does not end the call in SESSION_KILL_GRACE_MS
 *   op       a file or process op (session-protocol.ts): bytes pass through the launcher,
 *            never through a host directory, so a link the program made cannot point the
 *            service at a host path
 *   destroy  kill, delete, unmount, remove the work directory (ctr-runner.ts's teardown)
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { execInTaskArgv, runWithConfigArgv } from '../ctr/argv.js';
import { buildOciSpec } from '../ctr/oci-spec.js';
import { asServiceError, CtrError, NotSupportedError, VmCreationFailedError, VmExecutionFailedError, WarmSandboxLostError } from '../errors.js';
import { driverFor } from '../runtimes/registry.js';
import type { CtrRunnerDeps, CtrSandboxRunner } from './ctr-runner.js';
import { launcherInit, ociSpecInput } from './ctr-spec.js';
import { executionDir, makeExecutionDir, type ExecutionDir } from './files.js';
import { LAUNCHER_PATH } from './launch-protocol.js';
import { newNonce } from './marker.js';
import { LauncherSession } from './session.js';
import {
  CAN_RUN_STEPS,
  encodeOp,
  KILL_FRAME,
  launcherCan,
  parseOpEnd,
  SESSION_FRAME_TYPES,
  SESSION_HELLO,
  SESSION_MAX_FRAME,
  type OpAnswer,
  type SessionOp,
} from './session-protocol.js';
import { validateSandboxSpec } from './spec.js';
import { matchGlobs } from './glob.js';
import { parseListing } from './session-protocol.js';
import type { Logger, RunOptions, SandboxResult, SandboxSpec } from './types.js';
import { watchSandbox } from './watch.js';

/** How long the launcher may take to end a call it was told to kill, before the sandbox is. */
export const SESSION_KILL_GRACE_MS = 3_000;
/** How long an attach may take to say hello (a Kata exec takes ~1.3 s; under emulation more). */
export const ATTACH_READY_MS = 60_000;
/** How long a file op may take. */
export const OP_TIMEOUT_MS = 120_000;

export interface SessionSandbox {
  id: string;
  /** What it was made from: its limits and security (a call's own fields come per call). */
  spec: SandboxSpec;
  dir: ExecutionDir;
  overlayMounted: boolean;
  attach: LauncherSession | null;
  /** Why it cannot be used any more (its sandbox died), or null. */
  dead: string | null;
  /** Whether its launcher runs steps (asked once: an adopted session's may be older). */
  runsSteps?: boolean;
}

export class CtrSessionRunner {
  constructor(
    private readonly d: CtrRunnerDeps,
    private readonly runner: CtrSandboxRunner,
  ) {}

  private log(id: string): Logger {
    return this.d.logger.child({ component: 'session-runner', sessionId: id });
  }

  /**
   * Creates and starts a session's sandbox and attaches to its launcher. `ends`: when its
   * launcher ends the sandbox by itself (wall-clock ms, and ms after its last request), a
   * bound that holds even when no service is there to reap it.
   */
  async create(spec: SandboxSpec, ends: { at?: number; idleMs?: number } = {}): Promise<SessionSandbox> {
    validateSandboxSpec(spec);
    if (this.d.runtime.launch !== 'config') throw new VmCreationFailedError(`sessions are not available with the ${this.d.runtime.kind} image launch mode`);
    const log = this.log(spec.id);
    const s: SessionSandbox = { id: spec.id, spec, dir: executionDir(this.d.workDir, spec.id), overlayMounted: false, attach: null, dead: null };
    try {
      await makeExecutionDir(s.dir);
      const rootfs = await this.runner.prepare(spec, s.dir, () => {
        s.overlayMounted = true;
      });
      const rt = this.d.runtime;
      const profile = spec.security.seccompProfile === 'unconfined' ? null : await this.d.seccomp.profile(spec.security.seccompProfile);
      const seccomp = profile && (driverFor(rt.kind).seccomp?.(profile) ?? profile);
      // The one-shot launcher's user and capabilities (root with CAP_SETUID, CAP_SETGID and
      // CAP_KILL where the program is another user), in session mode.
      const init = launcherInit(spec);
      const command = [init.command[0]!, '--session', ...init.command.slice(1)];
      if (ends.at) command.push('--expires', String(Math.round(ends.at)));
      if (ends.idleMs) command.push('--idle-ms', String(Math.round(ends.idleMs)));
      const oci = buildOciSpec(ociSpecInput(spec, rt, { rootfs, namespace: this.d.target.namespace, init: { ...init, command }, seccomp }));
      await writeFile(s.dir.specPath, JSON.stringify(oci), { mode: 0o600 });
      const argv = runWithConfigArgv(this.d.target, rt, { id: spec.id, specPath: s.dir.specPath, labels: spec.labels, detach: true, nullIo: true });
      try {
        await this.d.ctr.runDetached(argv);
      } catch (err) {
        // Once, as for a one-shot execution (CtrRunner.run): a Kata VM whose agent never
        // answered its first check (an emulated VM on a busy host) is created again. Nothing
        // ran in it: only its container is removed first, the rootfs stays.
        if (!(err instanceof CtrError && err.kind === 'vm_agent_unreachable')) throw err;
        log.warn({ err }, "the session's VM did not answer; creating it once more");
        await this.d.ctr.removeContainer(spec.id);
        await this.d.ctr.runDetached(argv);
      }
      await this.attached(s);
      return s;
    } catch (err) {
      log.warn({ err }, 'creating a session sandbox failed');
      await this.destroy(s).catch(() => undefined);
      throw asServiceError(err);
    }
  }

  /** A sandbox of an earlier process of the service, running: attached at its first use. */
  adopt(spec: SandboxSpec): SessionSandbox {
    return { id: spec.id, spec, dir: executionDir(this.d.workDir, spec.id), overlayMounted: !spec.security.readOnlyRootfs, attach: null, dead: null };
  }

  /** The attach process, started when there is none alive. */
  private async attached(s: SessionSandbox): Promise<LauncherSession> {
    if (s.dead) throw new VmExecutionFailedError("the session's sandbox is gone", { cause: s.dead });
    if (s.attach?.alive) return s.attach;
    s.attach?.endClient();
    // runc starts an exec in the sandbox's root directory: the shared rootfs must be mounted
    // (a restarted service has not mounted it yet when it adopts a session).
    await this.d.images.resolve(s.spec.image);
    const execId = `kx-attach-${randomBytes(6).toString('hex')}`;
    const argv = execInTaskArgv(this.d.target, s.id, { execId, cwd: '/', command: [LAUNCHER_PATH, '--attach'] });
    const t0 = performance.now();
    const a = new LauncherSession(this.d.ctrPath, argv, { hello: SESSION_HELLO, types: SESSION_FRAME_TYPES, maxFrame: SESSION_MAX_FRAME, tiedToParent: true });
    s.attach = a;
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([a.ready, new Promise<false>((r) => (timer = setTimeout(() => r(false), ATTACH_READY_MS)))]);
    clearTimeout(timer);
    if (!ready) {
      a.endClient();
      s.attach = null;
      const why = a.broken ?? (a.stderr.trim().slice(-300) || 'no answer');
      if (!(await this.alive(s.id))) s.dead = why;
      this.log(s.id).warn({ why, dead: s.dead !== null }, "could not attach to the session's launcher");
      throw new VmExecutionFailedError("the session's sandbox did not answer", { cause: why });
    }
    this.log(s.id).debug({ ms: Math.round(performance.now() - t0) }, 'attached');
    return a;
  }

  /** True while the sandbox's task runs. */
  async alive(id: string): Promise<boolean> {
    try {
      return (await this.d.ctr.listTasks()).some((t) => t.id === id && t.status === 'RUNNING');
    } catch {
      return true;
    }
  }

  /**
   * Runs one call's program. Its processes end with it (the launcher kills what it left),
   * background ones aside. A sandbox that died on the way is marked dead.
   */
  async run(s: SessionSandbox, spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    validateSandboxSpec(spec);
    const log = this.log(s.id).child({ executionId: spec.id });
    const t0 = performance.now();
    if (spec.steps) {
      s.runsSteps ??= launcherCan((await this.op(s, 'ping', {}, 0)).answer).includes(CAN_RUN_STEPS);
      if (!s.runsSteps) {
        throw new NotSupportedError("this session's sandbox was started by an older launcher, which runs no compile or tests: create a new session", [
          { path: '/language', message: 'a compile or tests, in a session that cannot run them' },
        ]);
      }
    }
    // The launcher ends the call by itself past its deadline and a grace, should the
    // service be gone by then (killed: nobody is left to send the kill).
    await this.op(s, 'deadline', { path: String(spec.timeoutMs + SESSION_KILL_GRACE_MS + 2000) }, 0);
    const a = await this.attached(s);
    this.d.events?.forget(s.id);
    // The one-shot path's watch (ctr-runner.ts): on gVisor, a sandbox that its pids cgroup
    // ends during the call is the call's pids limit. The session's cgroup has counted its
    // earlier calls: only this call's refusals count.
    const deps = this.runner.watchDeps;
    const pidsBaseline = deps.pids && spec.resources.pids > 0 ? await deps.pids.refusedSoFar(s.id) : 0;
    let killSent = false;
    let escalate: NodeJS.Timeout | undefined;
    const kill = async () => {
      if (killSent) return;
      killSent = true;
      a.send(KILL_FRAME);
      escalate = setTimeout(() => {
        log.warn("the session's launcher did not end the call: killing the session's sandbox");
        s.dead = 'killed: its launcher did not end a call';
        void this.d.ctr.killTask(s.id).catch(() => undefined);
      }, SESSION_KILL_GRACE_MS);
    };
    try {
      const watched = await watchSandbox(
        deps,
        a,
        spec,
        { nonce: newNonce(), sandboxId: s.id, into: 'warm', kill, keepOpen: true, pidsBaseline },
        opts,
        log,
        t0,
      );
      if (watched.result.usage === null && watched.result.exitCode === null && !(await this.alive(s.id))) s.dead = 'the sandbox ended during a call';
      return { ...watched.result, sandboxId: s.id };
    } catch (err) {
      if (!(await this.alive(s.id))) s.dead = 'the sandbox ended during a call';
      if (err instanceof WarmSandboxLostError) throw new VmExecutionFailedError("the session's sandbox did not run the program", { cause: err.cause });
      throw asServiceError(err);
    } finally {
      clearTimeout(escalate);
      if (a.broken) {
        // A stream that stopped being frames is never believed again: the sandbox goes.
        s.dead = `its launcher stream broke: ${a.broken}`;
        await this.d.ctr.killTask(s.id).catch(() => undefined);
      }
    }
  }

  /**
   * One op. `maxBytes`: the most bytes (D frames) taken; more is an error of the launcher's
   * own (it checks the same bound), never buffered here.
   */
  async op(
    s: SessionSandbox,
    op: SessionOp,
    o: Parameters<typeof encodeOp>[2] = {},
    maxBytes = 0,
  ): Promise<{ answer: OpAnswer; data: Buffer }> {
    const a = await this.attached(s);
    const nonce = newNonce();
    const chunks: Buffer[] = [];
    let size = 0;
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: Error | null, v?: { answer: OpAnswer; data: Buffer }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(v!);
      };
      const timer = setTimeout(() => {
        a.endClient();
        done(new VmExecutionFailedError(`the session's launcher did not answer a ${op} in time`));
      }, OP_TIMEOUT_MS);
      const broken = (why: string) => {
        s.dead = `its launcher stream broke: ${why}`;
        void this.d.ctr.killTask(s.id).catch(() => undefined);
        done(new VmExecutionFailedError("the session's launcher stream broke", { cause: why }));
      };
      a.listen((f) => {
        if (f.type === 'D') {
          size += f.payload.length;
          if (size > maxBytes) return broken(`more than ${maxBytes} bytes for a ${op}`);
          chunks.push(Buffer.from(f.payload));
          return;
        }
        if (f.type === 'Y' || f.type === 'Z') {
          const answer = parseOpEnd(f.type, f.payload, nonce);
          if (!answer) return broken(`an answer that is not this request's`);
          return done(null, { answer, data: Buffer.concat(chunks) });
        }
        broken(`an unexpected frame ${f.type} for a ${op}`);
      }, broken);
      void a.exit.then(async () => {
        if (!(await this.alive(s.id))) s.dead = 'the sandbox ended';
        done(new VmExecutionFailedError(`the session's launcher went away during a ${op}`, { cause: a.stderr.slice(-300) }));
      });
      a.send(encodeOp(nonce, op, o));
    });
  }

  /**
   * One execution with `collect` (outputFiles): a sandbox of its own in session mode, the
   * program (or its steps: a compile, tests), then the files that match as it left them, read through the launcher (never through a link),
   * within the bounds; the sandbox is deleted afterwards, in the background.
   */
  async runCollecting(spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    const t0 = performance.now();
    const s = await this.create(spec);
    const createMs = performance.now() - t0;
    try {
      const result = await this.run(s, spec, opts);
      const c = spec.collect;
      if (!c || s.dead || result.exitCode === null) return { ...result, sandboxId: spec.id, files: [], filesTruncated: false };
      const files: { path: string; content: Buffer }[] = [];
      let truncated = false;
      let bytes = 0;
      const { answer } = await this.op(s, 'list', { path: '', recursive: true }, 0);
      if (answer.ok) {
        const entries = parseListing(answer.body).filter((e) => e.type === 'file');
        const sizes = new Map(entries.map((e) => [e.path, e.size]));
        truncated = answer.info.trim() === '1';
        for (const p of matchGlobs([...sizes.keys()], c.patterns)) {
          if (files.length >= c.maxCount || bytes + sizes.get(p)! > c.maxBytes) {
            truncated = true;
            continue;
          }
          const room = c.maxBytes - bytes;
          const got = await this.op(s, 'get', { path: p, max: room }, room);
          if (!got.answer.ok) {
            truncated = true;
            continue;
          }
          files.push({ path: p, content: got.data });
          bytes += got.data.length;
        }
      }
      return { ...result, timing: { ...result.timing, setupMs: Math.round((result.timing.setupMs + createMs) * 10) / 10 }, sandboxId: spec.id, files, filesTruncated: truncated };
    } finally {
      void this.destroy(s).catch((err: unknown) => this.log(spec.id).error({ err }, 'deleting the sandbox failed'));
    }
  }

  /** Lets go of the sandbox without ending it (the service stops; a later one attaches again). */
  detach(s: SessionSandbox): void {
    const a = s.attach;
    s.attach = null;
    if (!a) return;
    a.endInput();
    setTimeout(() => a.endClient(), 1000).unref();
  }

  /** Deletes the sandbox and everything it had on the host. */
  async destroy(s: SessionSandbox): Promise<void> {
    s.dead ??= 'deleted';
    s.attach?.endClient();
    s.attach = null;
    await this.d.ctr.killTask(s.id).catch(() => undefined);
    await this.runner.teardown(s.id, s.dir, s.overlayMounted, true, this.log(s.id));
  }
}
