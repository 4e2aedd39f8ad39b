/**
 * gVisor: runsc behind containerd's runc shim (--runc-binary), wrapped so that it always
 * runs with --network=none. Its spec rule: the pids limit becomes RLIMIT_NPROC, with the
 * cgroup as a backstop above it.
 */
import { chmod, writeFile } from 'node:fs/promises';
import type { OciSeccomp } from '../ctr/oci-spec.js';
import { RuntimeUnavailableError } from '../errors.js';
import { limitsOfLaunch, RUNC_SHIM_RUNTIME, shimBinary, type RuntimeDriver } from './driver.js';

const SHIM = shimBinary(RUNC_SHIM_RUNTIME);

/**
 * The pids cgroup holds the Sentry and its gofer, whose own Go threads count, and the
 * Sentry dies (exit 2, no output) when it cannot make one. So the user's limit is
 * RLIMIT_NPROC, which gVisor's kernel enforces per sandbox ("Cannot fork"), and the cgroup
 * is only a host-side backstop above it. Under the ptrace platform every process of the
 * sandbox costs host threads (its address space's stub, traced by Sentry threads): a
 * Python fork bomb held at 16 and 32 processes peaked at 417 and 779 host pids (~24 per
 * process; `test/hostile/processes.test.ts`). A backstop of 512 in all killed the Sentry
 * of every such bomb (sandbox_error); this one leaves it room for every process it may have.
 * A C fork bomb still gets past it (a dying process's host threads linger), and one that
 * never does would be 256 per process, half of a default pid_max for one sandbox: so a
 * sandbox that ends at the backstop is told by the host (sandbox/pids-limit.ts) and
 * answered as the program's pids limit, never as the sandbox failing.
 */
export const GVISOR_PIDS_HEADROOM = 512;
/** Host pids the backstop allows per process of the user's limit (measured ~24). */
export const GVISOR_HOST_PIDS_PER_PROCESS = 32;

export function gvisorPidsBackstop(pids: number): number {
  return pids > 0 ? GVISOR_PIDS_HEADROOM + GVISOR_HOST_PIDS_PER_PROCESS * pids : 0;
}

export function runscWrapperScript(runscPath: string): string {
  // runsc refuses a network in the root network namespace. --oci-seccomp: the spec's
  // filter is loaded inside the sandbox, on the Sentry's syscall table (seccompForGvisor).
  return `#!/bin/sh\nexec '${runscPath.replaceAll("'", "'\\''")}' --network=none --oci-seccomp "$@"\n`;
}

/**
 * The filter as gVisor's Sentry must get it. containerd's profile answers clone3 with
 * ENOSYS so that glibc falls back to clone, whose flags the profile can check; runsc
 * 2022-12 does not honour that errnoRet and answers EPERM, on which glibc gives up, so no
 * thread can start (python, node). This Sentry does not implement clone3 (its own answer
 * is ENOSYS), so letting the call through to it gives the same fallback.
 */
export function seccompForGvisor(p: OciSeccomp): OciSeccomp {
  const syscalls = (p.syscalls ?? [])
    .map((rule) => (rule.action === 'SCMP_ACT_ALLOW' ? rule : { ...rule, names: rule.names.filter((n) => n !== 'clone3') }))
    .filter((rule) => rule.names.length > 0);
  return { ...p, syscalls: [...syscalls, { names: ['clone3'], action: 'SCMP_ACT_ALLOW' }] };
}

export const gvisorDriver: RuntimeDriver = {
  kind: 'gvisor',
  isolation: 'gvisor',
  auto: true,
  shimExitGraceMs: 2_000,
  shims: [SHIM],
  target: (s) => ({
    kind: 'gvisor',
    ociRuntime: RUNC_SHIM_RUNTIME,
    runcBinary: s.runscWrapperPath,
    runtimeConfigPath: null,
    snapshotter: null,
    hypervisor: null,
    launch: 'config',
  }),
  missing: (_s, host) =>
    host.runscPath && host.shims.includes(SHIM) ? null : 'gVisor is not available: install runsc and containerd-shim-runc-v2 (apt-get install runsc containerd)',
  unavailable: (message) => new RuntimeUnavailableError(message),
  async prepareHost(s, host) {
    await writeFile(s.runscWrapperPath, runscWrapperScript(host.runscPath ?? s.runscPath), { mode: 0o755 });
    await chmod(s.runscWrapperPath, 0o755);
  },
  pidLimits: (pids) => ({ pids: gvisorPidsBackstop(pids), nproc: pids }),
  pidsBackstop: true,
  annotations: () => ({}),
  limitsEnforced: limitsOfLaunch,
  seccomp: seccompForGvisor,
  catalogRow: (_s, host, active) => ({
    kind: 'gvisor',
    isolation: 'gvisor',
    installed: host.runscPath !== null && host.shims.includes(SHIM),
    active: active.kind === 'gvisor',
    ociRuntime: RUNC_SHIM_RUNTIME,
    hypervisors: [],
  }),
  health: (target, host) => {
    if (!host.shims.includes(SHIM)) return { ok: false, detail: `${SHIM} is not installed` };
    if (host.runscPath === null) return { ok: false, detail: 'runsc is not installed' };
    return { ok: true, detail: `gvisor (${target.ociRuntime}) is installed` };
  },
};
