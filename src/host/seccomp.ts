/**
 * Seccomp profiles. Both derive from containerd's own default profile (the one
 * `ctr run --seccomp` applies), read from containerd once at start rather than copied
 * here, by taking syscalls out of its allow rules: `default` loses io_uring (a host
 * kernel interface with a long record of privilege escalations, which Docker's and
 * containerd's newer profiles drop too), `strict` (hardened) loses much more.
 */
import type { OciSeccomp } from '../ctr/oci-spec.js';

/** Allowed by containerd's profile (1.6), denied in every profile of ours. */
export const DEFAULT_EXTRA_DENY = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'];

/** Allowed by the default profile, denied in hardened: debugging, tracing, kernel-facing. */
export const STRICT_EXTRA_DENY = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'personality',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'unshare',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'mknod',
  'mknodat',
  'name_to_handle_at',
  'open_by_handle_at',
  'kcmp',
  'syslog',
  'acct',
  'quotactl',
  'lookup_dcookie',
  'fanotify_init',
  'memfd_secret',
];

export function deriveDefaultProfile(base: OciSeccomp): OciSeccomp {
  return withoutTraceme(withoutAllowed(base, DEFAULT_EXTRA_DENY));
}

const PTRACE_TRACEME = 0;

/**
 * ptrace stays allowed (debuggers within the sandbox) but for PTRACE_TRACEME: it makes
 * the program's parent its tracer, and that parent is ours (the runtime's shim on the cold
 * path, the start wrapper on the warm one), which cannot handle a tracee's stops: a program
 * that then signalled itself was reported as having exited 0, or as a ctr failure.
 */
function withoutTraceme(p: OciSeccomp): OciSeccomp {
  const allowsPtrace = (p.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args?.length && r.names.includes('ptrace'));
  if (!allowsPtrace) return p;
  const syscalls = withoutAllowed(p, ['ptrace']).syscalls ?? [];
  return {
    ...p,
    syscalls: [...syscalls, { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: PTRACE_TRACEME, op: 'SCMP_CMP_NE' }] }],
  };
}

export function deriveStrictProfile(base: OciSeccomp): OciSeccomp {
  return withoutAllowed(base, [...DEFAULT_EXTRA_DENY, ...STRICT_EXTRA_DENY]);
}

function withoutAllowed(base: OciSeccomp, names: readonly string[]): OciSeccomp {
  const deny = new Set(names);
  const syscalls = (base.syscalls ?? [])
    .map((rule) => (rule.action === 'SCMP_ACT_ALLOW' ? { ...rule, names: rule.names.filter((n) => !deny.has(n)) } : rule))
    .filter((rule) => rule.names.length > 0);
  return { ...base, syscalls };
}

export function isSeccompProfile(v: unknown): v is OciSeccomp {
  return typeof v === 'object' && v !== null && typeof (v as OciSeccomp).defaultAction === 'string';
}

