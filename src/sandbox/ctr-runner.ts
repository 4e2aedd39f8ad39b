/**
 * The real SandboxRunner: one `ctr run --rm` per execution, in a fresh sandbox.
 *
 * Lifecycle (always the same, whatever the program does):
 *   prepare   write /code and the OCI spec under RUN_DIR/work/<id>; mount an overlay when
 *             the root must be writable
 *   start     spawn `ctr run --rm --config spec.json <id>`; the start marker on stdout
 *             says the program began
 *   watch     stream stdout/stderr into bounded captures; at the deadline, on abort or
 *             when output runs far past its cap, SIGKILL the task through containerd
 *             (killing the ctr client would not stop it)
 *   teardown  if ctr did not end cleanly, force-delete the task and the container; unmount;
 *             remove the work directory
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { execInTaskArgv, runWithConfigArgv, runWithImageArgv, type CtrTarget, type RuntimeTarget } from '../ctr/argv.js';
import { CtrError, type CtrClient } from '../ctr/client.js';
import { spawnStreaming } from '../ctr/exec.js';
import { mountOverlay, mountTmpfs, umount } from '../ctr/host.js';
import { buildOciSpec, type OciSeccomp } from '../ctr/oci-spec.js';
import { imageRunOptions, ociSpecInput } from './ctr-spec.js';
import { classifyCtrError, lastCtrLine, signalFromExitStatus } from '../ctr/parse.js';
import {
  DaemonUnavailableError,
  KataNotAvailableError,
  VmCreationFailedError,
} from '../errors.js';
import { MarkerGate, newNonce, wrapWithMarker, wrapWithMarkerAndReap } from './marker.js';
import { CappedCapture } from './capture.js';
import { killOrphanShims } from '../host/reconcile.js';
import { asServiceError, type RootfsImageResolver } from '../host/rootfs.js';
import { executionDir, removeExecutionDir, writeCodeFiles, writeStdin, type ExecutionDir } from './files.js';
import { validateSandboxSpec } from './spec.js';
import type { Logger, RunOptions, SandboxResult, SandboxRunner, SandboxSpec } from './types.js';

/** Output past this many times the cap (plus 1 MiB) stops the sandbox. */
const OUTPUT_KILL_FACTOR = 4;
/** After a kill, how long ctr may take to report the exit before we force-delete. */
const KILL_GRACE_MS = 5_000;
export interface SeccompProvider {
  profile(kind: 'default' | 'strict'): Promise<OciSeccomp>;
}

/** What the runner needs of containerd's event stream (src/ctr/events.ts). */
export interface OomEvents {
  sawOom(id: string, ms: number): Promise<boolean>;
  forget(id: string): void;
}

/** How long to wait, after an exit by a signal that we did not send, for an OOM report. */
const OOM_EVENT_WAIT_MS = 1000;

/** ctr exited 0 but not one byte came out, not even the start marker. */
export class LostOutputError extends VmCreationFailedError {
  constructor(cause: string) {
    super('the sandbox ran but its output was lost', { cause });
  }
}

/** A started sandbox of the warm pool, idle, untouched by user code. */
export interface WarmSandbox {
  id: string;
  template: SandboxSpec;
  dir: ExecutionDir;
  overlayMounted: boolean;
  createdAt: number;
  createMs: number;
}

interface Watched {
  result: SandboxResult;
  needsForceDelete: boolean;
  /** When the program ended (its streams closed). */
  tEnd: number;
}

export interface CtrRunnerDeps {
  ctr: CtrClient;
  ctrPath: string;
  target: CtrTarget;
  runtime: RuntimeTarget;
  images: RootfsImageResolver;
  seccomp: SeccompProvider;
  /** RUN_DIR/work */
  workDir: string;
  logger: Logger;
  events: OomEvents | null;
}

const ms = (a: number, b: number) => Math.max(0, Math.round((b - a) * 10) / 10);

export class CtrSandboxRunner implements SandboxRunner {
  /** Sandboxes whose deletion failed because containerd was unreachable; swept later. */
  private readonly orphans = new Set<string>();

  constructor(private readonly d: CtrRunnerDeps) {}

  get orphanCount(): number {
    return this.orphans.size;
  }

  /** Kills and deletes the sandboxes that containerd could not delete before. */
  async sweepOrphans(): Promise<number> {
    let removed = 0;
    for (const id of [...this.orphans]) {
      try {
        await this.d.ctr.killTask(id);
        await this.d.ctr.removeContainer(id);
        this.orphans.delete(id);
        removed++;
        this.d.logger.info({ executionId: id }, 'deleted a sandbox left while containerd was away');
      } catch (err) {
        if (!(err instanceof CtrError && err.kind === 'daemon_unavailable')) this.d.logger.warn({ err, id }, 'orphan sweep failed');
        return removed;
      }
    }
    if (removed > 0) {
      // Give the reloaded shims a moment to exit by themselves, then end the ones that did not.
      await new Promise((r) => setTimeout(r, 1000));
      const live = await this.d.ctr.listContainers().catch(() => null);
      if (live) await killOrphanShims(this.d.target.address, this.d.target.namespace, new Set(live));
    }
    return removed;
  }

  get runtime(): RuntimeTarget {
    return this.d.runtime;
  }

  /**
   * One cold execution. `ctr` 1.6 now and then loses every byte a task writes at the very
   * instant it starts, and exits 0 (the benchmark saw 2 in 600 raw runs on a loaded
   * host): with the start marker lost nobody can tell what ran, so that one case is run
   * again, once, in a fresh sandbox. Nothing of the first can have survived it (no
   * network, nothing kept), so running twice is invisible but for the time.
   */
  async run(spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    try {
      return await this.runOnce(spec, opts);
    } catch (err) {
      if (!(err instanceof LostOutputError) || opts.signal?.aborted) throw err;
      this.d.logger.warn({ executionId: spec.id }, 'ctr lost the output of a sandbox that exited 0; running it again');
      return this.runOnce(spec, opts);
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
      const argv = await this.buildArgv(spec, dir, rootfs, wrapWithMarker(nonce, spec.command));
      watched = await this.watch(spec, argv, nonce, opts, log, t0);
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
      return { id: template.id, template, dir, overlayMounted, createdAt: Date.now(), createMs: ms(t0, performance.now()) };
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
    try {
      await writeCodeFiles(warm.dir, spec.files);
      await writeStdin(warm.dir, spec.stdin);
      const nonce = newNonce();
      const argv = execInTaskArgv(this.d.target, warm.id, { execId: 'run', cwd: spec.workingDir, command: wrapWithMarkerAndReap(nonce, spec.command) });
      const watched = await this.watch({ ...spec, id: warm.id }, argv, nonce, opts, log, t0);
      return { result: watched.result, destroyed: this.destroyWarm(warm) };
    } catch (err) {
      return Promise.reject(asServiceError(err)).finally(() => this.destroyWarm(warm));
    }
  }

  async destroyWarm(warm: WarmSandbox): Promise<void> {
    const log = this.d.logger.child({ component: 'warm-pool', executionId: warm.id });
    await this.d.ctr.killTask(warm.id).catch(() => undefined);
    await this.teardown(warm.id, warm.dir, warm.overlayMounted, true, log);
  }

  /** The root filesystem: the shared read-only rootfs, or an overlay over it when writable. */
  private async prepare(spec: SandboxSpec, dir: ExecutionDir, mounted: () => void): Promise<string> {
    const image = await this.d.images.resolve(spec.image);
    if (spec.security.readOnlyRootfs) return image.rootfsPath;
    // The writable layer is a tmpfs as large as the disk limit: writes to / are capped like
    // /tmp's, never land on the host disk, and are gone with the sandbox.
    await Promise.all([dir.overlay.scratch, dir.overlay.merged].map((p) => mkdir(p, { recursive: true })));
    await mountTmpfs(dir.overlay.scratch, spec.resources.tmpfsBytes);
    mounted();
    await Promise.all([dir.overlay.upper, dir.overlay.work].map((p) => mkdir(p)));
    await mountOverlay(image.rootfsPath, dir.overlay.upper, dir.overlay.work, dir.overlay.merged);
    return dir.overlay.merged;
  }

  /**
   * Runs one ctr client to its end and watches it: output into bounded captures, the
   * start marker, the deadline, the caller's abort and runaway output, each of which
   * SIGKILLs the task through containerd.
   */
  private async watch(spec: SandboxSpec, argv: string[], nonce: string, opts: RunOptions, log: Logger, t0: number): Promise<Watched> {
    let tStart = 0;
    let tStreamsEnd = 0;
    const stdout = new CappedCapture(spec.resources.outputBytes);
    const stderr = new CappedCapture(spec.resources.outputBytes);
    let timedOut = false;
    let outputLimitHit = false;
    let aborted = false;
    let killRequested = false;

    // The program's stdin is a file in the sandbox (see writeStdin), never ctr's.
    const proc = spawnStreaming(this.d.ctrPath, argv);
    log.debug({ argv }, 'ctr');

    let killLoop: NodeJS.Timeout | undefined;
    const killSandbox = (why: string) => {
      if (killRequested) return;
      killRequested = true;
      log.info({ why }, 'killing sandbox');
      const started = performance.now();
      // The task may not exist yet (still being created): keep trying until ctr returns.
      const attempt = () => {
        this.d.ctr.killTask(spec.id).catch((err: unknown) => log.warn({ err }, 'kill failed'));
        if (performance.now() - started > KILL_GRACE_MS) {
          log.warn('ctr did not return after kill; ending the client and force-deleting');
          proc.kill('SIGKILL');
          return;
        }
        killLoop = setTimeout(attempt, 250);
      };
      attempt();
    };

    const limit = spec.resources.outputBytes * OUTPUT_KILL_FACTOR + 1024 * 1024;
    const watchOutput = () => {
      if (!outputLimitHit && (stdout.totalBytes > limit || stderr.totalBytes > limit)) {
        outputLimitHit = true;
        killSandbox('output far past its cap');
      }
    };
    const gate = new MarkerGate(
      nonce,
      () => {
        tStart = performance.now();
      },
      (c) => {
        stdout.write(c);
        opts.onOutput?.('stdout', c);
        watchOutput();
      },
    );
    const streamEnd = (st: NodeJS.ReadableStream) =>
      new Promise<void>((resolve) => {
        st.once('end', resolve);
        st.once('close', resolve);
        st.once('error', () => resolve());
      });
    proc.stdout.on('data', (c: Buffer) => gate.write(c));
    proc.stderr.on('data', (c: Buffer) => {
      stderr.write(c);
      opts.onOutput?.('stderr', c);
      watchOutput();
    });
    const streamsDone = Promise.all([streamEnd(proc.stdout), streamEnd(proc.stderr)]).then(() => {
      tStreamsEnd = performance.now();
    });

    const deadline = setTimeout(() => {
      timedOut = true;
      killSandbox('timeout');
    }, spec.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killSandbox('aborted by the caller');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();

    const exit = await proc.done;
    await streamsDone;
    gate.end();
    const tDone = performance.now();
    clearTimeout(deadline);
    clearTimeout(killLoop);
    opts.signal?.removeEventListener('abort', onAbort);

    if (exit.spawnError) throw new VmCreationFailedError('the ctr client could not be started', { cause: exit.spawnError });
    const errOut = stderr.result();
    const ctrLine = lastCtrLine(errOut.data.toString('utf8'));
    // ctr deleted what it made itself when it returned an exit status without an error
    // line of its own.
    const needsForceDelete = exit.exitCode === null || ctrLine !== null || killRequested;

    if (!gate.seen && !timedOut && !aborted) {
      throw this.creationError(errOut.data.toString('utf8'), exit.exitCode);
    }
    if (gate.seen && ctrLine !== null && exit.exitCode === 1 && classifyCtrError(ctrLine) === 'daemon_unavailable') {
      // ctr lost containerd mid-run; a program that merely printed such a line is not
      // misread, because containerd must really be unreachable now.
      const reachable = await this.d.ctr.version().then(
        () => true,
        () => false,
      );
      if (!reachable) throw new DaemonUnavailableError('containerd went away while the program ran', { cause: ctrLine });
    }

    const exitCode = exit.exitCode;
    const signal = signalFromExitStatus(exitCode);
    // A failure we did not cause: the OOM reports (containerd's event, the kernel's log) say
    // whether the OOM killer was in it. Exits of 128 and more wait a little for a report
    // (gVisor's whole sandbox dying under an exec answers 128); plain errors do not wait.
    const oomKilled =
      gate.seen && exitCode !== null && exitCode !== 0 && !killRequested && this.d.events !== null
        ? await this.d.events.sawOom(spec.id, exitCode >= 128 ? OOM_EVENT_WAIT_MS : 0)
        : false;
    const tEnd = tStreamsEnd || tDone;
    return {
      needsForceDelete,
      tEnd,
      result: {
        exitCode: !gate.seen ? null : exitCode,
        signal,
        stdout: stdout.result(),
        stderr: errOut,
        timedOut,
        oomKilled,
        outputLimitHit,
        timing: {
          setupMs: ms(t0, tStart || tDone),
          runMs: tStart ? ms(tStart, tEnd) : 0,
          teardownMs: 0,
        },
      },
    };
  }

  /** Builds the ctr argv (and writes the OCI spec file in config mode). */
  private async buildArgv(spec: SandboxSpec, dir: ExecutionDir, rootfs: string, command: string[], o: { detach?: boolean } = {}): Promise<string[]> {
    const rt = this.d.runtime;
    const seccomp = spec.security.seccompProfile === 'unconfined' ? null : await this.d.seccomp.profile(spec.security.seccompProfile);
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

  private creationError(stderr: string, exitCode: number | null): Error {
    const line = lastCtrLine(stderr);
    const kind = classifyCtrError(line ?? stderr);
    const cause = line ?? `ctr exited ${exitCode} without starting the program`;
    if (line === null && exitCode === 0) return new LostOutputError(cause);
    if (kind === 'daemon_unavailable') return new DaemonUnavailableError(undefined, { cause });
    if (kind === 'runtime_not_installed') {
      if (this.d.runtime.kind === 'kata') return new KataNotAvailableError('the Kata shim is not installed where containerd looks for it', { cause });
      return new VmCreationFailedError(`the ${this.d.runtime.kind} runtime is not installed where containerd looks for it`, { cause });
    }
    return new VmCreationFailedError(undefined, { cause });
  }

  private async teardown(id: string, dir: ExecutionDir, overlayMounted: boolean, forceDelete: boolean, log: Logger): Promise<void> {
    if (forceDelete) {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await this.d.ctr.removeContainer(id);
          break;
        } catch (err) {
          if (err instanceof CtrError && err.kind === 'daemon_unavailable') {
            log.warn({ err }, 'containerd unreachable during teardown; the sandbox is swept when it is back');
            this.orphans.add(id);
            break;
          }
          log.warn({ err, attempt }, 'force-delete failed; retrying');
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        }
      }
    }
    this.d.events?.forget(id);
    if (overlayMounted) {
      for (const m of [dir.overlay.merged, dir.overlay.scratch]) await umount(m).catch((err: unknown) => log.error({ err, m }, 'umount failed'));
    }
    await removeExecutionDir(dir).catch((err: unknown) => log.error({ err }, 'removing the work directory failed'));
  }
}
