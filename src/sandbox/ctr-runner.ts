/**
 * The real SandboxRunner: one `ctr run --rm` per execution, in a fresh sandbox, and the
 * warm pool's three operations (create, run once, destroy). Every sandbox's init is the
 * launcher (launcher/kx-launch.c), cold and warm alike: one way to run a program and
 * report it.
 *
 * Lifecycle (always the same, whatever the program does):
 *   prepare   the OCI spec under RUN_DIR/work/<id> (files.ts, ctr-spec.ts); an overlay
 *             when the root must be writable
 *   start     spawn `ctr run --rm --config spec.json <id>`, attached: its init is the
 *             launcher, which says it is ready and waits for one request on stdin
 *             (session.ts). Cold: the request is written at once; warm: when one comes.
 *   watch     watch.ts: the request (files, argv, env, stdin) goes in, the program's
 *             output comes back in frames into bounded captures; the deadline, the
 *             caller's abort and runaway output each SIGKILL the task through containerd
 *             (kill.ts); the launcher's end frame carries the exit status and the rusage
 *   answer    at the end frame: the program ended, the answer leaves
 *   teardown  after the answer, in the background, bounded (at most MAX_PENDING_TEARDOWNS
 *             at once: a new sandbox waits for room) and timed (the teardown metric):
 *             wait for ctr's own delete, force-delete when it did not end cleanly;
 *             unmount; remove the work directory
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { runWithConfigArgv, runWithImageArgv, type CtrTarget, type RuntimeTarget } from '../ctr/argv.js';
import type { CtrClient } from '../ctr/client.js';
import { mountOverlay, mountTmpfs, runInMountNamespace, umount } from '../ctr/host.js';
import { buildOciSpec, type OciSeccomp } from '../ctr/oci-spec.js';
import { asServiceError, CtrError, VmCreationFailedError, WarmSandboxLostError } from '../errors.js';
import { imageRunOptions, launcherInit, ociSpecInput } from './ctr-spec.js';
import { endDeletedSandboxes, type ContainerdNamespaceView } from './leftovers.js';
import { executionDir, makeExecutionDir, removeExecutionDir, type ExecutionDir } from './files.js';
import { newNonce } from './marker.js';
import type { OomEvents } from './oom.js';
import type { PidsReports } from './pids-limit.js';
import { driverFor } from '../runtimes/registry.js';
import { LauncherSession } from './session.js';
import { validateSandboxSpec } from './spec.js';
import type { ImageResolver, Logger, RunOptions, SandboxResult, SandboxSpec, WarmSandbox, WarmSandboxRunner } from './types.js';
import { ms, startError, watchSandbox, type Watched, type WatchDeps } from './watch.js';
import { withStartRetries, type StartRetryReason } from './start-retry.js';

/** Sandboxes being deleted after their answer, at most; a new one waits for room. */
export const MAX_PENDING_TEARDOWNS = 8;
/** How long ctr may take to delete a sandbox by itself after its program ended, before a force-delete. */
export const CTR_DELETE_WAIT_MS = 30_000;
/** How long a pooled sandbox may take to say its launcher is ready (a Kata VM boots under emulation in ~10 s). */
export const WARM_READY_MS = 120_000;

export interface SeccompProvider {
  profile(kind: 'default' | 'strict'): Promise<OciSeccomp>;
}

export interface CtrRunnerDeps {
  ctr: CtrClient;
  ctrPath: string;
  target: CtrTarget;
  runtime: RuntimeTarget;
  images: ImageResolver;
  seccomp: SeccompProvider;
  /** RUN_DIR/work */
  workDir: string;
  logger: Logger;
  events: OomEvents | null;
  /** Whether a sandbox's pids cgroup ended it (pids-limit.ts); absent: never asked. */
  pids?: PidsReports | null;
  /**
   * containerd's mount namespace, where the overlay of a writable root must be mounted for a
   * Kata 1.x shim to see it (host/containerd-ns.ts). Absent: ours.
   */
  mountNs?: ContainerdNamespaceView | null;
}

interface WarmState {
  session: LauncherSession;
  dir: ExecutionDir;
  overlayMounted: boolean;
}

export class CtrSandboxRunner implements WarmSandboxRunner {
  /** Sandboxes whose deletion failed (containerd unreachable, or the delete kept failing); swept later. */
  private readonly orphans = new Set<string>();
  /** Deletions running after their answer. */
  private readonly teardowns = new Set<Promise<void>>();
  private roomWaiters: (() => void)[] = [];
  private readonly warm = new Map<string, WarmState>();
  private teardownObserver: ((ms: number) => void) | null = null;
  private startRetryObserver: ((reason: StartRetryReason) => void) | null = null;

  constructor(private readonly d: CtrRunnerDeps) {}

  /** Told of each sandbox started again after a start failure (run()): the retries metric. */
  observeStartRetries(fn: (reason: StartRetryReason) => void): void {
    this.startRetryObserver = fn;
  }

  /** Told the time of each teardown (from the program's end to nothing left): the teardown metric. */
  observeTeardowns(fn: (ms: number) => void): void {
    this.teardownObserver = fn;
  }

  get pendingTeardowns(): number {
    return this.teardowns.size;
  }

  /** Waits for every teardown started so far (shutdown). */
  async drainTeardowns(): Promise<void> {
    while (this.teardowns.size > 0) await Promise.allSettled([...this.teardowns]);
  }

  private async roomForSandbox(): Promise<void> {
    while (this.teardowns.size >= MAX_PENDING_TEARDOWNS) await new Promise<void>((r) => this.roomWaiters.push(r));
  }

  get orphanCount(): number {
    return this.orphans.size;
  }

  /** Kills and deletes the sandboxes that containerd could not delete before. */
  async sweepOrphans(): Promise<number> {
    const removed: string[] = [];
    for (const id of [...this.orphans]) {
      try {
        await this.d.ctr.killTask(id);
        await this.d.ctr.removeContainer(id);
        this.orphans.delete(id);
        removed.push(id);
        this.d.logger.info({ executionId: id }, 'deleted a sandbox left while containerd was away');
      } catch (err) {
        if (!(err instanceof CtrError && err.kind === 'daemon_unavailable')) this.d.logger.warn({ err, id }, 'orphan sweep failed');
        break;
      }
    }
    // The shims containerd reloaded: each gets its grace to exit (a Kata shim stops its VM
    // first), then the ones that did not are ended, with whatever their VM left.
    if (removed.length > 0) {
      await endDeletedSandboxes(this.d.ctr, driverFor(this.d.runtime.kind), removed, this.d.mountNs ?? null, this.d.logger).catch((err: unknown) =>
        this.d.logger.warn({ err }, 'ending the shims of deleted sandboxes failed'),
      );
    }
    return removed.length;
  }

  private async nsPid(): Promise<number | null> {
    return this.d.mountNs ? this.d.mountNs.pid() : null;
  }

  get runtime(): RuntimeTarget {
    return this.d.runtime;
  }

  /** What watch.ts needs to watch a program: the session runner's calls use the same. */
  get watchDeps(): WatchDeps {
    // Only where the pids cgroup is a backstop whose end is the program's (gVisor).
    const pids = driverFor(this.d.runtime.kind).pidsBackstop ? (this.d.pids ?? null) : null;
    return { ctr: this.d.ctr, runtime: this.d.runtime.kind, events: this.d.events, pids };
  }

  /** One cold execution, started again when nothing of it ran (start-retry.ts says when). */
  run(spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    return withStartRetries(spec, opts, (s) => this.runOnce(s, opts), {
      onRetry: (reason, attempt, pauseMs, err) => {
        this.d.logger.warn(
          { executionId: spec.id, attempt, pauseMs, cause: err.cause },
          reason === 'lost_output' ? 'ctr lost the output of a sandbox that exited 0; running it again' : 'the sandbox VM did not answer; creating it again',
        );
        this.startRetryObserver?.(reason);
      },
    });
  }

  private async runOnce(spec: SandboxSpec, opts: RunOptions): Promise<SandboxResult> {
    validateSandboxSpec(spec);
    await this.roomForSandbox();
    const log = this.d.logger.child({ component: 'ctr-runner', executionId: spec.id });
    const t0 = performance.now();
    const dir = executionDir(this.d.workDir, spec.id);
    let overlayMounted = false;
    let session: LauncherSession | undefined;
    let watched: Watched;
    try {
      await makeExecutionDir(dir);
      const rootfs = await this.prepare(spec, dir, () => {
        overlayMounted = true;
      });
      const argv = await this.buildArgv(spec, dir, rootfs);
      log.debug({ argv }, 'ctr');
      session = new LauncherSession(this.d.ctrPath, argv);
      watched = await watchSandbox(this.watchDeps, session, spec, { nonce: newNonce(), sandboxId: spec.id, into: 'cold' }, opts, log, t0);
    } catch (err) {
      // A failure is answered once its sandbox is gone (a retry reuses the id).
      if (session && !session.exited) await this.d.ctr.killTask(spec.id).catch(() => undefined);
      await this.afterAnswer({ id: spec.id, dir, overlayMounted, session, forceDelete: true }, log);
      throw asServiceError(err);
    }
    this.afterAnswer({ id: spec.id, dir, overlayMounted, session, forceDelete: watched.needsForceDelete }, log);
    return watched.result;
  }

  /**
   * The teardown of a sandbox whose answer is ready, in the background and counted: ctr
   * deletes what it made once the launcher ends; when it does not end cleanly (or a kill
   * was sent) the sandbox is force-deleted. Then the mounts and the work directory go.
   */
  private afterAnswer(s: { id: string; dir: ExecutionDir; overlayMounted: boolean; session: LauncherSession | undefined; forceDelete: boolean }, log: Logger): Promise<void> {
    const t0 = performance.now();
    const work = (async () => {
      let force = s.forceDelete;
      if (s.session) {
        let timer: NodeJS.Timeout | undefined;
        const exit = await Promise.race([s.session.exit, new Promise<null>((r) => (timer = setTimeout(() => r(null), CTR_DELETE_WAIT_MS)))]);
        clearTimeout(timer);
        if (exit === null) s.session.endClient();
        if (exit === null || exit.exitCode !== 0) force = true;
      }
      await this.teardown(s.id, s.dir, s.overlayMounted, force, log);
    })()
      .catch((err: unknown) => log.error({ err }, 'teardown failed'))
      .finally(() => {
        this.teardowns.delete(work);
        this.teardownObserver?.(ms(t0, performance.now()));
        const waiters = this.roomWaiters.splice(0);
        for (const w of waiters) w();
      });
    this.teardowns.add(work);
    return work;
  }

  /**
   * Creates and starts a sandbox for the warm pool: the spec's limits and security, and its
   * launcher, which says it is ready and waits for its one request. No user code has
   * touched it.
   */
  async createWarm(template: SandboxSpec): Promise<WarmSandbox> {
    validateSandboxSpec(template);
    const log = this.d.logger.child({ component: 'warm-pool', executionId: template.id });
    const t0 = performance.now();
    const dir = executionDir(this.d.workDir, template.id);
    let overlayMounted = false;
    let session: LauncherSession | undefined;
    try {
      await makeExecutionDir(dir);
      const rootfs = await this.prepare(template, dir, () => {
        overlayMounted = true;
      });
      session = new LauncherSession(this.d.ctrPath, await this.buildArgv(template, dir, rootfs));
      let timer: NodeJS.Timeout | undefined;
      const ready = await Promise.race([session.ready, new Promise<false>((r) => (timer = setTimeout(() => r(false), WARM_READY_MS)))]);
      clearTimeout(timer);
      if (!ready) {
        if (session.broken) throw new VmCreationFailedError('the sandbox image has no kata-exec launcher', { cause: session.broken });
        if (!session.exited) throw new VmCreationFailedError(`the pooled sandbox's launcher was not ready within ${WARM_READY_MS} ms`);
        throw startError(this.d.runtime.kind, 'cold', session.stderr, (await session.exit).exitCode);
      }
      this.warm.set(template.id, { session, dir, overlayMounted });
      const s = session;
      return { id: template.id, template, createdAt: Date.now(), createMs: ms(t0, performance.now()), alive: () => s.alive };
    } catch (err) {
      if (session) await this.d.ctr.killTask(template.id).catch(() => undefined);
      await this.afterAnswer({ id: template.id, dir, overlayMounted, session, forceDelete: true }, log);
      throw asServiceError(err);
    }
  }

  /**
   * Runs one program in a warm sandbox, then destroys it: a warm sandbox is used once. Its
   * launcher gets the request as a cold one's does; the program's end ends the launcher,
   * and with it every process of the sandbox. The result comes back before the sandbox is
   * deleted; `destroyed` settles when it is.
   */
  async runWarm(warm: WarmSandbox, spec: SandboxSpec, opts: RunOptions = {}): Promise<{ result: SandboxResult; destroyed: Promise<void> }> {
    const log = this.d.logger.child({ component: 'ctr-runner', executionId: spec.id, sandbox: warm.id });
    const t0 = performance.now();
    const state = this.warm.get(warm.id);
    if (!state || !state.session.alive) {
      void this.destroyWarm(warm);
      throw new WarmSandboxLostError(state ? (state.session.broken ?? 'its ctr client ended') : 'not a sandbox of this runner');
    }
    this.warm.delete(warm.id);
    let watched: Watched;
    try {
      validateSandboxSpec(spec);
      watched = await watchSandbox(this.watchDeps, state.session, spec, { nonce: newNonce(), sandboxId: warm.id, into: 'warm' }, opts, log, t0);
    } catch (err) {
      void this.afterAnswer({ id: warm.id, ...state, forceDelete: true }, log);
      throw err instanceof WarmSandboxLostError ? err : asServiceError(err);
    }
    const destroyed = this.afterAnswer({ id: warm.id, ...state, forceDelete: watched.needsForceDelete }, log);
    return { result: { ...watched.result, sandboxId: warm.id }, destroyed };
  }

  /** Destroys a pooled sandbox that was not used (expired, dead, or the pool is draining). */
  async destroyWarm(warm: WarmSandbox): Promise<void> {
    const log = this.d.logger.child({ component: 'warm-pool', executionId: warm.id });
    const state = this.warm.get(warm.id);
    this.warm.delete(warm.id);
    await this.d.ctr.killTask(warm.id).catch(() => undefined);
    // A warm sandbox that was made has its overlay exactly when its root is writable.
    const dir = executionDir(this.d.workDir, warm.id);
    await this.afterAnswer({ id: warm.id, dir, overlayMounted: state?.overlayMounted ?? !warm.template.security.readOnlyRootfs, session: state?.session, forceDelete: true }, log);
  }

  /** The root filesystem: the shared read-only rootfs, or an overlay over it when writable (session-runner.ts too). */
  async prepare(spec: SandboxSpec, dir: ExecutionDir, mounted: () => void): Promise<string> {
    const image = await this.d.images.resolve(spec.image);
    if (spec.security.readOnlyRootfs) return image.rootfsPath;
    // The writable layer is a tmpfs as large as the disk limit: writes to / are capped like
    // /tmp's, never land on the host disk, and are gone with the sandbox.
    await Promise.all([dir.overlay.scratch, dir.overlay.merged].map((p) => mkdir(p, { recursive: true })));
    const nsPid = await this.nsPid();
    await mountTmpfs(dir.overlay.scratch, spec.resources.tmpfsBytes, nsPid);
    mounted();
    // The tmpfs may be mounted in containerd's namespace only: its directories are made there.
    await runInMountNamespace(nsPid, ['mkdir', dir.overlay.upper, dir.overlay.work]);
    await mountOverlay(image.rootfsPath, dir.overlay.upper, dir.overlay.work, dir.overlay.merged, nsPid);
    return dir.overlay.merged;
  }

  /** Builds the ctr argv (and writes the OCI spec file in config mode): the launcher is init. */
  private async buildArgv(spec: SandboxSpec, dir: ExecutionDir, rootfs: string): Promise<string[]> {
    const rt = this.d.runtime;
    const init = launcherInit(spec);
    const profile = spec.security.seccompProfile === 'unconfined' ? null : await this.d.seccomp.profile(spec.security.seccompProfile);
    const seccomp = profile && (driverFor(rt.kind).seccomp?.(profile) ?? profile);
    if (rt.launch === 'image') {
      return runWithImageArgv(this.d.target, rt, imageRunOptions(spec, { command: init.command, seccomp: seccomp !== null, detach: false }));
    }
    const oci = buildOciSpec(ociSpecInput(spec, rt, { rootfs, namespace: this.d.target.namespace, init, seccomp }));
    await writeFile(dir.specPath, JSON.stringify(oci), { mode: 0o600 });
    return runWithConfigArgv(this.d.target, rt, { id: spec.id, specPath: dir.specPath, labels: spec.labels, detach: false });
  }

  /** Deletes a sandbox and what it had on the host (session-runner.ts too). */
  async teardown(id: string, dir: ExecutionDir, overlayMounted: boolean, forceDelete: boolean, log: Logger): Promise<void> {
    if (forceDelete) {
      // One bounded policy (CtrClient.removeContainer's TEARDOWN_POLICY); what it could not
      // delete is swept later, whether containerd was away or the delete kept failing.
      try {
        await this.d.ctr.removeContainer(id);
      } catch (err) {
        if (err instanceof CtrError && err.kind === 'daemon_unavailable') {
          log.warn({ err }, 'containerd unreachable during teardown; the sandbox is swept when it is back');
        } else {
          log.error({ err }, 'force-delete failed; the sandbox is swept later');
        }
        this.orphans.add(id);
      }
    }
    this.d.events?.forget(id);
    this.d.pids?.forget(id);
    if (overlayMounted) {
      const nsPid = await this.nsPid();
      for (const m of [dir.overlay.merged, dir.overlay.scratch]) await umount(m, nsPid).catch((err: unknown) => log.error({ err, m }, 'umount failed'));
    }
    await removeExecutionDir(dir).catch((err: unknown) => log.error({ err }, 'removing the work directory failed'));
  }
}
