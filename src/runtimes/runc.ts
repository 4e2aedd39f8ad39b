/**
 * runc: a plain container through containerd's runc shim. The weakest isolation (the host
 * kernel, namespaces, cgroups, seccomp), so `auto` never picks it: it runs only when named.
 */
import { RuntimeUnavailableError } from '../errors.js';
import { limitsOfLaunch, RUNC_SHIM_RUNTIME, shimBinary, type RuntimeDriver } from './driver.js';

const SHIM = shimBinary(RUNC_SHIM_RUNTIME);

export const runcDriver: RuntimeDriver = {
  kind: 'runc',
  isolation: 'container',
  auto: false,
  shimExitGraceMs: 2_000,
  shims: [SHIM],
  target: () => ({
    kind: 'runc',
    ociRuntime: RUNC_SHIM_RUNTIME,
    runcBinary: null,
    runtimeConfigPath: null,
    snapshotter: null,
    hypervisor: null,
    launch: 'config',
  }),
  missing: (_s, host) => (host.runcPath && host.shims.includes(SHIM) ? null : 'runc is not available: apt-get install runc containerd'),
  unavailable: (message) => new RuntimeUnavailableError(message),
  pidLimits: (pids) => ({ pids, nproc: 0 }),
  pidsBackstop: false,
  annotations: () => ({}),
  limitsEnforced: limitsOfLaunch,
  catalogRow: (_s, host, active) => ({
    kind: 'runc',
    isolation: 'container',
    installed: host.runcPath !== null && host.shims.includes(SHIM),
    active: active.kind === 'runc',
    ociRuntime: RUNC_SHIM_RUNTIME,
    hypervisors: [],
  }),
  health: (target, host) =>
    host.shims.includes(SHIM) ? { ok: true, detail: `runc (${target.ociRuntime}) is installed` } : { ok: false, detail: `${SHIM} is not installed` },
};
