/**
 * The real SandboxRunner: one `ctr run --rm` per execution, in a fresh sandbox, and the
 * warm pool's three operations (create, run once, destroy).
 *
 * Lifecycle (always the same, whatever the program does):
 *   prepare   write /code and the OCI spec under RUN_DIR/work/<id> (files.ts, ctr-spec.ts);
 *             mount an overlay when the root must be writable
 *   start     spawn `ctr run --rm --config spec.json <id>`; the start marker on stdout
 *             says the program began (marker.ts)
 *   watch     watch.ts: output into bounded captures; the deadline (deadline.ts), the
 *             caller's abort (abort.ts) and runaway output (output-cap.ts) each SIGKILL the
 *             task through containerd (kill.ts); an unexplained death asks oom.ts
 *   teardown  if ctr did not end cleanly, force-delete the task and the container; unmount;
 *             remove the work directory
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { execInTaskArgv, runWithConfigArgv, runWithImageArgv, type CtrTarget, type RuntimeTarget } from '../ctr/argv.js';
import type { CtrClient } from '../ctr/client.js';
import { mountOverlay, mountTmpfs, runInMountNamespace, umount } from '../ctr/host.js';
import { buildOciSpec, type OciSeccomp } from '../ctr/oci-spec.js';
import { asServiceError, CtrError, LostOutputError, VmAgentUnreachableError } from '../errors.js';
import { imageRunOptions, ociSpecInput } from './ctr-spec.js';
import { endDeletedSandboxes, type ContainerdNamespaceView } from './leftovers.js';
import { executionDir, removeExecutionDir, writeCodeFiles, writeStdin, type ExecutionDir } from './files.js';
import { newNonce, wrapWithMarker, wrapWithMarkerAndReap } from './marker.js';
import type { OomEvents } from './oom.js';
import { driverFor } from '../runtimes/registry.js';
import { validateSandboxSpec } from './spec.js';
import type { ImageResolver, Logger, RunOptions, SandboxResult, SandboxSpec, WarmSandbox, WarmSandboxRunner } from './types.js';
import { ms, watchSandbox, type Watched, type WatchDeps } from './watch.js';

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
  /**
   * containerd's mount namespace, where the overlay of a writable root must be mounted for a
   * Kata 1.x shim to see it (host/containerd-ns.ts). Absent: ours.
   */
  mountNs?: ContainerdNamespaceView | null;
}

export class CtrSandboxRunner implements WarmSandboxRunner {
  /** Sandboxes whose deletion failed (containerd unreachable, or the delete kept failing); swept later. */
  private readonly orphans = new Set<string>();

  constructor(private readonly d: CtrRunnerDeps) {}

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

  private get watchDeps(): WatchDeps {
    return { ctr: this.d.ctr, ctrPath: this.d.ctrPath, runtime: this.d.runtime.kind, events: this.d.events };
  }

  /**
   * One cold execution. `ctr` 1.6 now and then loses every byte a task writes at the very
   * instant it starts, and exits 0 (the benchmark saw 2 in 600 raw runs on a loaded
   * host): with the start marker lost nobody can tell what ran, so that one case is run
   * again, once, in a fresh sandbox. Nothing of the first can have survived it (no
   * network, nothing kept), so running twice is invisible but for the time.
   */
  async run(spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    const started = performance.now();
    try {
      return await this.runOnce(spec, opts);
    } catch (err) {
      if (!(err instanceof LostOutputError || err instanceof VmAgentUnreachableError) || opts.signal?.aborted) throw err;
      // Also once, and only when the program never started: a Kata VM whose agent never
      // answered its first check. Never on the program's own failure, which is a result.
      this.d.logger.warn(
        { executionId: spec.id, cause: (err as Error).cause },
        err instanceof LostOutputError ? 'ctr lost the output of a sandbox that exited 0; running it again' : 'the sandbox VM did not answer; creating it once more',
      );
      // The second attempt gets what is left of the timeout, not a new one: the request's
      // deadline counts from the request, whatever the sandbox cost to start.
      const left = Math.max(1, Math.floor(spec.timeoutMs - (performance.now() - started)));
      return this.runOnce({ ...spec, timeoutMs: left }, opts);
    }
  }

  private async runOnce(spec: SandboxSpec, opts: RunOptions): Promise<SandboxResult> {
    validateSandboxSpec(spec);
    const log = this.d.logger.child({ component: 'ctr-runner', executionId: spec.id });
    const t0 = performance.now();
    const dir = executionDir(this.d.workDir, spec.id);
    let overlayMounted = false;
    let needsForceDelete = true;
    let watched: Watched | undefined;
    try {
      const rootfs = await this.prepare(spec, dir, () => {
        overlayMounted = true;
      });
      await writeCodeFiles(dir, spec.files);
      await writeStdin(dir, spec.stdin);
      const nonce = newNonce();
      const argv = await this.buildArgv(spec, dir, rootfs, wrapWithMarker(nonce, spec.command, spec.programEnv));
      watched = await watchSandbox(this.watchDeps, spec, { argv, nonce, sandboxId: spec.id, into: 'cold' }, opts, log, t0);
      needsForceDelete = watched.needsForceDelete;
    } catch (err) {
      throw asServiceError(err);
    } finally {
      await this.teardown(spec.id, dir, overlayMounted, needsForceDelete, log);
    }
    // Teardown: from the program's end (its streams closing) to everything being gone,
    // which includes ctr's own task and container delete.
    watched.result.timing.teardownMs = ms(watched.tEnd, performance.now());
    return watched.result;
  }

  /**
   * Creates and starts a sandbox for the warm pool: the spec's limits and security, an idle
   * init (`sleep infinity`) and an empty /code. No user code has touched it.
   */
  async createWarm(template: SandboxSpec): Promise<WarmSandbox> {
    validateSandboxSpec(template);
    const log = this.d.logger.child({ component: 'warm-pool', executionId: template.id });
    const t0 = performance.now();
    const dir = executionDir(this.d.workDir, template.id);
    let overlayMounted = false;
    try {
      const rootfs = await this.prepare(template, dir, () => {
        overlayMounted = true;
      });
      await writeCodeFiles(dir, []);
      await writeStdin(dir, null);
      const argv = await this.buildArgv(template, dir, rootfs, ['sleep', 'infinity'], { detach: true });
      await this.d.ctr.runDetached(argv);
      return { id: template.id, template, createdAt: Date.now(), createMs: ms(t0, performance.now()) };
    } catch (err) {
      await this.teardown(template.id, dir, overlayMounted, true, log);
      throw asServiceError(err);
    }
  }

  /**
   * Runs one program in a warm sandbox, then destroys it: a warm sandbox is used once.
   * The program runs through `ctr task exec` under a wrapper that, once it exits, SIGKILLs
   * whatever it left (kill -1 spares only init and the wrapper), as the end of init does on
   * the cold path. The result comes back before the sandbox is deleted; `destroyed` settles
   * when it is.
   */
  async runWarm(warm: WarmSandbox, spec: SandboxSpec, opts: RunOptions = {}): Promise<{ result: SandboxResult; destroyed: Promise<void> }> {
    const log = this.d.logger.child({ component: 'ctr-runner', executionId: spec.id, sandbox: warm.id });
    const t0 = performance.now();
    const dir = executionDir(this.d.workDir, warm.id);
    try {
      validateSandboxSpec(spec);
      await writeCodeFiles(dir, spec.files);
      await writeStdin(dir, spec.stdin);
      const nonce = newNonce();
      const argv = execInTaskArgv(this.d.target, warm.id, { execId: 'run', cwd: spec.workingDir, command: wrapWithMarkerAndReap(nonce, spec.command, spec.programEnv) });
      const watched = await watchSandbox(this.watchDeps, spec, { argv, nonce, sandboxId: warm.id, into: 'warm' }, opts, log, t0);
      return { result: { ...watched.result, sandboxId: warm.id }, destroyed: this.destroyWarm(warm) };
    } catch (err) {
      return Promise.reject(asServiceError(err)).finally(() => this.destroyWarm(warm));
    }
  }

  async destroyWarm(warm: WarmSandbox): Promise<void> {
    const log = this.d.logger.child({ component: 'warm-pool', executionId: warm.id });
    await this.d.ctr.killTask(warm.id).catch(() => undefined);
    // A warm sandbox that was made has its overlay exactly when its root is writable.
    await this.teardown(warm.id, executionDir(this.d.workDir, warm.id), !warm.template.security.readOnlyRootfs, true, log);
  }

  /** The root filesystem: the shared read-only rootfs, or an overlay over it when writable. */
  private async prepare(spec: SandboxSpec, dir: ExecutionDir, mounted: () => void): Promise<string> {
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

  /** Builds the ctr argv (and writes the OCI spec file in config mode). */
  private async buildArgv(spec: SandboxSpec, dir: ExecutionDir, rootfs: string, command: string[], o: { detach?: boolean } = {}): Promise<string[]> {
    const rt = this.d.runtime;
    const profile = spec.security.seccompProfile === 'unconfined' ? null : await this.d.seccomp.profile(spec.security.seccompProfile);
    const seccomp = profile && (driverFor(rt.kind).seccomp?.(profile) ?? profile);
    if (rt.launch === 'image') {
      return runWithImageArgv(
        this.d.target,
        rt,
        imageRunOptions(spec, { codeDir: dir.codeDir, ioDir: dir.ioDir, command, seccomp: seccomp !== null, detach: o.detach ?? false }),
      );
    }
    const oci = buildOciSpec(
      ociSpecInput(spec, rt, { rootfs, codeDir: dir.codeDir, ioDir: dir.ioDir, namespace: this.d.target.namespace, command, seccomp }),
    );
    await writeFile(dir.specPath, JSON.stringify(oci), { mode: 0o600 });
    return runWithConfigArgv(this.d.target, rt, { id: spec.id, specPath: dir.specPath, labels: spec.labels, detach: o.detach ?? false });
  }

  private async teardown(id: string, dir: ExecutionDir, overlayMounted: boolean, forceDelete: boolean, log: Logger): Promise<void> {
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
    if (overlayMounted) {
      const nsPid = await this.nsPid();
      for (const m of [dir.overlay.merged, dir.overlay.scratch]) await umount(m, nsPid).catch((err: unknown) => log.error({ err, m }, 'umount failed'));
    }
    await removeExecutionDir(dir).catch((err: unknown) => log.error({ err }, 'removing the work directory failed'));
  }
}
