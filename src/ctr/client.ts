/**
 * A thin client over the ctr CLI for the short commands: argv from argv.ts, a process
 * from exec.ts, output through parse.ts. Failures become CtrError with a classification.
 */
import {
  containerInfoArgv,
  containerLabelArgv,
  listTasksArgv,
  createSeccompProbeArgv,
  deleteContainerArgv,
  deleteTaskArgv,
  killTaskArgv,
  listContainersArgv,
  listImagesArgv,
  mountImageArgv,
  unmountImageArgv,
  versionArgv,
  type CtrTarget,
} from './argv.js';
import { runCommand, type CommandResult } from './exec.js';
import { inMountNamespaceArgv } from './host.js';
import { classifyCtrError, lastCtrLine, parseIdList, parseImageList, parseTaskList, type CtrFailure, type ImageRow, type TaskRow } from './parse.js';
import { CtrError } from '../errors.js';

/** A CtrError whose message carries ctr's own error line. */
function ctrError(kind: CtrFailure, argv: readonly string[], stderr: string): CtrError {
  return new CtrError(kind, argv, stderr, lastCtrLine(stderr));
}

/** How a sandbox is deleted: bounded in attempts, in each command's time and in all. */
export const TEARDOWN_POLICY = {
  /** Plain `ctr tasks delete` attempts before the forced one. */
  attempts: 20,
  delayMs: 50,
  commandTimeoutMs: 10_000,
  /** Past this, no more plain attempts: force-delete at once. */
  totalMs: 30_000,
};

/** The one way this client runs ctr: runCommand, or a fake in the unit tests. */
export type CommandRunner = (file: string, args: readonly string[], opts: { timeoutMs?: number }) => Promise<CommandResult>;

export class CtrClient {
  constructor(
    readonly ctrPath: string,
    readonly target: CtrTarget,
    private readonly exec: CommandRunner = runCommand,
  ) {}

  /** nsPid: run ctr in that process's mount namespace (nsenter), where a mount it makes must be. */
  private async run(argv: string[], timeoutMs = 20_000, nsPid: number | null = null): Promise<CommandResult> {
    const [file, ...args] = inMountNamespaceArgv(nsPid, [this.ctrPath, ...argv]);
    const r = await this.exec(file!, args, { timeoutMs });
    if (r.spawnError) throw ctrError('other', argv, `cannot run ${this.ctrPath}: ${r.spawnError}`);
    if (r.timedOut) throw ctrError('daemon_unavailable', argv, 'ctr: timed out');
    if (r.exitCode !== 0) throw ctrError(classifyCtrError(r.stderr), argv, r.stderr);
    return r;
  }

  /** Resolves when containerd answers; throws CtrError('daemon_unavailable') otherwise. */
  async version(): Promise<string> {
    const r = await this.run(versionArgv(this.target), 6000);
    const m = /Server:\s*\n\s*Version:\s*(\S+)/.exec(r.stdout);
    if (!m) throw ctrError('daemon_unavailable', versionArgv(this.target), r.stdout + r.stderr);
    return m[1]!;
  }

  async listContainers(label?: { key: string; value: string }): Promise<string[]> {
    return parseIdList((await this.run(listContainersArgv(this.target, label))).stdout);
  }

  async findImage(ref: string): Promise<ImageRow | null> {
    const rows = parseImageList((await this.run(listImagesArgv(this.target, ref))).stdout);
    return rows.find((r) => r.ref === ref) ?? null;
  }

  /** ctr mounts in its own process: nsPid puts the mount in containerd's namespace (host/containerd-ns.ts). */
  async mountImage(ref: string, target: string, nsPid: number | null = null): Promise<void> {
    await this.run(mountImageArgv(this.target, ref, target), 120_000, nsPid);
  }

  async unmountImage(target: string, nsPid: number | null = null): Promise<void> {
    await this.run(unmountImageArgv(this.target, target), 20_000, nsPid);
  }

  /** Runs a `ctr run --detach` argv: resolves once the task started. */
  async runDetached(argv: string[]): Promise<void> {
    await this.run(argv, 60_000);
  }

  /**
   * SIGKILL to every process of the task. A task that is already gone, or a sandbox that
   * already stopped (runsc: "sandbox is not running"), is not an error.
   */
  async killTask(id: string): Promise<void> {
    try {
      await this.run(killTaskArgv(this.target, id));
    } catch (err) {
      if (err instanceof CtrError && (err.kind === 'not_found' || /is not running|already finished/i.test(err.stderr))) return;
      throw err;
    }
  }

  /**
   * Deletes the task, then the container; each step tolerates "not found". A task that
   * has stopped is deleted plainly; one still running is SIGKILLed, given a moment to stop,
   * and only then force-deleted.
   */
  async removeContainer(id: string, policy = TEARDOWN_POLICY): Promise<void> {
    const tolerate = (err: unknown) => {
      if (!(err instanceof CtrError && err.kind === 'not_found')) throw err;
    };
    const giveUpAt = Date.now() + policy.totalMs;
    let deleted = false;
    for (let i = 0; i < policy.attempts && !deleted && Date.now() < giveUpAt; i++) {
      try {
        await this.run(deleteTaskArgv(this.target, id, false), policy.commandTimeoutMs);
        deleted = true;
      } catch (err) {
        if (err instanceof CtrError && err.kind === 'not_found') deleted = true;
        else if (err instanceof CtrError && err.kind === 'daemon_unavailable') throw err;
        else {
          if (i === 0) await this.killTask(id);
          await new Promise((r) => setTimeout(r, policy.delayMs));
        }
      }
    }
    if (!deleted) await this.run(deleteTaskArgv(this.target, id, true), policy.commandTimeoutMs).catch(tolerate);
    await this.run(deleteContainerArgv(this.target, id), policy.commandTimeoutMs).catch(tolerate);
  }

  /** A container's labels (`ctr containers info`). */
  async containerLabels(id: string): Promise<Record<string, string>> {
    const info = JSON.parse((await this.run(containerInfoArgv(this.target, id))).stdout) as { Labels?: Record<string, string> | null };
    return info.Labels ?? {};
  }

  async setLabels(id: string, labels: Record<string, string>): Promise<void> {
    await this.run(containerLabelArgv(this.target, id, labels));
  }

  async listTasks(): Promise<TaskRow[]> {
    return parseTaskList((await this.run(listTasksArgv(this.target))).stdout);
  }

  /** containerd's default seccomp profile, as `ctr run --seccomp` would apply it. */
  async defaultSeccompProfile(image: string, probeId: string, labels: Record<string, string>): Promise<unknown> {
    await this.run(createSeccompProbeArgv(this.target, image, probeId, labels), 60_000);
    try {
      const info = JSON.parse((await this.run(containerInfoArgv(this.target, probeId))).stdout) as {
        Spec?: { linux?: { seccomp?: unknown } };
      };
      const profile = info.Spec?.linux?.seccomp;
      if (!profile) throw ctrError('other', containerInfoArgv(this.target, probeId), 'ctr: the probe container has no seccomp profile');
      return profile;
    } finally {
      await this.removeContainer(probeId);
    }
  }
}
