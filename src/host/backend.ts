/**
 * Wires the real ctr backend from the configuration: finds containerd and the runtime,
 * writes the gVisor wrapper, reconciles leftovers, and returns the runner and its health
 * checker. Fails fast, with what to do, when the host cannot run sandboxes.
 */
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { privateContainerdSocket, SYSTEM_CONTAINERD_SOCKET, type Config } from '../config.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import { CtrClient } from '../ctr/client.js';
import { ContainerdEvents, KernelLogWatch } from '../ctr/events.js';
import type { OciSeccomp } from '../ctr/oci-spec.js';
import { DaemonUnavailableError } from '../errors.js';
import { CtrSandboxRunner, type SeccompProvider } from '../sandbox/ctr-runner.js';
import { PidsCgroupWatcher } from '../sandbox/pids-limit.js';
import { CtrSessionRunner } from '../sandbox/session-runner.js';
import { findPidsHierarchy, pidsEventsReader } from './cgroups.js';
import { detectHostRuntimes, type HostDetector } from './detect.js';
import { LABEL_MANAGED } from '../execution/executor.js';
import { CtrHealthChecker } from './health.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { RootfsImageResolver } from './rootfs.js';
import { driverFor, resolveRuntime } from '../runtimes/registry.js';
import { runtimeSettingsOf } from './runtime-settings.js';
import { readKataConfig } from './kata-config.js';
import { ContainerdMountNamespace } from './containerd-ns.js';
import { deriveDefaultProfile, deriveStrictProfile, isSeccompProfile } from './seccomp.js';
import type { Logger } from '../sandbox/types.js';

export interface CtrBackend {
  runtime: RuntimeTarget;
  runner: CtrSandboxRunner;
  /** Sessions' sandboxes: made by the same runner's preparation, kept across calls. */
  sessionRunner: CtrSessionRunner;
  health: CtrHealthChecker;
  ctr: CtrClient;
  images: RootfsImageResolver;
  address: string;
  reconciled: ReconcileReport;
  /** What the host has now, looked up where the backend looked at start. */
  detect: HostDetector;
  close(): Promise<void>;
}

/** `auto`: the system socket when containerd answers there, else our private one. */
export async function resolveContainerdAddress(config: Config): Promise<string> {
  if (config.containerdAddress !== 'auto') return config.containerdAddress;
  const system = new CtrClient(config.ctrPath, { address: SYSTEM_CONTAINERD_SOCKET, namespace: config.namespace });
  try {
    await system.version();
    return SYSTEM_CONTAINERD_SOCKET;
  } catch {
    return privateContainerdSocket(config.runDir);
  }
}

class CtrSeccompProvider implements SeccompProvider {
  private base: Promise<OciSeccomp> | null = null;

  constructor(
    private readonly ctr: CtrClient,
    private readonly image: string,
  ) {}

  async profile(kind: 'default' | 'strict'): Promise<OciSeccomp> {
    if (!this.base) {
      const id = `kx-seccomp-probe-${randomBytes(4).toString('hex')}`;
      this.base = this.ctr.defaultSeccompProfile(this.image, id, { [LABEL_MANAGED]: 'true' }).then((p) => {
        if (!isSeccompProfile(p)) throw new Error('containerd returned no usable seccomp profile');
        return p;
      });
      this.base.catch(() => {
        this.base = null;
      });
    }
    const base = await this.base;
    return kind === 'strict' ? deriveStrictProfile(base) : deriveDefaultProfile(base);
  }
}

export interface BackendOptions {
  /** Where to look for the runtimes' binaries (':'-separated); the process's PATH by default. */
  searchPath?: string;
}

export async function createCtrBackend(config: Config, logger: Logger, opts: BackendOptions = {}): Promise<CtrBackend> {
  const address = await resolveContainerdAddress(config);
  // Before anything is reconciled, deleted or mounted: what this instance touches is its own.
  const lock = await acquireInstanceLock({ address, namespace: config.namespace, runDir: config.runDir });
  try {
    return await createLockedBackend(config, logger, address, lock, opts);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function createLockedBackend(config: Config, logger: Logger, address: string, lock: InstanceLock, opts: BackendOptions): Promise<CtrBackend> {
  const target = { address, namespace: config.namespace };
  const ctr = new CtrClient(config.ctrPath, target);
  try {
    await ctr.version();
  } catch (err) {
    throw new DaemonUnavailableError(
      `containerd does not answer at ${address}: start it (npm run setup starts a private one) or set KATA_EXEC_CONTAINERD_ADDRESS`,
      { cause: err },
    );
  }

  const binDir = path.join(config.runDir, 'bin');
  const workDir = path.join(config.runDir, 'work');
  const rootfsDir = path.join(config.runDir, 'rootfs');
  await Promise.all([binDir, workDir, rootfsDir].map((d) => mkdir(d, { recursive: true, mode: 0o711 })));
  const detect: HostDetector = () => detectHostRuntimes({ runscPath: config.runscPath, ...(opts.searchPath !== undefined ? { searchPath: opts.searchPath } : {}) });
  const host = await detect();
  // Whether a Kata guest applies seccomp is read from the configuration its shim uses.
  const kataConfig = config.runtime === 'runc' || config.runtime === 'gvisor' ? null : await readKataConfig(config.kataConfigPath, address);
  const settings = runtimeSettingsOf(config, host, kataConfig);
  const runtime = resolveRuntime(settings, host);
  await driverFor(runtime.kind).prepareHost?.(settings, host);

  // Kata 1.x's shim finds the sandbox's mounts only in containerd's mount namespace.
  const mountNs = await new ContainerdMountNamespace(address).init();
  const reconciled = await reconcile(ctr, workDir, logger, driverFor(runtime.kind), mountNs);
  const images = new RootfsImageResolver(ctr, rootfsDir, mountNs);
  const seccomp = new CtrSeccompProvider(ctr, config.image);
  // Read containerd's default seccomp profile now, not on the first request; a failure
  // here (no image yet) is retried by the first execution.
  await seccomp.profile('default').catch((err: unknown) => logger.warn({ err }, 'seccomp profile not read yet'));
  const events = new ContainerdEvents(config.ctrPath, target, (err) => logger.warn({ err }, 'containerd event stream'));
  events.start();
  // A sandbox that its pids cgroup ended (gVisor's backstop) is told by its pids.events and
  // the kernel's report; each is the host's, never the sandbox's (sandbox/pids-limit.ts).
  const pidsHierarchy = await findPidsHierarchy();
  if (pidsHierarchy === null) logger.warn('no pids cgroup hierarchy found in /proc/self/mountinfo: only the kernel log tells a sandbox that its pids cgroup ended');
  const pids = new PidsCgroupWatcher(pidsEventsReader(pidsHierarchy, config.namespace));
  const kernelLog = new KernelLogWatch(
    config.namespace,
    { oom: (id) => events.noteOom(id), pidsRefused: (id) => pids.noteKernelReport(id) },
    (err) => logger.warn({ err }, 'kernel reports (OOM kills, refused forks)'),
  );
  kernelLog.start();
  const runnerDeps = { ctr, ctrPath: config.ctrPath, target, runtime, images, seccomp, workDir, logger, events, pids, mountNs };
  const runner = new CtrSandboxRunner(runnerDeps);
  const sessionRunner = new CtrSessionRunner(runnerDeps, runner);
  // Sandboxes that could not be deleted while containerd was away are deleted when it is back.
  const sweeper = setInterval(() => {
    if (runner.orphanCount > 0) void runner.sweepOrphans();
  }, 5000);
  sweeper.unref();
  const health = new CtrHealthChecker(ctr, runtime, images, config.image, detect);
  logger.info({ address, containerdMountNamespace: (await mountNs.pid()) === null ? 'ours' : 'its own (mounts made there)', runtime: runtime.kind, ociRuntime: runtime.ociRuntime, hypervisor: runtime.hypervisor, ...(runtime.kind === 'kata' ? { kataConfig: kataConfig?.file ?? 'not found', guestSeccomp: runtime.guestSeccomp === true } : {}) }, 'sandbox backend ready');

  return {
    runtime,
    runner,
    sessionRunner,
    health,
    ctr,
    images,
    address,
    reconciled,
    detect,
    close: async () => {
      clearInterval(sweeper);
      events.stop();
      kernelLog.stop();
      await runner.drainTeardowns();
      const left = await reconcile(ctr, workDir, logger, driverFor(runtime.kind), mountNs).catch(() => null);
      // Live sessions keep running on the shared rootfs (runc's exec starts in its directory):
      // it stays mounted for the next process, which finds it so.
      if (!left || left.sessions.length === 0) await images.releaseAll();
      await lock.release();
    },
  };
}
